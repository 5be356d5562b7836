//! The auth-api's public keys, cached, and local verification against them.
//!
//! A token with an unknown `kid` (after a key rotation) triggers one refetch,
//! at most once per `REFETCH_EVERY`, so a flood of forged kids cannot turn
//! into a flood of requests to the auth-api. A fetch that failed (the
//! auth-api was still starting, or briefly away) may be retried after
//! `RETRY_AFTER_FAILURE`: holding a failure for the full interval would turn
//! a blip into seconds of 503s for everyone.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use jsonwebtoken::DecodingKey;
use shared::{
    AccessClaims,
    verify::{Expected, VerifyError, verify_access_token},
};

use crate::auth_client::AuthClient;

const REFETCH_EVERY: Duration = Duration::from_secs(5);
const RETRY_AFTER_FAILURE: Duration = Duration::from_millis(500);

#[derive(Default)]
pub struct JwksCache {
    /// Held while fetching: concurrent callers wait for that fetch and then
    /// use its keys, rather than failing while it is in flight.
    fetching: tokio::sync::Mutex<()>,
    keys: RwLock<Arc<HashMap<String, DecodingKey>>>,
    /// No fetch is attempted before this instant.
    next_fetch: Mutex<Option<Instant>>,
}

impl JwksCache {
    pub fn verify(
        &self,
        token: &str,
        expected: Expected<'_>,
        now: i64,
    ) -> Result<AccessClaims, VerifyError> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner()).clone();
        verify_access_token(token, |kid| keys.get(kid), expected, now)
    }

    /// Verifies, refetching the key set once if the token names a key we lack.
    pub async fn verify_or_refetch(
        &self,
        client: &AuthClient,
        token: &str,
        expected: Expected<'_>,
        now: i64,
    ) -> Result<AccessClaims, VerifyError> {
        match self.verify(token, expected, now) {
            Err(VerifyError::UnknownKey(_)) => {
                self.refetch(client).await;
                self.verify(token, expected, now)
            }
            other => other,
        }
    }

    /// Fetches the key set unless the last attempt was too recent. True if
    /// new keys were loaded.
    pub async fn refetch(&self, client: &AuthClient) -> bool {
        let _fetching = self.fetching.lock().await;
        {
            let mut next = self.next_fetch.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if next.is_some_and(|t| now < t) {
                return false;
            }
            // At most one fetch per interval, however many unknown kids arrive.
            *next = Some(now + REFETCH_EVERY);
        }
        let fetched = client.jwks().await;
        if fetched.is_err() {
            *self.next_fetch.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(Instant::now() + RETRY_AFTER_FAILURE);
        }
        match fetched {
            Ok(set) => {
                let keys: HashMap<_, _> = set
                    .keys
                    .iter()
                    .filter_map(|jwk| {
                        let kid = jwk.common.key_id.clone()?;
                        DecodingKey::from_jwk(jwk).ok().map(|k| (kid, k))
                    })
                    .collect();
                if keys.is_empty() {
                    // Never trade known keys for none: an empty or unusable
                    // set would sign everyone out (503s) until the next fetch.
                    tracing::warn!("the auth-api's key set had no usable key; keeping ours");
                    return false;
                }
                tracing::debug!(keys = keys.len(), "loaded the auth-api's signing keys");
                *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not fetch the auth-api's signing keys");
                false
            }
        }
    }
}
