use actix_web::{HttpResponse, web};

use crate::state::AppState;

/// `GET /.well-known/jwks.json`: the current key and any retired key whose
/// tokens may still be live.
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "public, max-age=60"))
        .body(state.keys.snapshot().jwks.clone())
}
