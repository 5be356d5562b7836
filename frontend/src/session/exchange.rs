//! Tokens for upstream apps: the session's access token exchanged at the
//! auth-api (RFC 8693) for one whose audience is the app's.
//!
//! Why not forward the session's own token: its audience is this frontend,
//! which the auth-api honours, so an app holding it could act at the
//! auth-api as the user (list users with an admin's token, add a passkey
//! while the sign-in is fresh). An exchanged token names the app as its
//! audience, which the auth-api refuses and other apps should too.
//!
//! One exchange per session token and audience: the result is kept until it
//! expires (with the session token it came from, which the guard swaps
//! before then, so a new key), and concurrent requests share one call, as
//! refreshes do (`refresh`). Failures are not kept: the next request asks
//! again.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use super::freshness::REFRESH_MARGIN;
use crate::auth_client::{AuthClient, AuthError};

/// Expired entries are swept at most this often.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Exchanged {
    token: String,
    expires_at: i64,
}

type Outcome = Result<Arc<Exchanged>, AuthError>;

#[derive(Default)]
pub struct UpstreamTokens {
    // Keyed by a hash of the session token and the audience.
    entries: Mutex<HashMap<[u8; 32], Arc<OnceCell<Outcome>>>>,
    swept: Mutex<Option<Instant>>,
}

impl UpstreamTokens {
    /// A token for `audience` standing for the session whose access token
    /// is `subject` (which the guard has made fresh).
    pub async fn token_for(
        &self,
        client: &AuthClient,
        subject: &str,
        audience: &str,
        now: i64,
    ) -> Result<String, AuthError> {
        let mut hasher = Sha256::new();
        hasher.update(subject.as_bytes());
        hasher.update([0]);
        hasher.update(audience.as_bytes());
        let key: [u8; 32] = hasher.finalize().into();
        self.sweep(now);
        let cell = {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            entries.entry(key).or_default().clone()
        };
        let outcome = cell
            .get_or_init(|| async {
                let exchanged = client.exchange(subject, audience).await?;
                let expires_at = now + exchanged.expires_in as i64;
                Ok(Arc::new(Exchanged { token: exchanged.access_token, expires_at }))
            })
            .await
            .clone();
        match outcome {
            Ok(exchanged) if exchanged.expires_at - now >= REFRESH_MARGIN => {
                Ok(exchanged.token.clone())
            }
            // Too close to its end to hand to an app: ask again (the guard
            // refreshes the session token before this can happen, unless the
            // auth-api was down when it tried).
            Ok(_) => {
                self.forget(&key);
                Err(AuthError::Unavailable("the upstream token is about to expire".into()))
            }
            Err(e) => {
                self.forget(&key);
                Err(e)
            }
        }
    }

    fn forget(&self, key: &[u8; 32]) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }

    /// Drops entries that have expired (or failed), at most once a second.
    fn sweep(&self, now: i64) {
        {
            let mut swept = self.swept.lock().unwrap_or_else(|e| e.into_inner());
            if swept.is_some_and(|t| t.elapsed() < SWEEP_EVERY) {
                return;
            }
            *swept = Some(Instant::now());
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        // An entry still being fetched has no outcome yet: kept.
        entries.retain(|_, cell| match cell.get() {
            Some(Ok(exchanged)) => exchanged.expires_at > now,
            Some(Err(_)) => false,
            None => true,
        });
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
