//! What server functions may know about the request they serve: the guard's
//! decision, the per-worker auth-api client, the pending cookie change.
//! Everything is read from the request, never from the cookie again, except
//! the refresh token at sign-out: decisions are kept in memory across
//! requests (`known`), so they do not hold it.

use actix_web::{HttpMessage, HttpRequest, http::StatusCode, web};
use leptos::prelude::*;
use leptos_actix::{Request, ResponseOptions};

use super::{AuthState, CookieSlot, CookieUpdate};
use crate::{
    app::types::{
        CurrentUser, FormNotice, LoginNotice, NewUserNotice, PendingView, SecurityNotice,
    },
    auth_client::{AuthClient, AuthError},
};

fn request() -> Result<HttpRequest, ServerFnError> {
    use_context::<Request>()
        .map(|r| (*r).clone())
        .ok_or_else(|| ServerFnError::new("no request in context"))
}

fn set_status(status: StatusCode) {
    if let Some(res) = use_context::<ResponseOptions>() {
        res.set_status(status);
    }
}

pub fn auth() -> Result<AuthState, ServerFnError> {
    Ok(request()?.extensions().get::<AuthState>().cloned().unwrap_or(AuthState::SignedOut))
}

pub fn login_notice() -> Option<LoginNotice> {
    request().ok()?.extensions().get::<LoginNotice>().cloned()
}

pub fn form_notice() -> Option<FormNotice> {
    request().ok()?.extensions().get::<FormNotice>().cloned()
}

pub fn new_user_notice() -> Option<NewUserNotice> {
    request().ok()?.extensions().get::<NewUserNotice>().cloned()
}

pub fn security_notice() -> Option<SecurityNotice> {
    request().ok()?.extensions().get::<SecurityNotice>().cloned()
}

pub fn pending_sign_in() -> Option<PendingView> {
    request().ok()?.extensions().get::<PendingView>().cloned()
}

/// A signed-in request, with what it needs to act at the auth-api.
pub struct SignedInContext {
    pub user: CurrentUser,
    pub access_token: String,
    pub client: web::Data<AuthClient>,
}

/// A signed-in request that may act: not on a temporary password, not
/// owing a second factor (until then, the guard sends every page to the
/// form that settles it, and server functions refuse the same way).
pub fn signed_in() -> Result<SignedInContext, ServerFnError> {
    let ctx = session()?;
    if ctx.user.password_change_required {
        set_status(StatusCode::FORBIDDEN);
        return Err(ServerFnError::new("Change your temporary password first."));
    }
    if ctx.user.mfa_setup_required {
        set_status(StatusCode::FORBIDDEN);
        return Err(ServerFnError::new("Set up a second factor first."));
    }
    Ok(ctx)
}

/// A signed-in request, even on a temporary password: for what such a user
/// may still do (judge a new password, sign out).
pub fn session() -> Result<SignedInContext, ServerFnError> {
    let req = request()?;
    let client = req
        .app_data::<web::Data<AuthClient>>()
        .cloned()
        .ok_or_else(|| ServerFnError::new("no auth-api client"))?;
    match req.extensions().get::<AuthState>() {
        Some(AuthState::SignedIn(s)) => Ok(SignedInContext {
            user: s.user.clone(),
            access_token: s.access_token.clone(),
            client,
        }),
        Some(AuthState::Unavailable) => {
            set_status(StatusCode::SERVICE_UNAVAILABLE);
            Err(ServerFnError::new(
                "The sign-in service is unavailable right now. Please try again shortly.",
            ))
        }
        _ => {
            set_status(StatusCode::UNAUTHORIZED);
            Err(ServerFnError::new("You are not signed in."))
        }
    }
}

/// A signed-in request that may set up a second factor: held for one or
/// not, but not on a temporary password (that comes first).
pub fn factor_setup() -> Result<SignedInContext, ServerFnError> {
    let ctx = session()?;
    if ctx.user.password_change_required {
        set_status(StatusCode::FORBIDDEN);
        return Err(ServerFnError::new("Change your temporary password first."));
    }
    Ok(ctx)
}

fn frontend_state() -> Result<web::Data<crate::state::FrontendState>, ServerFnError> {
    request()?
        .app_data::<web::Data<crate::state::FrontendState>>()
        .cloned()
        .ok_or_else(|| ServerFnError::new("no frontend state"))
}

pub fn auth_client() -> Result<web::Data<AuthClient>, ServerFnError> {
    request()?
        .app_data::<web::Data<AuthClient>>()
        .cloned()
        .ok_or_else(|| ServerFnError::new("no auth-api client"))
}

