//! The auth-api's public keys, cached, and local verification against them.
//!
//! Verified tokens are remembered by their SHA-256 until they expire: a
//! browser presents the same access token on every page view for minutes,
//! and an Ed25519 verification (~45 µs, most of the guard's time) needs doing
//! once per token, not once per page. A hit still re-checks the token's time
//! window; a key-set change forgets everything verified under the old one.
//!
//! A token with an unknown `kid` (after a key rotation) triggers one refetch,
//! at most once per `REFETCH_EVERY`, so a flood of forged kids cannot turn
//! into a flood of requests to the auth-api. A fetch that failed (the
//! auth-api was still starting, or briefly away) may be retried after
//! `RETRY_AFTER_FAILURE`: holding a failure for the full interval would turn
//! a blip into seconds of 503s for everyone.
//!
//! A key the revocation feed names as cut off (`auth-api keys retire`) is
//! dropped at once and never installed again, whatever a JWKS answer says (an
//! auth-api behind a load balancer may not have reloaded yet); the key set is
//! then fetched at once, so the sessions that refresh find their new key.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use jsonwebtoken::{DecodingKey, jwk::JwkSet};
use sha2::{Digest, Sha256};
use shared::{
    AccessClaims,
    verify::{Expected, VerifyError, check_time, verify_access_token},
};

use crate::{auth_client::AuthClient, metrics::JwksMetrics};

const REFETCH_EVERY: Duration = Duration::from_secs(5);
/// Bound on remembered verifications (each ~0.3 KiB): only genuinely signed
/// tokens get in, so this bounds memory, not an attacker's leverage.
const MAX_VERIFIED: usize = 50_000;
const RETRY_AFTER_FAILURE: Duration = Duration::from_millis(500);

/// Whether a fetch waits out `REFETCH_EVERY` since the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    /// Asked for by a token (anyone can make up a `kid`).
    Honoured,
    /// Asked for by the revocation feed.
    Ignored,
}

#[derive(Default)]
pub struct JwksCache {
    /// Held while fetching: concurrent callers wait for that fetch and then
    /// use its keys, rather than failing while it is in flight.
    fetching: tokio::sync::Mutex<()>,
    keys: RwLock<Arc<HashMap<String, DecodingKey>>>,
    /// SHA-256 of a token → its verified claims.
    verified: RwLock<HashMap<[u8; 32], Arc<AccessClaims>>>,
    /// Bumped by every `install`: a verification that started under an older
    /// key set is not remembered (it may vouch for a key just removed).
    generation: std::sync::atomic::AtomicU64,
    /// No fetch is attempted before this instant.
    next_fetch: Mutex<Option<Instant>>,
    /// Kids the revocation feed named as cut off.
    retired: RwLock<HashSet<String>>,
    metrics: JwksMetrics,
}

impl JwksCache {
    /// An empty cache counting its fetches into `metrics`.
    pub fn counting(metrics: JwksMetrics) -> Self {
        Self { metrics, ..Self::default() }
    }

