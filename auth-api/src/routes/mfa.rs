//! The caller's second factors (`/auth/mfa…`): what they have, setting up
//! and removing an authenticator app, new recovery codes. The rules are in
//! `second_factors`; answers that carry a key or codes are `no-store`.

use actix_web::{HttpResponse, web};
use shared::{MfaStatus, TotpCode};

use crate::{error::ApiError, extract::AuthUser, second_factors, state::AppState};

/// `GET /auth/mfa`.
pub async fn status(
    auth: AuthUser,
    state: web::Data<AppState>,
) -> Result<web::Json<MfaStatus>, ApiError> {
    Ok(web::Json(second_factors::status(&state, &auth).await?))
}

/// `POST /auth/mfa/totp`: a key to scan, not yet switched on.
pub async fn begin_totp(
    auth: AuthUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(secret(second_factors::begin_totp(&state, &auth).await?))
}

/// `POST /auth/mfa/totp/confirm`: a current code switches the app on; the
/// answer has the recovery codes, if this is the first factor.
pub async fn confirm_totp(
    auth: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<TotpCode>,
) -> Result<HttpResponse, ApiError> {
    Ok(secret(second_factors::confirm_totp(&state, &auth, &body.code).await?))
}

/// `DELETE /auth/mfa/totp` with a current code: switches the app off.
pub async fn disable_totp(
    auth: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<TotpCode>,
) -> Result<HttpResponse, ApiError> {
    second_factors::disable_totp(&state, &auth, &body.code).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /auth/mfa/recovery-codes`: a new set; the old stops working.
pub async fn regenerate_recovery_codes(
    auth: AuthUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(secret(second_factors::regenerate_recovery_codes(&state, &auth).await?))
}

/// A body that must never be cached anywhere.
fn secret(body: impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(body)
}
