//! The browser session: the sealed cookie, the per-request decision (the
//! guard), the single-flight refresh, the revocation follower, and the
//! accessors server functions use to read the decision.
//!
//! Nothing here ever puts a token anywhere but the sealed cookie and this
//! process's memory.

pub mod context;
pub mod cookie;
pub mod device;
pub mod exchange;
pub mod feed;
pub mod freshness;
pub mod guard;
pub mod jwks;
pub mod known;
pub mod pending;
pub mod refresh;
pub mod revocations;
pub mod sign_in;

use std::{cell::RefCell, rc::Rc, sync::Arc};

use crate::app::types::CurrentUser;

/// The guard's decision for one request, in the request's extensions.
#[derive(Debug, Clone)]
pub enum AuthState {
    SignedOut,
    SignedIn(Arc<SignedIn>),
    /// The auth-api could not be asked and no valid cached token exists:
    /// we do not know who this is (protected pages answer 503).
    Unavailable,
}

impl AuthState {
    pub fn user(&self) -> Option<&CurrentUser> {
        match self {
            AuthState::SignedIn(s) => Some(&s.user),
            _ => None,
        }
    }
}

/// A signed-in request: who, and the access token to act for them at the
/// auth-api. Not the refresh token: decisions are kept in memory across
/// requests (`known`), and that token stays in the sealed cookie; sign-out
/// reads it from there.
pub struct SignedIn {
    pub user: CurrentUser,
    pub access_token: String,
    /// When `access_token` expires (Unix seconds).
    pub access_expires_at: i64,
    /// When it was issued: the revocation feed marks tokens of a session
    /// stale up to a time (a role change).
    pub access_issued_at: i64,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn").field("user", &self.user).finish_non_exhaustive()
    }
}

/// What the response must do to the cookie. The guard writes it once, after
/// the handler ran; handlers (sign-in, sign-out) change it through the slot.
#[derive(Debug, Clone, Default)]
pub enum CookieUpdate {
    #[default]
    Keep,
    Set(cookie::SessionCookie),
    Clear,
}

/// Shared, per-request handle on the pending `CookieUpdate`.
#[derive(Debug, Clone, Default)]
pub struct CookieSlot(Rc<RefCell<CookieUpdate>>);

impl CookieSlot {
    pub fn set(&self, update: CookieUpdate) {
        *self.0.borrow_mut() = update;
    }

    pub fn take(&self) -> CookieUpdate {
        std::mem::take(&mut *self.0.borrow_mut())
    }

    /// The cookie this response will set, if it sets one.
    pub fn pending(&self) -> Option<cookie::SessionCookie> {
        match &*self.0.borrow() {
            CookieUpdate::Set(cookie) => Some(cookie.clone()),
            _ => None,
        }
    }
}
