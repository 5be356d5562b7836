//! The change-password form's POST (`/account/password`), answered before
//! the page renders, like the sign-in form: success is a `303` back to the
//! page saying so; failure renders the page again with the reason.
//!
//! The auth-api checks the current password (throttled like a sign-in), the
//! policy, and ends every other session of the user; this browser's session
//! continues, so its cookie does not change.

use actix_web::{
    Error, HttpMessage,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{Method, StatusCode},
    middleware::Next,
    web,
};
use serde::Deserialize;

use crate::{
    app::types::FormNotice,
    auth_client::{AuthClient, AuthError},
    forms::render_with_notice,
    session::{AuthState, CookieSlot, CookieUpdate, guard::see_other},
};

/// Where the page lives, and where success lands.
pub const PATH: &str = "/account/password";
pub const CHANGED: &str = "/account/password?changed=1";

#[derive(Deserialize)]
struct PasswordForm {
    current_password: String,
    new_password: String,
}

pub async fn handle_password_change(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if req.method() != Method::POST {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    }
    let client =
        req.app_data::<web::Data<AuthClient>>().cloned().expect("AuthClient is registered");
    // The guard has already sent the signed-out to sign in (this is a
    // protected path); only a signed-in request gets here.
    let signed_in = match req.extensions().get::<AuthState>() {
        Some(AuthState::SignedIn(s)) => Some(s.clone()),
        _ => None,
    };
    let Some(signed_in) = signed_in else {
        return Ok(req.into_response(see_other("/login?next=/account/password")));
    };
    let form = match req.extract::<web::Form<PasswordForm>>().await {
        Ok(form) => form.into_inner(),
        Err(_) => {
            let notice = FormNotice::error("The form was incomplete. Please fill in both fields.");
            return render_with_notice(req, next, notice, StatusCode::BAD_REQUEST, None).await;
        }
    };
    if form.current_password.is_empty() {
        let notice = FormNotice::error("Enter your current password.");
        return render_with_notice(req, next, notice, StatusCode::BAD_REQUEST, None).await;
    }
    let token = &signed_in.access_token;
    let (status, message, retry_after) = match client
        .change_password(token, &form.current_password, &form.new_password)
        .await
    {
        Ok(()) => {
            tracing::info!("password changed; other sessions ended");
            return Ok(req.into_response(see_other(CHANGED)));
        }
        Err(AuthError::WrongPassword) => (
            StatusCode::FORBIDDEN,
            "Your current password is not correct. Nothing was changed.".to_owned(),
            None,
        ),
        Err(AuthError::WeakPassword(why)) => (StatusCode::BAD_REQUEST, why, None),
        Err(AuthError::RateLimited(seconds)) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many attempts — try again in {seconds} seconds."),
            Some(seconds),
        ),
        Err(AuthError::InvalidToken | AuthError::InvalidGrant) => {
            // The session ended meanwhile: sign in again, then come back.
            if let Some(slot) = req.extensions().get::<CookieSlot>() {
                slot.set(CookieUpdate::Clear);
            }
            return Ok(req.into_response(see_other("/login?next=/account/password")));
        }
        Err(e) => {
            tracing::warn!(error = %e, "password change could not reach the auth-api");
            (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Changing passwords is unavailable right now. Nothing was changed; please try again shortly."
                        .to_owned(),
                    None,
                )
        }
    };
    render_with_notice(req, next, FormNotice::error(message), status, retry_after).await
}
