use actix_web::{HttpResponse, web};
use shared::RevokeRequest;

use crate::{error::ApiError, extract::ClientAuth, sessions, state::AppState};

/// `POST /auth/revoke` (RFC 7009): always 200, whether or not the token was known,
/// so the answer reveals nothing about which tokens exist.
pub async fn revoke(
    _client: ClientAuth,
    state: web::Data<AppState>,
    body: web::Json<RevokeRequest>,
) -> Result<HttpResponse, ApiError> {
    sessions::revoke_refresh_token(&state, &body.token).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({})))
}
