//! The guard: once per request, before any handler runs or any byte of a
//! page is produced, decide who the browser is.
//!
//! 0. This exact cookie opened here before, its token is not about to expire
//!    and its session was not ended: signed in, without opening it again
//!    (`known`: one hash and one lookup).
//! 1. Open the cookie. None: signed out. Unreadable: signed out, cookie cleared.
//! 2. A session ended anywhere (revocation feed): signed out, cookie cleared.
//! 3. The cached access token verifies locally and is not about to expire:
//!    signed in, with **no call to the auth-api**; the cookie is remembered
//!    for step 0.
//! 4. Otherwise swap the refresh token (single-flight). `invalid_grant`:
//!    signed out, cookie cleared. Auth-api down: a still-valid cached token
//!    keeps working; without one the state is `Unavailable`.
//!
//! Then the route's rule applies (`routes`: one table for our pages and
//! the upstream apps): protected pages send the signed-out to
//! `/login?next=…` (303), a user on a temporary password to change it
//! (303), one whose role needs a second factor to set one up (303), a
//! role rule refuses those without the role (403), and a protected page
//! answers 503 while the session cannot be checked. An app's API gets the
//! same answers as JSON, never a redirect (401, 403, 503). What passes is
//! rendered, or forwarded to its upstream app (`proxy`) with the token.
//! Finally the cookie change, if any, is written on the response, and every
//! response to a signed-in browser is marked `no-store`.

use std::sync::Arc;

use actix_web::{
    Error, HttpMessage, HttpResponse,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::header::{self, HeaderValue},
    middleware::Next,
    web,
};

use tracing::Instrument;

use super::{
    AuthState, CookieSlot, CookieUpdate, SignedIn,
    cookie::{Opened, SessionCookie},
    known::{self, Known},
};
use crate::{
    app::types::CurrentUser,
    auth_client::{AuthClient, AuthError},
    error::FrontendError,
    metrics::Outcome,
    routes::{Access, Route},
    state::FrontendState,
};

pub use super::freshness::REFRESH_MARGIN;

