//! Session views: what a user sees of their sessions, what an admin sees of
//! users, and the revocation feed the frontend follows.

use serde::{Deserialize, Serialize};

use crate::Role;

/// One live session of the caller (`GET /auth/sessions`). Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    pub id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// True for the session the calling access token belongs to.
    pub current: bool,
}

/// One user as an administrator sees them (`GET /admin/users`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminUserView {
    pub id: String,
    pub username: String,
    pub roles: Vec<Role>,
    pub created_at: i64,
    /// Disabled users cannot sign in and have no sessions.
    #[serde(default)]
    pub disabled: bool,
    /// Still on the temporary password an administrator created.
    #[serde(default)]
    pub password_change_required: bool,
    /// Has an authenticator app switched on (an administrator may reset it).
    #[serde(default)]
    pub second_factor: bool,
    /// Live sessions right now.
    pub session_count: u64,
    /// The most recent `last_seen_at` over the live sessions, if any.
    pub last_seen_at: Option<i64>,
}

/// Answer to the routes that end sessions in bulk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndedSessions {
    pub ended: u64,
}

/// A session that ended. Access tokens carrying `sid` must be refused until
/// `until` (Unix seconds), after which none of them can still be valid anyway.
///
/// With `stale_before`, the session did not end: only its access tokens
/// issued at or before that time are stale (the user's roles changed) and
/// must be refreshed rather than trusted. A reader that does not know the
/// field takes the entry for an end, which fails safe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub sid: String,
    pub until: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_before: Option<i64>,
}

impl Revocation {
    /// An end of session `sid`, in force until `until`.
    pub fn ended(sid: impl Into<String>, until: i64) -> Self {
        Self { sid: sid.into(), until, stale_before: None }
    }
}

/// `GET /auth/revocations?after=CURSOR&epoch=EPOCH&keys=KEYS&wait=SECONDS`.
/// Pass `cursor`, `epoch` and `keys` back to receive only what happened
/// since; the poll answers at once when any of them is out of date.
///
/// `cursor` is a decimal feed id that only grows within one `epoch`. A new
/// epoch, or a cursor behind the reader's own, means another history (a
/// restored database, a restarted auth-api): the reader starts over without
/// `after`, which answers every revocation in force. `retired_keys` are the
/// signing keys cut off (`auth-api keys retire`) whose tokens could still be
/// live: a reader drops them at once. `keys` changes whenever that list does.
/// `more`: the answer stopped at its page limit; poll again at once (the
/// reader's set is complete only after an answer without it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationFeed {
    pub epoch: String,
    pub cursor: String,
    pub keys: String,
    pub revoked: Vec<Revocation>,
    pub retired_keys: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub more: bool,
}

/// `POST /admin/users`: a new user, who gets a temporary password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUserRequest {
    pub username: String,
    /// Besides `user`, which every user has.
    #[serde(default)]
    pub roles: Vec<Role>,
}

/// The answer to `POST /admin/users`: the user, and the temporary password
/// to hand over once (it is stored only as a hash). The user must change it
/// at their first sign-in.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedUser {
    pub user: AdminUserView,
    pub temporary_password: String,
}

impl std::fmt::Debug for CreatedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedUser").field("user", &self.user).finish_non_exhaustive()
    }
}

/// `PATCH /admin/users/{id}`: what to change; absent fields stay.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// The whole new set (`user` is always kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<Role>>,
}
