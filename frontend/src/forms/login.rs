//! The sign-in form's POST. It runs as middleware in front of the Leptos
//! render of `/login`: success answers `303` with a new session cookie before
//! anything renders; failure lets the same login page render, with the
//! message and the username kept, under the right status (400, 429, 503).

use actix_web::{
    Error, HttpMessage, HttpResponse,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{Method, StatusCode, header},
    middleware::Next,
    web,
};
use serde::Deserialize;

use shared::{TokenRequest, TokenResponse};

use crate::{
    app::types::LoginNotice,
    auth_client::{AuthClient, AuthError},
    forms::render_with_notice,
    security::client,
    security::next::safe_next,
    session::{
        AuthState, SignedIn,
        guard::{refresh_now, see_other},
        pending::PendingSignIn,
        sign_in,
    },
    state::FrontendState,
};

/// Exactly the fields of the design's login form.
#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    /// An unchecked checkbox is simply absent.
    remember: Option<String>,
    next: Option<String>,
    /// Present when a signed-in user confirms their password before a
    /// sensitive action (`/login?reauth=1`).
    reauth: Option<String>,
}

const GENERIC_FAILURE: &str = "Invalid username or password.";

pub async fn handle_login(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if req.method() != Method::POST {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    }
    let state =
        req.app_data::<web::Data<FrontendState>>().cloned().expect("FrontendState is registered");
    let client =
        req.app_data::<web::Data<AuthClient>>().cloned().expect("AuthClient is registered");
    let form = req.extract::<web::Form<LoginForm>>().await;
    let form = match form {
        Ok(f) => f.into_inner(),
        Err(_) => {
            let notice = LoginNotice {
                username: String::new(),
                message: "The sign-in form was incomplete. Please fill in both fields.".into(),
            };
            return render_with_notice(req, next, notice, StatusCode::BAD_REQUEST, None).await;
        }
    };
    let username = form.username.trim().to_owned();
    if username.is_empty() || form.password.is_empty() {
        let notice = LoginNotice { username, message: "Enter your username and password.".into() };
        return render_with_notice(req, next, notice, StatusCode::BAD_REQUEST, None).await;
    }
    let signed_in = match req.extensions().get::<AuthState>() {
        Some(AuthState::SignedIn(s)) => Some(s.clone()),
        _ => None,
    };
    if form.reauth.is_some()
        && let Some(session) = signed_in
    {
        return confirm(req, next, &client, &session, form).await;
    }

    let user_agent =
        req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    // The client's address (behind TRUSTED_PROXIES, from X-Forwarded-For;
    // otherwise the peer) and this browser's device cookie for the username:
    // the auth-api throttles by them (see `session::device`).
    let ip = client::of_request(&req, &state.settings.trusted_proxies).map(|ip| ip.to_string());
    let device = state.codec.device_id(req.headers(), &username);
    let grant = TokenRequest::Password {
        username: username.clone(),
        password: form.password,
        remember: form.remember.is_some(),
        user_agent,
        ip,
        device,
    };
    match client.password_grant(grant).await {
        Ok(tokens) => {
            Ok(start_session(req, &state, &client, &tokens, &safe_next(form.next.as_deref())))
        }
        // The password was right; a second factor finishes the sign-in.
        Err(AuthError::MfaRequired(challenge)) => {
            let next = safe_next(form.next.as_deref());
            let pending = PendingSignIn::new(challenge, username, next, state.now());
            let mut answer = see_other(crate::routes::pages::VERIFY);
            set_cookie(&mut answer, &state.codec.seal_pending(&pending, state.now()));
            Ok(req.into_response(answer))
        }
        // `Rejected`: a password no account can have (over 1024 bytes) — the
        // same answer as a wrong one, since that is what it is.
        Err(AuthError::InvalidGrant | AuthError::Rejected(_)) => {
            let notice = LoginNotice { username, message: GENERIC_FAILURE.into() };
            render_with_notice(req, next, notice, StatusCode::BAD_REQUEST, None).await
        }
        Err(AuthError::RateLimited(seconds)) => {
            let notice = LoginNotice {
                username,
                message: format!("Too many attempts — try again in {seconds} seconds."),
            };
            render_with_notice(req, next, notice, StatusCode::TOO_MANY_REQUESTS, Some(seconds))
                .await
        }
        Err(e) => {
            tracing::warn!(error = %e, "sign-in could not reach the auth-api");
            let notice = LoginNotice {
                username,
                message: "Sign-in is temporarily unavailable. Please try again in a moment.".into(),
            };
            render_with_notice(req, next, notice, StatusCode::SERVICE_UNAVAILABLE, None).await
        }
    }
}

/// A sign-in that succeeded (with a password, or its second factor): the
/// new session (`session::sign_in`) and `303` to `next`.
pub(super) fn start_session(
    req: ServiceRequest,
    state: &FrontendState,
    client: &AuthClient,
    tokens: &TokenResponse,
    next: &str,
) -> ServiceResponse<BoxBody> {
    let device = sign_in::begin(req.request(), state, client, tokens);
    let mut answer = see_other(next);
    set_cookie(&mut answer, &device);
    req.into_response(answer)
}

/// Adds a `Set-Cookie` to `answer` (besides the session cookie, which the
/// guard writes).
pub(super) fn set_cookie(answer: &mut HttpResponse, value: &str) {
    if let Ok(value) = header::HeaderValue::from_str(value) {
        answer.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// A signed-in user confirms their password: the same session continues
/// with a fresh `auth_time` (its tokens swapped at once, so the next request
/// carries it), and the browser goes back to `next`.
async fn confirm(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    client: &AuthClient,
    session: &SignedIn,
    form: LoginForm,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let username = session.user.username.clone();
    let failed = |message: String| LoginNotice { username: username.clone(), message };
    match client.reauthenticate(&session.access_token, &form.password).await {
        Ok(()) => {
            if let Err(e) = refresh_now(req.request()).await {
                tracing::warn!(error = %e, "could not refresh the session after reauthentication");
            }
            tracing::info!("password confirmed");
            Ok(req.into_response(see_other(&safe_next(form.next.as_deref()))))
        }
        Err(AuthError::WrongPassword | AuthError::Rejected(_)) => {
            let notice = failed("That is not your password.".into());
            render_with_notice(req, next, notice, StatusCode::BAD_REQUEST, None).await
        }
        Err(AuthError::RateLimited(seconds)) => {
            let notice = failed(format!("Too many attempts — try again in {seconds} seconds."));
            render_with_notice(req, next, notice, StatusCode::TOO_MANY_REQUESTS, Some(seconds))
                .await
        }
        Err(AuthError::InvalidToken | AuthError::InvalidGrant) => {
            // The session ended meanwhile: an ordinary sign-in, then on.
            let to_sign_in = super::session_ended(&req, &safe_next(form.next.as_deref()));
            Ok(req.into_response(to_sign_in))
        }
        Err(e) => {
            tracing::warn!(error = %e, "reauthentication could not reach the auth-api");
            let notice = failed(
                "Confirming your password is unavailable right now. Please try again shortly."
                    .into(),
            );
            render_with_notice(req, next, notice, StatusCode::SERVICE_UNAVAILABLE, None).await
        }
    }
}
