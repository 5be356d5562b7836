//! Values the server hands to pages (and, with hydration, to the browser).
//! None of them carries a token.

use leptos::prelude::{Resource, ServerFnError};
use serde::{Deserialize, Serialize};
use shared::Role;

/// Who is signed in, as decided by the guard for this request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub user_id: String,
    pub username: String,
    pub roles: Vec<Role>,
    pub session_id: String,
    /// On a temporary password: every protected page sends them to change it.
    #[serde(default)]
    pub password_change_required: bool,
    /// Their roles require a second factor and this session has none: every
    /// protected page sends them to set one up.
    #[serde(default)]
    pub mfa_setup_required: bool,
}

impl CurrentUser {
    pub fn is_admin(&self) -> bool {
        self.roles.contains(&Role::Admin)
    }
}

/// What the login page says after a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginNotice {
    /// Kept in the form so the user only retypes the password.
    pub username: String,
    pub message: String,
}

/// The sign-in waiting for its second factor, as `/login/verify` shows it
/// (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingView {
    pub username: String,
    pub factors: Vec<shared::Factor>,
}

/// What `/account/security` shows right after a change: a key to set up
/// (with its QR code), or recovery codes, each exactly once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecurityNotice {
    /// Scan this, then confirm with a code.
    Setup {
        /// The key, base32, for typing in.
        secret: String,
        /// The QR code of its `otpauth://` URI, as an SVG document made here.
        qr_svg: String,
    },
    /// The authenticator app is on; these are the recovery codes (empty if
    /// the user still has their earlier ones).
    Enabled {
        recovery_codes: Vec<String>,
    },
    /// A new set of recovery codes.
    NewCodes {
        recovery_codes: Vec<String>,
    },
    Disabled,
}

impl std::fmt::Debug for SecurityNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SecurityNotice::Setup { .. } => "SecurityNotice::Setup",
            SecurityNotice::Enabled { .. } => "SecurityNotice::Enabled",
            SecurityNotice::NewCodes { .. } => "SecurityNotice::NewCodes",
            SecurityNotice::Disabled => "SecurityNotice::Disabled",
        })
    }
}

/// The start of a passkey registration: the ceremony, or first the
/// password again (`/login?reauth=1`, then back to `/account/security`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PasskeyStart {
    Challenge(shared::PasskeyChallenge),
    Reauthenticate,
}

/// Where the security page's changes confirm the password first.
pub const REAUTH_FOR_SECURITY: &str = "/login?reauth=1&next=%2Faccount%2Fsecurity";

/// What a form page says after its POST failed (see `crate::forms`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormNotice {
    pub message: String,
}

impl FormNotice {
    pub fn error(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }
}

/// A user an administrator just created, with the temporary password: on
/// the answer to the form only, shown once, never stored by the frontend.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUserNotice {
    pub username: String,
    pub temporary_password: String,
}

impl std::fmt::Debug for NewUserNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUserNotice").field("username", &self.username).finish_non_exhaustive()
    }
}

/// How an administrator's action on a user went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminOutcome {
    Done,
    /// The action ended the administrator's own session.
    SignedOut,
    /// The action needs the password again: the browser is sent to
    /// [`REAUTH_FOR_ADMIN`], then back to the admin page.
    Reauthenticate,
}

/// Where an administrator confirms their password before a sensitive action.
pub const REAUTH_FOR_ADMIN: &str = "/login?reauth=1&next=%2Fadmin";

/// A one-line notice shown on the home page after sign-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignOutNotice {
    SignedOut,
    /// The cookie is gone, but the auth-api could not be told.
    SignedOutLocally,
}

/// A note of the notes example app (`examples/notes`), as its API sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub id: String,
    pub text: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// The notes API's list: `{"notes": […]}`, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteList {
    pub notes: Vec<Note>,
}

/// The signed-in user, loaded once per page and shared through context.
pub type UserResource = Resource<Result<Option<CurrentUser>, ServerFnError>>;
