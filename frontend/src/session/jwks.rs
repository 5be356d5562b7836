//! The auth-api's public keys, cached, and local verification against them.
//!
//! A token with an unknown `kid` (after a key rotation) triggers one refetch,
//! at most once per `REFETCH_EVERY`, so a flood of forged kids cannot turn
//! into a flood of requests to the auth-api.

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

#[derive(Default)]
pub struct JwksCache {
    keys: RwLock<Arc<HashMap<String, DecodingKey>>>,
    last_fetch: Mutex<Option<Instant>>,
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
            Err(VerifyError::UnknownKey(_)) if self.refetch(client).await => {
                self.verify(token, expected, now)
            }
            other => other,
        }
    }

    /// Fetches the key set unless that was done less than `REFETCH_EVERY`
    /// ago. True if new keys were loaded.
    pub async fn refetch(&self, client: &AuthClient) -> bool {
        {
            let mut last = self.last_fetch.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < REFETCH_EVERY) {
                return false;
            }
            *last = Some(Instant::now());
        }
        match client.jwks().await {
            Ok(set) => {
                let keys: HashMap<_, _> = set
                    .keys
                    .iter()
                    .filter_map(|jwk| {
                        let kid = jwk.common.key_id.clone()?;
                        DecodingKey::from_jwk(jwk).ok().map(|k| (kid, k))
                    })
                    .collect();
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