    /// Verifies `token`, or finds it verified before. `expected` must be the
    /// same for every call (it is: the frontend's own issuer and client id).
    pub fn verify(
        &self,
        token: &str,
        expected: Expected<'_>,
        now: i64,
    ) -> Result<Arc<AccessClaims>, VerifyError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let hit = self.verified.read().unwrap_or_else(|e| e.into_inner()).get(&digest).cloned();
        if let Some(claims) = hit {
            check_time(&claims, now)?;
            return Ok(claims);
        }
        let generation = self.generation();
        let claims = Arc::new(self.verify_uncached(token, expected, now)?);
        let mut verified = self.verified.write().unwrap_or_else(|e| e.into_inner());
        if self.generation() != generation {
            return Ok(claims);
        }
        if verified.len() >= MAX_VERIFIED {
            verified.retain(|_, c| check_time(c, now).is_ok());
            if verified.len() >= MAX_VERIFIED {
                verified.clear();
            }
        }
        verified.insert(digest, claims.clone());
        Ok(claims)
    }

    /// Whether any signing key is loaded: without one no token verifies.
    pub fn is_loaded(&self) -> bool {
        !self.keys.read().unwrap_or_else(|e| e.into_inner()).is_empty()
    }

    /// Which key set is installed; changes with every `install`. A decision
    /// remembered under one generation must not outlive it.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The signature and claims check itself, ignoring what was verified before.
    pub fn verify_uncached(
        &self,
        token: &str,
        expected: Expected<'_>,
        now: i64,
    ) -> Result<AccessClaims, VerifyError> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner()).clone();
        verify_access_token(token, |kid| keys.get(kid), expected, now)
    }

    /// Verifies, refetching the key set once if the token names a key we
    /// lack (unless it is a key cut off: refetching would not bring it back).
    pub async fn verify_or_refetch(
        &self,
        client: &AuthClient,
        token: &str,
        expected: Expected<'_>,
        now: i64,
    ) -> Result<Arc<AccessClaims>, VerifyError> {
        match self.verify(token, expected, now) {
            Err(VerifyError::UnknownKey(kid)) if self.is_retired(&kid) => {
                Err(VerifyError::UnknownKey(kid))
            }
            Err(VerifyError::UnknownKey(_)) => {
                self.refetch(client).await;
                let again = self.verify(token, expected, now);
                if matches!(again, Err(VerifyError::UnknownKey(_))) {
                    // The fetch worked but lacked this kid: behind a load
                    // balancer it may have reached an auth-api that has not
                    // reloaded a just-rotated key yet (they reload every 5 s).
                    // Ask again soon rather than after the full interval.
                    self.retry_soon();
                }
                again
            }
            other => other,
        }
    }

    /// Fetches the key set unless the last attempt was too recent. True if
    /// new keys were loaded.
    pub async fn refetch(&self, client: &AuthClient) -> bool {
        self.fetch(client, Limit::Honoured).await
    }

    /// Fetches the key set if none is loaded, however recent the last
    /// attempt: the revocation feed just answered, so the auth-api is up
    /// (the feed's pace bounds how often this fetches).
    pub async fn load_if_missing(&self, client: &AuthClient) {
        if !self.is_loaded() {
            self.fetch(client, Limit::Ignored).await;
        }
    }

    /// Drops the keys in `kids` (the feed's cut-off keys) and keeps them out
    /// for good; if any was new to this list, fetches the key set at once,
    /// whenever the last fetch was: the feed, not a token anyone can forge,
    /// asks for it, and the sessions about to refresh need the new key.
    pub async fn retire(&self, client: &AuthClient, kids: &[String]) {
        if self.forget(kids) {
            self.fetch(client, Limit::Ignored).await;
        }
    }

    /// The synchronous half of `retire`: true if any kid was new to the list.
    fn forget(&self, kids: &[String]) -> bool {
        let news = {
            let mut retired = self.retired.write().unwrap_or_else(|e| e.into_inner());
            // Every kid goes in, so no short-circuiting `any`.
            let mut news = false;
            for kid in kids {
                news |= retired.insert(kid.clone());
            }
            news
        };
        let current = self.keys.read().unwrap_or_else(|e| e.into_inner()).clone();
        if news && kids.iter().any(|kid| current.contains_key(kid)) {
            let kept = current.iter().filter(|(kid, _)| !self.is_retired(kid));
            let kept = kept.map(|(kid, key)| (kid.clone(), key.clone())).collect();
            tracing::warn!(kids = ?kids, "signing keys cut off by the auth-api; their tokens are refused");
            self.replace(kept);
        }
        news
    }

    fn is_retired(&self, kid: &str) -> bool {
        self.retired.read().unwrap_or_else(|e| e.into_inner()).contains(kid)
    }

    async fn fetch(&self, client: &AuthClient, limit: Limit) -> bool {
        let _fetching = self.fetching.lock().await;
        {
            let mut next = self.next_fetch.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if next.is_some_and(|t| now < t) && limit == Limit::Honoured {
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
                let loaded = self.install(&set);
                self.metrics.fetched(if loaded { "loaded" } else { "unusable" });
                loaded
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not fetch the auth-api's signing keys");
                self.metrics.fetched("failed");
                false
            }
        }
    }

    fn retry_soon(&self) {
        let soon = Instant::now() + RETRY_AFTER_FAILURE;
        let mut next = self.next_fetch.lock().unwrap_or_else(|e| e.into_inner());
        if next.is_none_or(|t| t > soon) {
            *next = Some(soon);
        }
    }

    /// Replaces the key set with the usable keys of `set` but those cut
    /// off. True if it had any.
    pub fn install(&self, set: &JwkSet) -> bool {
        let keys: HashMap<_, _> = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone().filter(|kid| !self.is_retired(kid))?;
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
        self.replace(keys);
        true
    }

    fn replace(&self, keys: HashMap<String, DecodingKey>) {
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        // A key that left the set must stop vouching for tokens at once.
        let mut verified = self.verified.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        verified.clear();
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    use super::*;

    const NOW: i64 = 1_800_000_000;
    const EXPECTED: Expected<'static> = Expected { issuer: "iss", audience: "aud" };

    fn key_set(kid: &str, seed: u8) -> (JwkSet, EncodingKey) {
        let signing = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        let x = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            signing.verifying_key().to_bytes(),
        );
        let set = serde_json::from_value(serde_json::json!({
            "keys": [{ "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": kid, "x": x }]
        }))
        .unwrap();
        (set, EncodingKey::from_ed_der(signing.to_pkcs8_der().unwrap().as_bytes()))
    }

    fn token(kid: &str, key: &EncodingKey, exp: i64) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(shared::ACCESS_TOKEN_TYPE.into());
        header.kid = Some(kid.into());
        let claims = AccessClaims {
            iss: "iss".into(),
            aud: "aud".into(),
            sub: "user".into(),
            sid: "session".into(),
            username: "alice".into(),
            roles: vec![],
            iat: NOW,
            nbf: NOW,
            exp,
            jti: "j".into(),
            auth_time: NOW,
            password_change_required: false,
            amr: vec!["pwd".into()],
            mfa_setup_required: false,
        };
        jsonwebtoken::encode(&header, &claims, key).unwrap()
    }

    #[test]
    fn a_remembered_verification_still_expires_with_its_token() {
        let cache = JwksCache::default();
        let (set, key) = key_set("k1", 1);
        assert!(cache.install(&set));
        let t = token("k1", &key, NOW + 60);
        assert_eq!(cache.verify(&t, EXPECTED, NOW).unwrap().sid, "session");
        assert_eq!(cache.verified.read().unwrap().len(), 1, "the verification is remembered");
        assert_eq!(cache.verify(&t, EXPECTED, NOW + 1).unwrap().sid, "session");
        assert_eq!(
            cache.verify(&t, EXPECTED, NOW + 60 + shared::verify::LEEWAY),
            Err(VerifyError::Expired)
        );
    }

    #[test]
    fn a_changed_key_set_forgets_what_the_old_keys_vouched_for() {
        let cache = JwksCache::default();
        let (old, old_key) = key_set("old", 1);
        cache.install(&old);
        let t = token("old", &old_key, NOW + 60);
        cache.verify(&t, EXPECTED, NOW).unwrap();
        let (new, _) = key_set("new", 2);
        cache.install(&new);
        assert_eq!(cache.verify(&t, EXPECTED, NOW), Err(VerifyError::UnknownKey("old".into())));
    }

    #[test]
    fn a_key_cut_off_stops_verifying_at_once_and_is_never_installed_again() {
        let cache = JwksCache::default();
        let (set, key) = key_set("k1", 1);
        cache.install(&set);
        let t = token("k1", &key, NOW + 60);
        cache.verify(&t, EXPECTED, NOW).unwrap();
        let generation = cache.generation();
        assert!(cache.forget(&["k1".to_owned()]), "news: the key set is fetched at once");
        assert!(!cache.forget(&["k1".to_owned()]), "told again: nothing to fetch");
        assert_ne!(cache.generation(), generation, "what k1 vouched for is forgotten");
        assert_eq!(cache.verify(&t, EXPECTED, NOW), Err(VerifyError::UnknownKey("k1".into())));
        assert!(!cache.install(&set), "a lagging JWKS does not bring it back");
        assert_eq!(cache.verify(&t, EXPECTED, NOW), Err(VerifyError::UnknownKey("k1".into())));
    }

    #[test]
    fn a_forged_token_is_never_remembered() {
        let cache = JwksCache::default();
        let (set, _) = key_set("k1", 1);
        cache.install(&set);
        let (_, other_key) = key_set("k1", 9);
        let forged = token("k1", &other_key, NOW + 60);
        assert_eq!(cache.verify(&forged, EXPECTED, NOW), Err(VerifyError::Invalid));
        assert!(cache.verified.read().unwrap().is_empty());
    }
}
