//! Forms that must work without JavaScript and answer with the right status:
//! middleware in front of a page's Leptos render handles the POST. Success
//! answers `303` before anything renders (or, for a new user's temporary
//! password, renders it once); failure lets the same page render with a
//! notice (the page reads it through a server function) under the status
//! that says what went wrong (400, 403, 409, 429, 503).
//!
//! - [`login`]: `POST /login`;
//! - [`password`]: `POST /account/password`;
//! - [`new_user`]: `POST /admin/users`;
//! - [`verify`]: `POST /login/verify`, a sign-in's second step;
//! - [`security`]: `POST /account/security`, second factors.

pub mod login;
pub mod new_user;
pub mod password;
pub mod security;
pub mod verify;

use std::sync::Arc;

use actix_web::{
    Error, HttpMessage, HttpResponse,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{StatusCode, header},
    middleware::Next,
    web,
};
use serde::de::DeserializeOwned;

use crate::{
    app::types::FormNotice,
    auth_client::{AuthClient, AuthError},
    session::{
        AuthState, CookieSlot, CookieUpdate, SignedIn,
        guard::{see_other, sign_in_then},
    },
};

/// Renders the page behind `next` with `notice` in the request's extensions,
/// under `status` (and `Retry-After` when given).
pub async fn render_with_notice<T: Clone + 'static>(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    notice: T,
    status: StatusCode,
    retry_after: Option<u64>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    req.extensions_mut().insert(notice);
    let mut res = next.call(req).await?.map_into_boxed_body();
    *res.response_mut().status_mut() = status;
    if let Some(seconds) = retry_after {
        res.headers_mut().insert(header::RETRY_AFTER, seconds.into());
    }
    Ok(res)
}

/// A signed-in form post, read: the auth-api client, the session, the form.
pub enum Posted<F> {
    Form {
        client: web::Data<AuthClient>,
        session: Arc<SignedIn>,
        form: F,
    },
    /// Not signed in. The guard has already sent the signed-out to sign in
    /// (these are protected paths); callers answer with [`to_sign_in`].
    SignedOut,
    /// The body is not the form: callers render the page with a `400`.
    Incomplete,
}

pub async fn read_form<F: DeserializeOwned + 'static>(req: &mut ServiceRequest) -> Posted<F> {
    let client =
        req.app_data::<web::Data<AuthClient>>().cloned().expect("AuthClient is registered");
    let session = match req.extensions().get::<AuthState>() {
        Some(AuthState::SignedIn(s)) => s.clone(),
        _ => return Posted::SignedOut,
    };
    match req.extract::<web::Form<F>>().await {
        Ok(form) => Posted::Form { client, session, form: form.into_inner() },
        Err(_) => Posted::Incomplete,
    }
}

/// Sign in, then come back to `path`.
pub fn to_sign_in(path: &str) -> HttpResponse {
    see_other(&sign_in_then(path))
}

/// The session ended while the form was being answered: clear the cookie
/// and sign in again, then come back to `path`.
pub fn session_ended(req: &ServiceRequest, path: &str) -> HttpResponse {
    if let Some(slot) = req.extensions().get::<CookieSlot>() {
        slot.set(CookieUpdate::Clear);
    }
    to_sign_in(path)
}

/// The auth-api could not be reached (or answered nonsense): the page again,
/// `503`, saying `what` is unavailable and that nothing changed.
pub async fn unavailable(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    error: AuthError,
    what: &str,
) -> Result<ServiceResponse<BoxBody>, Error> {
    tracing::warn!(error = %error, "{what} could not reach the auth-api");
    let message =
        format!("{what} is unavailable right now. Nothing was changed; please try again shortly.");
    render_with_notice(req, next, FormNotice::error(message), StatusCode::SERVICE_UNAVAILABLE, None)
        .await
}
