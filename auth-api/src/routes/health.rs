use actix_web::{HttpResponse, web};

use crate::{error::ApiError, state::AppState};

/// `GET /healthz`: 200 only if the database answers.
pub async fn healthz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.store.ping().await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ok" })))
}