/// The origin browsers use for this site (`PUBLIC_ORIGIN`): the passkeys'
/// relying party.
pub fn public_origin() -> Result<String, ServerFnError> {
    Ok(frontend_state()?.public_origin.clone())
}

/// The browser's address (behind `TRUSTED_PROXIES`, from `X-Forwarded-For`).
pub fn client_ip() -> Option<String> {
    let (req, state) = (request().ok()?, frontend_state().ok()?);
    let trusted = &state.settings.trusted_proxies;
    crate::security::client::of_http_request(&req, trusted).map(|ip| ip.to_string())
}

/// The `mfa_token` of this browser's pending sign-in (its sealed cookie).
pub fn pending_mfa_token() -> Result<String, ServerFnError> {
    let (req, state) = (request()?, frontend_state()?);
    match state.codec.pending_sign_in(req.headers(), state.now()) {
        Some(pending) => Ok(pending.mfa_token),
        None => Err(bad_request("That sign-in expired. Please sign in again.")),
    }
}

/// The signed-in user's access token, to call an API as them, with at least
/// `REFRESH_MARGIN` seconds left: swapped first if it is due (the guard
/// made it fresh, but a long render or a slow API may outlast that).
pub async fn access_token() -> Result<String, ServerFnError> {
    let ctx = signed_in()?;
    let (req, state) = (request()?, frontend_state()?);
    let fresh = |expires_at: i64| expires_at - state.now() > super::freshness::REFRESH_MARGIN;
    let slot = req.extensions().get::<CookieSlot>().cloned();
    // A swap earlier in this request: its token is the newest.
    if let Some(cookie) = slot.as_ref().and_then(CookieSlot::pending)
        && fresh(cookie.access_expires_at)
    {
        return Ok(cookie.access_token);
    }
    let expires_at = match req.extensions().get::<AuthState>() {
        Some(AuthState::SignedIn(s)) => s.access_expires_at,
        _ => 0,
    };
    if fresh(expires_at) {
        return Ok(ctx.access_token);
    }
    super::guard::refresh_now(&req).await.map_err(to_server_error)?;
    slot.and_then(|s| s.pending())
        .map(|cookie| cookie.access_token)
        .ok_or_else(|| ServerFnError::new("the session could not be refreshed"))
}

/// Swaps this session's tokens at once (after it proved a new factor).
pub async fn refresh_session() {
    let Ok(req) = request() else { return };
    if let Err(e) = super::guard::refresh_now(&req).await {
        tracing::warn!(error = %e, "could not refresh the session after a change");
    }
}

/// Signs this browser in with a passkey assertion: alone, or as the second
/// factor of its pending sign-in. Sets the new session's cookies on this
/// answer and returns where to go.
pub async fn passkey_sign_in(
    ceremony: String,
    credential: String,
    second_factor: bool,
    remember: bool,
    next: String,
) -> Result<String, ServerFnError> {
    use actix_web::http::header::{self, HeaderValue};
    use shared::TokenRequest;
    let (req, state, client) = (request()?, frontend_state()?, auth_client()?);
    let (grant, next) = if second_factor {
        let Some(pending) = state.codec.pending_sign_in(req.headers(), state.now()) else {
            return Err(bad_request("That sign-in expired. Please sign in again."));
        };
        let mfa_token = pending.mfa_token;
        (TokenRequest::MfaPasskey { mfa_token, ceremony, credential }, pending.next)
    } else {
        let user_agent =
            req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let grant =
            TokenRequest::Passkey { ceremony, credential, remember, user_agent, ip: client_ip() };
        (grant, crate::security::next::safe_next(Some(&next)))
    };
    let res = use_context::<ResponseOptions>();
    let set_cookie = |value: String| {
        if let (Some(res), Ok(value)) = (&res, HeaderValue::from_str(&value)) {
            res.append_header(header::SET_COOKIE, value);
        }
    };
    match client.second_factor_grant(grant).await {
        Ok(tokens) => {
            set_cookie(super::sign_in::begin(&req, &state, &client, &tokens));
            if second_factor {
                set_cookie(state.codec.clear_pending());
            }
            Ok(next)
        }
        Err(e) => {
            if second_factor && matches!(e, AuthError::ExpiredToken) {
                set_cookie(state.codec.clear_pending());
            }
            Err(to_sign_in_error(e))
        }
    }
}