pub async fn session_guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let state =
        req.app_data::<web::Data<FrontendState>>().cloned().expect("FrontendState is registered");
    // `security::origin` looked the route up already.
    let route = req.extensions().get::<Route>().cloned();
    let Some(route) = route.or_else(|| state.routes.lookup(req.path()).ok()) else {
        let refusal = FrontendError::BadRequest(crate::routes::path::BAD_PATH).into_page();
        return Ok(req.into_response(refusal));
    };
    let access = route.access;
    if access == Access::Static {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    }
    let client =
        req.app_data::<web::Data<AuthClient>>().cloned().expect("AuthClient is registered");

    let cookies = req.headers().get_all(header::COOKIE).filter_map(|v| v.to_str().ok());
    let (auth, update) = match bench::mode(&req) {
        bench::Mode::Off => decide(&state, &client, cookies).await,
        bench::Mode::Naive => {
            decide_inner(&state, &client, cookies, true, &mut Outcome::Verified).await
        }
        bench::Mode::PublicTwin => (bench::twin(), CookieUpdate::Keep),
    };
    let slot = CookieSlot::default();
    slot.set(update);
    req.extensions_mut().insert(auth.clone());
    req.extensions_mut().insert(slot.clone());

    let json = route.is_api();
    let needs_session = matches!(access, Access::SignedIn | Access::Role(_));
    let early = match (access, &auth) {
        (_, AuthState::SignedOut) if needs_session => {
            Some(if json { FrontendError::SignedOut.into_json() } else { redirect_to_login(&req) })
        }
        (_, AuthState::Unavailable) if needs_session => {
            Some(FrontendError::AuthUnavailable.respond(json))
        }
        // On a temporary password, nothing else until it is changed.
        (_, AuthState::SignedIn(s))
            if needs_session
                && s.user.password_change_required
                && req.path() != crate::routes::pages::PASSWORD =>
        {
            Some(if json {
                FrontendError::ActionRequired("password_change_required").into_json()
            } else {
                see_other(crate::routes::pages::PASSWORD_REQUIRED)
            })
        }
        // Their role needs a second factor: nothing else until one is set up.
        (_, AuthState::SignedIn(s))
            if needs_session
                && s.user.mfa_setup_required
                && req.path() != crate::routes::pages::SECURITY =>
        {
            Some(if json {
                FrontendError::ActionRequired("mfa_setup_required").into_json()
            } else {
                see_other(crate::routes::pages::SECURITY_REQUIRED)
            })
        }
        (Access::Role(role), AuthState::SignedIn(s)) if !s.user.roles.contains(&role) => {
            Some(FrontendError::Forbidden.respond(json))
        }
        // Signed in already: on, unless asked to confirm the password.
        (Access::Login, AuthState::SignedIn(_))
            if req.method() == actix_web::http::Method::GET
                && query_param(&req, "reauth").is_none() =>
        {
            Some(see_other(&crate::security::next::safe_next(query_param(&req, "next").as_deref())))
        }
        _ => None,
    };
    let mut res = match early {
        Some(page) => req.into_response(page),
        // A page, a server function, or an upstream app (`proxy::dispatch`).
        None => {
            let span = match &route.upstream {
                Some(app) => tracing::debug_span!("upstream", upstream = %app.path),
                None => tracing::debug_span!("render", path = %route.path),
            };
            next.call(req).instrument(span).await?.map_into_boxed_body()
        }
    };

    let headers = res.headers_mut();
    match slot.take() {
        CookieUpdate::Keep => {}
        CookieUpdate::Set(value) => append_cookie(headers, &state.codec.seal(&value, state.now())),
        CookieUpdate::Clear => append_cookie(headers, &state.codec.clear()),
    }
    let personal =
        matches!(auth, AuthState::SignedIn(_)) || headers.contains_key(header::SET_COOKIE);
    if personal && !crate::security::headers::forbids_storing(headers) {
        // A page rendered for one user must never be served to another by a
        // shared cache, nor restored from the browser's after sign-out.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}

/// Request modes for `just bench` alone. Built only with `--features bench`
/// (never by `just build`, `just dev` or the tests); without it, `mode` is
/// `Off` for every request and the compiler drops the rest.
mod bench {
    use super::*;

    #[cfg_attr(not(feature = "bench"), allow(dead_code))]
    pub enum Mode {
        Off,
        /// The naïve design: swap the refresh token at the auth-api on every
        /// page view, to measure what the guard's fast path saves.
        Naive,
        /// The same page for a fixed user with no session work at all: a
        /// public page of exactly the protected page's template and size.
        PublicTwin,
    }

    #[cfg(feature = "bench")]
    pub fn mode(req: &ServiceRequest) -> Mode {
        match req.headers().get("x-bench-mode").map(|v| v.as_bytes()) {
            Some(b"naive") => Mode::Naive,
            Some(b"public-twin") => Mode::PublicTwin,
            _ => Mode::Off,
        }
    }

    #[cfg(not(feature = "bench"))]
    pub fn mode(_: &ServiceRequest) -> Mode {
        Mode::Off
    }

    /// Ids as long as real ones, so the twin's page is byte-for-byte as long.
    #[cfg_attr(not(feature = "bench"), allow(dead_code))]
    pub fn twin() -> AuthState {
        AuthState::SignedIn(Arc::new(SignedIn {
            user: CurrentUser {
                user_id: "00000000-0000-4000-8000-000000000000".into(),
                username: "bench".into(),
                roles: vec![shared::Role::User],
                session_id: "00000000-0000-4000-8000-000000000001".into(),
                password_change_required: false,
                mfa_setup_required: false,
            },
            access_token: String::new(),
            access_expires_at: i64::MAX,
            access_issued_at: 0,
        }))
    }
}

/// The decision itself (steps 1–4 above) and the cookie change it implies.
pub async fn decide<'a>(
    state: &FrontendState,
    client: &AuthClient,
    cookie_headers: impl Iterator<Item = &'a str>,
) -> (AuthState, CookieUpdate) {
    // One span per decision, its outcome as an attribute: a trace shows at
    // once whether a slow page waited on a refresh.
    let span = tracing::debug_span!("guard", outcome = tracing::field::Empty);
    let mut signed_in_by = Outcome::Verified;
    let (auth, update) = decide_inner(state, client, cookie_headers, false, &mut signed_in_by)
        .instrument(span.clone())
        .await;
    let outcome = match (&auth, &update) {
        (AuthState::SignedIn(_), _) => signed_in_by,
        (AuthState::Unavailable, _) => Outcome::Unavailable,
        (AuthState::SignedOut, CookieUpdate::Clear) => Outcome::SignedOut,
        (AuthState::SignedOut, _) => Outcome::Anonymous,
    };
    span.record("outcome", outcome.label());
    state.metrics.decided(outcome);
    (auth, update)
}

