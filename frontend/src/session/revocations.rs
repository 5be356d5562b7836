//! The set of sessions ended anywhere, kept current by following the
//! auth-api's long-poll feed. A session in the set is refused at once, even
//! while its cached access token would still verify.

use std::{collections::HashMap, sync::RwLock, time::Duration};

use shared::Revocation;

use crate::{auth_client::AuthClient, startup::Clock};

/// How long one poll is held open by the auth-api.
const POLL_WAIT: u64 = 25;
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct RevokedSessions {
    // session id -> until (Unix seconds); after `until` no token of it is valid anyway.
    ended: RwLock<HashMap<String, i64>>,
}

impl RevokedSessions {
    pub fn contains(&self, session_id: &str) -> bool {
        self.ended.read().unwrap_or_else(|e| e.into_inner()).contains_key(session_id)
    }

    pub fn add(&self, revoked: &[Revocation], now: i64) {
        let mut ended = self.ended.write().unwrap_or_else(|e| e.into_inner());
        ended.retain(|_, until| *until > now);
        for r in revoked {
            ended.insert(r.sid.clone(), r.until);
        }
    }

    pub fn len(&self) -> usize {
        self.ended.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Follows the feed forever: each answer is applied, then the next poll
/// starts from its cursor. Failures back off exponentially up to 10 s.
pub async fn follow(client: AuthClient, revoked: std::sync::Arc<RevokedSessions>, clock: Clock) {
    let mut cursor: Option<String> = None;
    let mut backoff = BACKOFF_MIN;
    loop {
        match client.revocations(cursor.as_deref(), POLL_WAIT).await {
            Ok(feed) => {
                if !feed.revoked.is_empty() {
                    tracing::info!(sessions = feed.revoked.len(), "sessions ended elsewhere");
                }
                revoked.add(&feed.revoked, clock());
                cursor = Some(feed.cursor);
                backoff = BACKOFF_MIN;
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "revocation feed unavailable");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}
