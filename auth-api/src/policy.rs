//! The timing rules of a session, from `Settings`: when it idles out, when it
//! must end regardless, how long a rotated-out token is forgiven, and how long
//! an ended session stays on the revocation feed. Below `state` (which hands
//! it out) and `sessions` (which applies it); the store's SQL has the same
//! liveness rule (`store::queries::live`).

use crate::{
    store::{Liveness, SessionRecord},
    tokens::access::LEEWAY,
};

/// The timing rules, from `Settings`.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub idle_ttl: i64,
    pub absolute_ttl: i64,
    pub grace: i64,
    pub access_ttl: i64,
}

impl Policy {
    pub fn liveness(&self, now: i64) -> Liveness {
        Liveness { now, idle_cutoff: now - self.idle_ttl }
    }

    pub fn is_live(&self, s: &SessionRecord, now: i64) -> bool {
        s.ended_at.is_none() && s.expires_at > now && s.last_seen_at > now - self.idle_ttl
    }

    /// How long a revocation must be remembered: until every access token of
    /// the session, issued at the latest `now`, has expired.
    pub fn revoked_until(&self, now: i64) -> i64 {
        now + self.access_ttl + LEEWAY
    }
}