/// `signed_in_by` says how a `SignedIn` answer was reached, when not by
/// verifying the cookie's token (its initial value).
async fn decide_inner<'a>(
    state: &FrontendState,
    client: &AuthClient,
    cookie_headers: impl Iterator<Item = &'a str>,
    always_refresh: bool,
    signed_in_by: &mut Outcome,
) -> (AuthState, CookieUpdate) {
    let Some(found) = state.codec.find(cookie_headers) else {
        return (AuthState::SignedOut, CookieUpdate::Keep);
    };
    let now = state.now();
    // The revocation set is trusted only while the feed is being followed:
    // with the feed silent, a session ended elsewhere could live on here for
    // a whole access-token lifetime, so ask the auth-api instead (and fall
    // back to the cached token only if it cannot answer).
    let feed_current = state.revoked.is_current();

    // The fast path: this very cookie opened here before (see `known`).
    let digest = known::digest(found.value());
    let generation = state.jwks.generation();
    if let Some(hit) = state.known.get(&digest, generation) {
        if state.revoked.contains(&hit.signed_in.user.session_id) {
            state.known.forget(&digest);
            return (AuthState::SignedOut, CookieUpdate::Clear);
        }
        if !hit.is_fresh(now) || state.revoked.is_stale(&hit.claims.sid, hit.claims.iat) {
            // Due for a swap (or its user's roles changed): this cookie is
            // about to be replaced for good.
            state.known.forget(&digest);
        } else if feed_current && !always_refresh {
            *signed_in_by = Outcome::Cached;
            return (AuthState::SignedIn(hit.signed_in.clone()), CookieUpdate::Keep);
        }
    }

    let (cookie, stale_key) = match state.codec.open(found.value()) {
        Opened::Absent => return (AuthState::SignedOut, CookieUpdate::Keep),
        Opened::Invalid => return (AuthState::SignedOut, CookieUpdate::Clear),
        Opened::Valid { cookie, stale_key } => (cookie, stale_key),
    };
    if state.revoked.contains(&cookie.session_id) {
        return (AuthState::SignedOut, CookieUpdate::Clear);
    }
    let expected = state.expected();

    let cached = if cookie.access_expires_at > now {
        state.jwks.verify_or_refetch(client, &cookie.access_token, expected, now).await.ok()
    } else {
        None
    };
    let cached = cached.filter(|c| c.sid == cookie.session_id);
    if let Some(claims) = &cached
        && claims.exp - now > REFRESH_MARGIN
        && feed_current
        && !always_refresh
        && !state.revoked.is_stale(&claims.sid, claims.iat)
    {
        let signed_in = signed_in(claims, &cookie);
        if stale_key {
            return (AuthState::SignedIn(signed_in), CookieUpdate::Set(cookie));
        }
        let known = Known {
            signed_in: signed_in.clone(),
            claims: claims.clone(),
            access_expires_at: cookie.access_expires_at,
            generation,
        };
        state.known.remember(digest, known, now);
        return (AuthState::SignedIn(signed_in), CookieUpdate::Keep);
    }
    // The feed follows on another thread: an end that arrived since the
    // check above (it made the token stale, so we are here) is refused now,
    // not by a refresh call the auth-api would refuse anyway.
    if state.revoked.contains(&cookie.session_id) {
        return (AuthState::SignedOut, CookieUpdate::Clear);
    }

    match state.flights.refresh(client, &cookie.refresh_token).await {
        Ok(tokens) => {
            *signed_in_by = Outcome::Refreshed;
            warn_if_too_short(tokens.expires_in);
            let fresh = SessionCookie::from_tokens(&tokens, now);
            match state.jwks.verify_or_refetch(client, &fresh.access_token, expected, now).await {
                Ok(claims) if !state.revoked.contains(&claims.sid) => {
                    (AuthState::SignedIn(signed_in(&claims, &fresh)), CookieUpdate::Set(fresh))
                }
                Ok(_) => (AuthState::SignedOut, CookieUpdate::Clear),
                Err(e) => {
                    tracing::error!(error = %e, "the auth-api issued a token this frontend cannot verify");
                    // The old refresh token is spent: keep the new one, or
                    // the next request would present a rotated-out token and
                    // be taken for a thief (reuse detection ends the session).
                    (AuthState::Unavailable, CookieUpdate::Set(fresh))
                }
            }
        }
        Err(AuthError::InvalidGrant) => (AuthState::SignedOut, CookieUpdate::Clear),
        Err(e) => {
            tracing::warn!(error = %e, "could not refresh the session");
            // The auth-api cannot be reached but the cached token is still
            // valid: keep serving this user until it expires. Not when the
            // auth-api did answer (a wrong client secret, a refusal: nothing
            // vouches for the session then), nor for a token the feed says
            // no longer describes its user (a demoted administrator must not
            // keep the role through an outage).
            let reached = !matches!(e, AuthError::Unavailable(_));
            match cached {
                Some(claims) if !reached && !state.revoked.is_stale(&claims.sid, claims.iat) => {
                    *signed_in_by = Outcome::Fallback;
                    (AuthState::SignedIn(signed_in(&claims, &cookie)), CookieUpdate::Keep)
                }
                _ => (AuthState::Unavailable, CookieUpdate::Keep),
            }
        }
    }
}

