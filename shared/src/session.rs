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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub sid: String,
    pub until: i64,
}

/// `GET /auth/revocations?after=CURSOR&wait=SECONDS`. Pass `cursor` back as
/// `after` to receive only what happened since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationFeed {
    pub cursor: String,
    pub revoked: Vec<Revocation>,
}
