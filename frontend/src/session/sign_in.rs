//! A browser's new session, from the auth-api's tokens: what every way of
//! signing in does last (the sign-in form, the second step at
//! `/login/verify`, a passkey from a server function).

use actix_web::{HttpMessage, HttpRequest};
use shared::TokenResponse;
use tracing::Instrument;

use super::{AuthState, CookieSlot, CookieUpdate, cookie::SessionCookie};
use crate::{auth_client::AuthClient, state::FrontendState};

/// Puts `tokens` in this response's session cookie (the guard writes it),
/// ends the session this browser had before (a new session on every
/// sign-in defeats fixation, and the old one must not stay live and
/// unreachable), and returns the other `Set-Cookie` value to send: this
/// browser's device cookie, renewed for the user (`session::device`).
pub fn begin(
    req: &HttpRequest,
    state: &FrontendState,
    client: &AuthClient,
    tokens: &TokenResponse,
) -> String {
    let had_session = matches!(req.extensions().get::<AuthState>(), Some(AuthState::SignedIn(_)));
    if had_session && let Some(old) = state.codec.refresh_token_of(req.headers()) {
        let client = client.clone();
        actix_web::rt::spawn(
            async move {
                if let Err(e) = client.revoke(&old).await {
                    tracing::warn!(error = %e, "could not end the replaced session");
                }
            }
            // The sign-in's trace, and its request id on the warning.
            .in_current_span(),
        );
    }
    let cookie = SessionCookie::from_tokens(tokens, state.now());
    if let Some(slot) = req.extensions().get::<CookieSlot>() {
        slot.set(CookieUpdate::Set(cookie));
    }
    tracing::info!(session_id = %tokens.session_id, "signed in");
    state.codec.device_after_sign_in(req.headers(), &tokens.user.username)
}
