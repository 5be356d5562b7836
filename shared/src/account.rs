//! The account routes' bodies: changing one's password, the policy's verdict
//! on a candidate, and the audit log (`GET /auth/events`, `GET /admin/audit`).

use serde::{Deserialize, Serialize};

/// `POST /auth/password`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

impl std::fmt::Debug for PasswordChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordChange").finish_non_exhaustive()
    }
}

/// `POST /auth/reauth`: the signed-in user's password, again, before a
/// sensitive action.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reauthentication {
    pub password: String,
}

impl std::fmt::Debug for Reauthentication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reauthentication").finish_non_exhaustive()
    }
}

/// `POST /auth/password/check`: how the policy judges `password` as
/// `username`'s new password (the strength meter asks as the user types).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordCheck {
    pub password: String,
    #[serde(default)]
    pub username: String,
}

impl std::fmt::Debug for PasswordCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordCheck").field("username", &self.username).finish_non_exhaustive()
    }
}

/// The policy's answer to a `PasswordCheck`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordVerdict {
    /// zxcvbn's score: 0 (guessed at once) to 4 (very unlikely to be guessed).
    pub score: u8,
    pub acceptable: bool,
    /// Why it would be refused, for a person to read.
    pub message: Option<String>,
}

/// One security event. Times are Unix seconds; `kind` is one of the names in
/// `docs/DESIGN.md` ("sign_in", "password_changed", …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: i64,
    pub at: i64,
    pub kind: String,
    /// Whom it happened to.
    pub user_id: Option<String>,
    pub username: Option<String>,
    /// Who did it: the user, an administrator, `cli`; none for the system.
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub session_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Option<String>,
}

/// A page of events, newest first. Pass `next_before` as `before` for the
/// next (older) page; `None` when this is the last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub next_before: Option<i64>,
}
