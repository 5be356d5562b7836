//! The timing rules of a session, from `Settings`: when it idles out, when it
//! must end regardless (both depend on "remember me"), and how long an ended
//! session stays on the revocation feed. Below `state` (which hands it out) and `sessions` (which applies
//! it); the store's SQL has the same liveness rule (`store::queries::live`).

use crate::{
    store::{Liveness, SessionRecord},
    tokens::access::LEEWAY,
};

/// The timing rules, from `Settings`.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Idle and absolute lifetimes of a session without "remember me".
    pub idle_ttl: i64,
    pub absolute_ttl: i64,
    /// The same with "remember me".
    pub remember_idle_ttl: i64,
    pub remember_absolute_ttl: i64,
    pub access_ttl: i64,
}

impl Policy {
    pub fn liveness(&self, now: i64) -> Liveness {
        Liveness {
            now,
            idle_cutoff: now - self.idle_ttl,
            remember_idle_cutoff: now - self.remember_idle_ttl,
        }
    }

    pub fn is_live(&self, s: &SessionRecord, now: i64) -> bool {
        s.ended_at.is_none() && s.expires_at > now && s.last_seen_at > now - self.idle(s.remember)
    }

    pub fn idle(&self, remember: bool) -> i64 {
        if remember { self.remember_idle_ttl } else { self.idle_ttl }
    }

    /// When a session started at `now` must end, whatever happens.
    pub fn absolute_end(&self, remember: bool, now: i64) -> i64 {
        now + if remember { self.remember_absolute_ttl } else { self.absolute_ttl }
    }

    /// How long a revocation must be remembered: until every access token of
    /// the session, issued at the latest `now`, has expired.
    pub fn revoked_until(&self, now: i64) -> i64 {
        now + self.access_ttl + LEEWAY
    }

    /// How long an ended or expired session's row is kept (its history on
    /// the sessions and admin pages), at least a day.
    pub fn keep_ended(&self) -> i64 {
        self.idle_ttl.max(self.remember_idle_ttl).max(24 * 3600)
    }
}
