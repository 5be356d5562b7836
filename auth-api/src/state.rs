//! The state every handler shares: settings, storage, clock, keys, and the
//! counters. Built once by `startup`; handlers, extractors and the session
//! rules take it from here, so none of them depends on the module that
//! builds the server.

use std::sync::Arc;

use crate::{
    clock::Clock,
    config::Settings,
    feed::FeedSignal,
    metrics::Metrics,
    passwords::Passwords,
    policy::Policy,
    store::Store,
    tokens::{access::Audience, keys::KeyRing},
};

/// Everything a handler may use; one per process, shared by all workers.
pub struct AppState {
    pub settings: Settings,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub keys: KeyRing,
    pub passwords: Passwords,
    pub metrics: Metrics,
    pub feed: FeedSignal,
    /// What `/readyz` answers, checked every second (`startup`).
    pub readiness: shared::lifecycle::Readiness,
}

impl AppState {
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    pub fn policy(&self) -> Policy {
        Policy {
            idle_ttl: self.settings.session_idle_ttl,
            absolute_ttl: self.settings.session_absolute_ttl,
            remember_idle_ttl: self.settings.remember_idle_ttl,
            remember_absolute_ttl: self.settings.remember_absolute_ttl,
            access_ttl: self.settings.access_token_ttl,
        }
    }

    /// This auth-api's tokens for the frontend: the only audience its own
    /// bearer endpoints accept.
    pub fn audience(&self) -> Audience<'_> {
        Audience { issuer: &self.settings.issuer, audience: &self.settings.client_id }
    }

    /// After a commit that ended `n` sessions: counted, and the revocation
    /// feed's waiting long polls woken, so frontends refuse those sessions
    /// now rather than at their next re-read.
    pub fn sessions_ended(&self, n: u64) {
        if n > 0 {
            self.metrics.revoked(n);
            self.feed.notify();
        }
    }
}
