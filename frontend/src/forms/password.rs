//! The change-password form's POST (`/account/password`), answered before
//! the page renders, like the sign-in form: success is a `303` back to the
//! page saying so; failure renders the page again with the reason.
//!
//! The auth-api checks the current password (throttled like a sign-in), the
//! policy, and ends every other session of the user; this browser's session
//! continues, so its cookie does not change.

use actix_web::{
    Error,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{Method, StatusCode},
    middleware::Next,
};
use serde::Deserialize;

use super::{Posted, read_form, render_with_notice, session_ended, to_sign_in, unavailable};
use crate::{
    app::types::FormNotice,
    auth_client::AuthError,
    session::guard::{refresh_now, see_other},
};

/// Where the page lives, and where success lands.
pub const PATH: &str = crate::routes::pages::PASSWORD;
pub const CHANGED: &str = "/account/password?changed=1";
/// Where a user on a temporary password is sent from every protected page.
pub const REQUIRED: &str = crate::routes::pages::PASSWORD_REQUIRED;

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
    let (client, signed_in, form) = match read_form::<PasswordForm>(&mut req).await {
        Posted::Form { client, session, form } => (client, session, form),
        Posted::SignedOut => return Ok(req.into_response(to_sign_in(PATH))),
        Posted::Incomplete => {
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
            // This session's access token predates the change (its
            // `auth_time`, a temporary-password mark): swap it now, so the
            // next page is judged on the new one. If that fails the guard
            // swaps it on a later request; the change stands.
            if let Err(e) = refresh_now(req.request()).await {
                tracing::warn!(error = %e, "could not refresh the session after a password change");
            }
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
            let to_sign_in = session_ended(&req, PATH);
            return Ok(req.into_response(to_sign_in));
        }
        Err(e) => return unavailable(req, next, e, "Changing passwords").await,
    };
    render_with_notice(req, next, FormNotice::error(message), status, retry_after).await
}