/// Swaps this request's session for fresh tokens now, after a change its
/// access token no longer describes (a new password, a fresh `auth_time`),
/// and queues the new cookie on the response. The refresh token is the one
/// this response would set, else the request's own.
pub async fn refresh_now(req: &actix_web::HttpRequest) -> Result<(), AuthError> {
    let missing = || AuthError::Protocol("no session state on this request".into());
    let state = req.app_data::<web::Data<FrontendState>>().ok_or_else(missing)?;
    let client = req.app_data::<web::Data<AuthClient>>().ok_or_else(missing)?;
    let slot = req.extensions().get::<CookieSlot>().cloned().ok_or_else(missing)?;
    let refresh_token = match slot.pending() {
        Some(cookie) => cookie.refresh_token,
        None => state.codec.refresh_token_of(req.headers()).ok_or(AuthError::InvalidGrant)?,
    };
    let tokens = state.flights.refresh(client, &refresh_token).await?;
    slot.set(CookieUpdate::Set(SessionCookie::from_tokens(&tokens, state.now())));
    Ok(())
}

/// Tokens that live no longer than `REFRESH_MARGIN` are due for a refresh
/// the moment they arrive: every page view would call the auth-api. Nothing
/// breaks, so say it once, loudly, rather than refuse to serve.
fn warn_if_too_short(expires_in: u64) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if expires_in as i64 <= REFRESH_MARGIN
        && !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        tracing::warn!(
            expires_in,
            refresh_margin = REFRESH_MARGIN,
            "access tokens live no longer than the refresh margin: every page view will call the \
             auth-api; raise ACCESS_TOKEN_TTL well above {REFRESH_MARGIN} s"
        );
    }
}

fn signed_in(claims: &shared::AccessClaims, cookie: &SessionCookie) -> Arc<SignedIn> {
    Arc::new(SignedIn {
        user: CurrentUser {
            user_id: claims.sub.clone(),
            username: claims.username.clone(),
            roles: claims.roles.clone(),
            session_id: claims.sid.clone(),
            password_change_required: claims.password_change_required,
            mfa_setup_required: claims.mfa_setup_required,
        },
        access_token: cookie.access_token.clone(),
        access_expires_at: claims.exp,
        access_issued_at: claims.iat,
    })
}

fn append_cookie(headers: &mut actix_web::http::header::HeaderMap, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.append(header::SET_COOKIE, v);
    }
}

fn redirect_to_login(req: &ServiceRequest) -> HttpResponse {
    let target = match req.query_string() {
        "" => req.path().to_owned(),
        q => format!("{}?{q}", req.path()),
    };
    see_other(&sign_in_then(&target))
}

/// The sign-in page, sending the browser on to `next` afterwards (a local
/// path; `security::next::safe_next` judges it again when it is used).
pub fn sign_in_then(next: &str) -> String {
    let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
    format!("/login?{query}")
}

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

fn query_param(req: &ServiceRequest, name: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
        .ok()?
        .into_iter()
        .find_map(|(k, v)| (k == name).then_some(v))
}
