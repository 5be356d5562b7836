//! Tokens for upstream apps: the session's access token exchanged at the
//! auth-api (RFC 8693) for one whose audience is the app's.
//!
//! Why not forward the session's own token: its audience is this frontend,
//! which the auth-api honours, so an app holding it could act at the
//! auth-api as the user (list users with an admin's token, add a passkey
//! while the sign-in is fresh). An exchanged token names the app as its
//! audience, which the auth-api refuses and other apps should too.
//!
//! One entry per session and audience, holding the exchange of the
//! session's current token: when the guard swaps that token, the next
//! request replaces the entry (so rotations do not pile up). Concurrent
//! requests share one call, as refreshes do (`refresh`); failures are not
//! kept. The map is bounded: past `MAX_ENTRIES` live sessions × audiences,
//! tokens are still exchanged but not kept.

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
/// An exchange not finished after this long was abandoned (its only
/// waiter went away mid-call): its entry is swept.
const ABANDONED_AFTER: Duration = Duration::from_secs(30);
/// Entries kept at most (each about 1 KiB).
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug)]
struct Exchanged {
    token: String,
    expires_at: i64,
}

type Outcome = Result<Arc<Exchanged>, AuthError>;

struct Entry {
    /// SHA-256 of the session token this entry exchanged.
    subject: [u8; 32],
    cell: Arc<OnceCell<Outcome>>,
    started: Instant,
}

#[derive(Default)]
pub struct UpstreamTokens {
    entries: Mutex<HashMap<(String, String), Entry>>,
    swept: Mutex<Option<Instant>>,
}

impl UpstreamTokens {
    /// A token for `audience` standing for `session`, whose current access
    /// token is `subject` (which the guard has made fresh).
    pub async fn token_for(
        &self,
        client: &AuthClient,
        session: &str,
        subject: &str,
        audience: &str,
        now: i64,
    ) -> Result<String, AuthError> {
        let digest: [u8; 32] = Sha256::digest(subject.as_bytes()).into();
        let key = (session.to_owned(), audience.to_owned());
        self.sweep(now);
        let cell = {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            match entries.get(&key) {
                Some(e) if e.subject == digest => e.cell.clone(),
                // A newer session token (or none yet): its own exchange.
                found if found.is_some() || entries.len() < MAX_ENTRIES => {
                    let cell = Arc::new(OnceCell::new());
                    let entry =
                        Entry { subject: digest, cell: cell.clone(), started: Instant::now() };
                    entries.insert(key.clone(), entry);
                    cell
                }
                // Full: exchange, but keep nothing.
                _ => Arc::new(OnceCell::new()),
            }
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
                self.forget(&key, &cell);
                Err(AuthError::Unavailable("the upstream token is about to expire".into()))
            }
            Err(e) => {
                self.forget(&key, &cell);
                Err(e)
            }
        }
    }

    /// Drops `key`'s entry if it is still `cell` (not a newer exchange).
    fn forget(&self, key: &(String, String), cell: &Arc<OnceCell<Outcome>>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.get(key).is_some_and(|e| Arc::ptr_eq(&e.cell, cell)) {
            entries.remove(key);
        }
    }

    /// Drops expired, failed and abandoned entries, at most once a second.
    fn sweep(&self, now: i64) {
        {
            let mut swept = self.swept.lock().unwrap_or_else(|e| e.into_inner());
            if swept.is_some_and(|t| t.elapsed() < SWEEP_EVERY) {
                return;
            }
            *swept = Some(Instant::now());
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, e| match e.cell.get() {
            Some(Ok(exchanged)) => exchanged.expires_at > now,
            Some(Err(_)) => false,
            None => e.started.elapsed() < ABANDONED_AFTER,
        });
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
