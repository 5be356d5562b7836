//! The second step of a sign-in (`/login/verify`), in front of the page's
//! Leptos render. Without this browser's pending sign-in cookie there is
//! nothing to verify: back to `/login`. A `POST` relays the code (or a
//! recovery code) to the auth-api: success is a session (`303` onward, as
//! after a password); a wrong code renders the page again (400) with the
//! cookie kept; an expired or discarded sign-in clears it and starts over.

use actix_web::{
    Error, HttpMessage,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{Method, StatusCode},
    middleware::Next,
    web,
};
use serde::Deserialize;
use shared::TokenRequest;

use super::{
    login::{set_cookie, start_session},
    render_with_notice,
};
use crate::{
    app::types::{FormNotice, PendingView},
    auth_client::{AuthClient, AuthError},
    session::guard::see_other,
    state::FrontendState,
};

pub const PATH: &str = crate::routes::pages::VERIFY;
/// Where an expired (or discarded) pending sign-in sends the browser.
pub const START_OVER: &str = "/login?expired=1";

#[derive(Deserialize)]
struct VerifyForm {
    /// The authenticator app's code.
    code: Option<String>,
    /// Or one of the recovery codes.
    recovery_code: Option<String>,
    /// "Cancel and start over": this browser forgets the pending sign-in.
    cancel: Option<String>,
}

pub async fn handle_verify(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let state =
        req.app_data::<web::Data<FrontendState>>().cloned().expect("FrontendState is registered");
    let Some(pending) = state.codec.pending_sign_in(req.headers(), state.now()) else {
        // Expired, never started, or another browser's link: nothing here.
        let mut answer =
            see_other(if req.method() == Method::POST { START_OVER } else { "/login" });
        set_cookie(&mut answer, &state.codec.clear_pending());
        return Ok(req.into_response(answer));
    };
    req.extensions_mut().insert(PendingView {
        username: pending.username.clone(),
        factors: pending.factors.clone(),
    });
    if req.method() != Method::POST {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    }
    let client =
        req.app_data::<web::Data<AuthClient>>().cloned().expect("AuthClient is registered");
    let form = match req.extract::<web::Form<VerifyForm>>().await {
        Ok(form) => form.into_inner(),
        Err(_) => return entered_nothing(req, next).await,
    };
    if form.cancel.is_some() {
        // Without the cookie nothing can finish it; the auth-api's record
        // of it expires within five minutes.
        let mut answer = see_other("/login");
        set_cookie(&mut answer, &state.codec.clear_pending());
        return Ok(req.into_response(answer));
    }
    let filled =
        |field: Option<String>| field.map(|f| f.trim().to_owned()).filter(|f| !f.is_empty());
    let mfa_token = pending.mfa_token.clone();
    let grant = match (filled(form.code), filled(form.recovery_code)) {
        (_, Some(recovery_code)) => TokenRequest::MfaRecoveryCode { mfa_token, recovery_code },
        (Some(otp), None) => TokenRequest::MfaOtp { mfa_token, otp },
        (None, None) => return entered_nothing(req, next).await,
    };
    match client.second_factor_grant(grant).await {
        Ok(tokens) => {
            let mut answer = start_session(req, &state, &client, &tokens, &pending.next);
            if let Ok(clear) = state.codec.clear_pending().parse() {
                answer.headers_mut().append(actix_web::http::header::SET_COOKIE, clear);
            }
            Ok(answer)
        }
        Err(AuthError::InvalidGrant) => {
            let notice = FormNotice::error(
                "That code did not work. Check the time on your phone, wait for the next code, \
                 and try again.",
            );
            render_with_notice(req, next, notice, StatusCode::BAD_REQUEST, None).await
        }
        Err(AuthError::ExpiredToken) => {
            let mut answer = see_other(START_OVER);
            set_cookie(&mut answer, &state.codec.clear_pending());
            Ok(req.into_response(answer))
        }
        Err(AuthError::RateLimited(seconds)) => {
            let notice =
                FormNotice::error(format!("Too many attempts — try again in {seconds} seconds."));
            render_with_notice(req, next, notice, StatusCode::TOO_MANY_REQUESTS, Some(seconds))
                .await
        }
        Err(e) => super::unavailable(req, next, e, "Signing in").await,
    }
}

async fn entered_nothing(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let notice = FormNotice::error("Enter the code from your authenticator app.");
    render_with_notice(req, next, notice, StatusCode::BAD_REQUEST, None).await
}