/// Turns a refused sign-in into a message fit for the sign-in pages.
pub fn to_sign_in_error(e: AuthError) -> ServerFnError {
    match e {
        AuthError::InvalidGrant => {
            set_status(StatusCode::BAD_REQUEST);
            ServerFnError::new("That passkey did not work. Try again, or use another way in.")
        }
        AuthError::ExpiredToken => bad_request("That sign-in expired. Please sign in again."),
        AuthError::RateLimited(seconds) => {
            set_status(StatusCode::TOO_MANY_REQUESTS);
            ServerFnError::new(format!("Too many attempts — try again in {seconds} seconds."))
        }
        other => to_server_error(other),
    }
}

pub fn admin() -> Result<SignedInContext, ServerFnError> {
    let ctx = signed_in()?;
    if !ctx.user.is_admin() {
        set_status(StatusCode::FORBIDDEN);
        return Err(ServerFnError::new("Only administrators can do this."));
    }
    Ok(ctx)
}

/// Clears the session cookie on this response.
pub fn forget_session() {
    if let Ok(req) = request()
        && let Some(slot) = req.extensions().get::<CookieSlot>()
    {
        slot.set(CookieUpdate::Clear);
    }
}

/// Ends this browser's session: revokes it at the auth-api and clears the
/// cookie. The cookie is cleared whatever the auth-api says; returns whether
/// the auth-api confirmed the end.
pub async fn sign_out() -> bool {
    let ended = match session() {
        Ok(ctx) => match refresh_token() {
            // The guard opened this same cookie moments ago, so it opens; a
            // token it rotated in this request still names the session.
            None => false,
            Some(token) => match ctx.client.revoke(&token).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "sign-out could not reach the auth-api; cookie cleared anyway");
                    false
                }
            },
        },
        // Nobody to sign out (or the session cannot be checked): clearing the
        // cookie is all there is to do.
        Err(_) => !matches!(auth(), Ok(AuthState::Unavailable)),
    };
    forget_session();
    ended
}

/// The refresh token, from the request's own session cookie.
fn refresh_token() -> Option<String> {
    let req = request().ok()?;
    let state = req.app_data::<web::Data<crate::state::FrontendState>>()?;
    state.codec.refresh_token_of(req.headers())
}

/// After a state change: a plain form post (no JavaScript) is sent to `path`
/// with a 303; the hydrated app is told nothing and updates in place.
pub fn after_form(path: &str) {
    let Ok(req) = request() else { return };
    let plain_form = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if plain_form && let Some(res) = use_context::<ResponseOptions>() {
        res.insert_header(
            actix_web::http::header::LOCATION,
            actix_web::http::header::HeaderValue::from_str(path)
                .expect("our own paths are valid headers"),
        );
        res.set_status(StatusCode::SEE_OTHER);
    }
}

/// A request the page itself got wrong (a hand-edited filter, say): 400
/// with `message`.
pub fn bad_request(message: impl Into<String>) -> ServerFnError {
    set_status(StatusCode::BAD_REQUEST);
    ServerFnError::new(message.into())
}

/// Turns an auth-api failure into a message fit for the page.
pub fn to_server_error(e: AuthError) -> ServerFnError {
    match e {
        AuthError::InvalidToken | AuthError::InvalidGrant => {
            forget_session();
            set_status(StatusCode::UNAUTHORIZED);
            ServerFnError::new("Your session has ended. Please sign in again.")
        }
        AuthError::ReauthRequired => {
            set_status(StatusCode::FORBIDDEN);
            ServerFnError::new("Enter your password again to do this.")
        }
        AuthError::Forbidden => {
            set_status(StatusCode::FORBIDDEN);
            ServerFnError::new("You are not allowed to do this.")
        }
        AuthError::WrongPassword => {
            set_status(StatusCode::FORBIDDEN);
            ServerFnError::new("Your current password is not correct.")
        }
        AuthError::SecondFactorRequired => {
            set_status(StatusCode::FORBIDDEN);
            ServerFnError::new("Sign in again with your second factor to do this.")
        }
        AuthError::WeakPassword(why) | AuthError::Rejected(why) => {
            set_status(StatusCode::BAD_REQUEST);
            ServerFnError::new(crate::app::format::sentence(&why))
        }
        AuthError::Conflict(why) => {
            set_status(StatusCode::CONFLICT);
            ServerFnError::new(crate::app::format::sentence(&why))
        }
        AuthError::NotFound => {
            set_status(StatusCode::NOT_FOUND);
            ServerFnError::new("That session or user no longer exists.")
        }
        e => {
            tracing::warn!(error = %e, "auth-api call failed");
            set_status(StatusCode::SERVICE_UNAVAILABLE);
            ServerFnError::new(
                "The sign-in service is unavailable right now. Please try again shortly.",
            )
        }
    }
}
