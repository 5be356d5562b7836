//! The caller's second factors (`/auth/mfa…`): what they have, setting up
//! and removing an authenticator app, new recovery codes. The rules are in
//! `second_factors`; answers that carry a key or codes are `no-store`.

use actix_web::{HttpRequest, HttpResponse, web};
use shared::{MfaStatus, NewPasskey, PasskeyOptionsRequest, TotpCode};

use crate::{
    error::ApiError,
    extract::{AuthUser, ClientAuth},
    second_factors,
    sessions::{passkey, second_factor},
    state::AppState,
    throttle::LoginThrottle,
};

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

/// `POST /auth/passkeys/options` `{origin}`: begins registering a passkey.
pub async fn begin_passkey(
    auth: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<PasskeyOptionsRequest>,
) -> Result<HttpResponse, ApiError> {
    Ok(secret(second_factors::begin_passkey(&state, &auth, &body.origin).await?))
}

/// `POST /auth/passkeys`: finishes it; recovery codes with the first factor.
pub async fn register_passkey(
    auth: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<NewPasskey>,
) -> Result<HttpResponse, ApiError> {
    let registered = second_factors::register_passkey(&state, &auth, body.into_inner()).await?;
    Ok(HttpResponse::Created().insert_header(("Cache-Control", "no-store")).json(registered))
}

/// `DELETE /auth/passkeys/{id}`.
pub async fn remove_passkey(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    second_factors::remove_passkey(&state, &auth, &path).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /auth/passkey/options` `{origin, mfa_token?}` (client): begins a
/// sign-in with a passkey, alone or as the second factor of a pending one.
pub async fn begin_passkey_sign_in(
    _client: ClientAuth,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<PasskeyOptionsRequest>,
) -> Result<HttpResponse, ApiError> {
    let challenge = match &body.mfa_token {
        Some(mfa_token) => second_factor::begin_passkey(&state, mfa_token, &body.origin).await?,
        None => {
            // The frontend's word for the browser's address, as for a
            // password grant; else the caller's own.
            let ip = body.ip.as_deref().and_then(|ip| ip.parse().ok());
            let ip = ip.or_else(|| req.peer_addr().map(|a| a.ip()));
            let limiter = LoginThrottle { store: &state.store, settings: state.settings.throttle };
            limiter.begin_ceremony(ip, state.now()).await?;
            passkey::begin(&state, &body.origin).await?
        }
    };
    Ok(secret(challenge))
}

/// A body that must never be cached anywhere.
fn secret(body: impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(body)
}
