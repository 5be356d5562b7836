//! The signing key ring: Ed25519 keys kept in the database (so every instance
//! and every restart signs and verifies with the same keys), loaded into
//! memory, and published as JWKS.
//!
//! The newest unretired key signs. A retired key keeps verifying, and stays in
//! JWKS, until every token it signed has expired (`retired_at + access TTL`).
//! A key cut off (`keys retire`, `removed_at`) is neither: the database no
//! longer hands it out, and the feed's polls reload the ring when they see
//! it named (`routes::revocations`), besides the periodic reload.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::Signer as _;
use jsonwebtoken::{DecodingKey, Header};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::random_bytes;
use crate::{
    error::ApiError,
    store::{NewKey, Store, StoreError, StoredKey},
};

/// Generates a key pair; its kid is the RFC 7638 JWK thumbprint.
pub fn generate() -> NewKey {
    let seed = random_bytes::<32>();
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes();
    NewKey { kid: thumbprint(&public), seed, public }
}

fn thumbprint(public: &[u8; 32]) -> String {
    // Members in lexicographic order, no whitespace, as RFC 7638 requires.
    let canonical =
        format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, URL_SAFE_NO_PAD.encode(public));
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// The current signing key, expanded once when loaded.
///
/// Not `jsonwebtoken::encode`: it takes the key as PKCS#8 DER and expands it
/// again on every call (a SHA-512 and a scalar multiplication to derive the
/// public half, as much curve work again as the signature itself; ~5 % of
/// the auth-api's CPU per refresh grant when profiled). The JWS compact
/// form it would produce is three base64url parts; Ed25519 signatures are
/// deterministic, so the output is byte for byte jsonwebtoken's (tested).
pub struct Signer {
    pub kid: String,
    key: ed25519_dalek::SigningKey,
}

impl Signer {
    fn new(kid: &str, seed: &[u8]) -> Result<Self, StoreError> {
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| StoreError::Corrupt(format!("private key {kid} is not 32 bytes")))?;
        Ok(Self { kid: kid.to_owned(), key: ed25519_dalek::SigningKey::from_bytes(&seed) })
    }

    /// `header` and `claims` as a signed JWS in compact serialization. The
    /// header must say EdDSA: `jsonwebtoken::encode` refused a header that
    /// disagreed with its key, and so does this.
    pub fn sign(&self, header: &Header, claims: &impl Serialize) -> Result<String, ApiError> {
        if header.alg != jsonwebtoken::Algorithm::EdDSA {
            return Err(ApiError::Internal(format!("an Ed25519 key cannot sign {:?}", header.alg)));
        }
        let json = |v: serde_json::Result<Vec<u8>>| {
            v.map_err(|e| ApiError::Internal(format!("serializing the token failed: {e}")))
        };
        let mut jws = URL_SAFE_NO_PAD.encode(json(serde_json::to_vec(header))?);
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(json(serde_json::to_vec(claims))?, &mut jws);
        let signature = self.key.sign(jws.as_bytes());
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut jws);
        Ok(jws)
    }
}

/// One loaded generation of keys. Immutable; the ring swaps in a new one.
pub struct KeySet {
    pub signer: Option<Signer>,
    pub verifiers: HashMap<String, DecodingKey>,
    pub jwks: String,
}

impl KeySet {
    fn from_stored(keys: &[StoredKey]) -> Result<Self, StoreError> {
        let mut signer = None;
        let mut verifiers = HashMap::new();
        let mut jwks = Vec::new();
        for key in keys {
            let public: [u8; 32] = key.public.as_slice().try_into().map_err(|_| {
                StoreError::Corrupt(format!("public key {} is not 32 bytes", key.kid))
            })?;
            verifiers.insert(key.kid.clone(), DecodingKey::from_ed_der(&public));
            jwks.push(json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "alg": "EdDSA",
                "use": "sig",
                "kid": key.kid,
                "x": URL_SAFE_NO_PAD.encode(public),
            }));
            if signer.is_none()
                && key.retired_at.is_none()
                && let Some(seed) = &key.seed
            {
                signer = Some(Signer::new(&key.kid, seed)?);
            }
        }
        Ok(Self { signer, verifiers, jwks: json!({ "keys": jwks }).to_string() })
    }
}

/// The keys in use, shared by all workers and reloaded from the database so
/// that `keys rotate` (run anywhere) reaches this instance within seconds.
#[derive(Clone)]
pub struct KeyRing {
    current: Arc<RwLock<Arc<KeySet>>>,
    access_ttl: i64,
    /// The clock second of the last reload forced by an unknown `kid`; held
    /// during that reload, so requests that arrive meanwhile wait for its
    /// keys instead of being refused.
    last_forced: Arc<tokio::sync::Mutex<i64>>,
}

impl KeyRing {
    /// Loads the keys, creating the first one if the database has none.
    pub async fn load(store: &Store, access_ttl: i64, now: i64) -> Result<Self, StoreError> {
        store.insert_first_signing_key(&generate(), now).await?;
        let set = Self::read(store, access_ttl, now).await?;
        Ok(Self {
            current: Arc::new(RwLock::new(Arc::new(set))),
            access_ttl,
            last_forced: Arc::new(tokio::sync::Mutex::new(i64::MIN)),
        })
    }

    async fn read(store: &Store, access_ttl: i64, now: i64) -> Result<KeySet, StoreError> {
        // Keep a retired key while a token it signed could still be valid,
        // plus a minute of clock-skew margin.
        let keys = store.signing_keys(now - access_ttl - 60).await?;
        KeySet::from_stored(&keys)
    }

    pub async fn reload(&self, store: &Store, now: i64) -> Result<(), StoreError> {
        let set = Self::read(store, self.access_ttl, now).await?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
        Ok(())
    }

    /// Whether `kid` is known, reloading first if it is not. Another
    /// instance may have rotated the key moments ago, and its tokens are not
    /// forgeries for being early: without this they would get 401 here until
    /// the periodic reload. Anyone can send a made-up `kid`, so unknown kids
    /// force at most one reload per clock second.
    pub async fn knows_after_reload(
        &self,
        kid: &str,
        store: &Store,
        now: i64,
    ) -> Result<bool, StoreError> {
        if self.snapshot().verifiers.contains_key(kid) {
            return Ok(true);
        }
        let mut last_forced = self.last_forced.lock().await;
        // The reload this request waited for may have brought the key.
        if self.snapshot().verifiers.contains_key(kid) {
            return Ok(true);
        }
        if *last_forced == now {
            return Ok(false);
        }
        *last_forced = now;
        self.reload(store, now).await?;
        Ok(self.snapshot().verifiers.contains_key(kid))
    }

    pub fn snapshot(&self) -> Arc<KeySet> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kids_are_thumbprints_of_distinct_keys() {
        let a = generate();
        let b = generate();
        assert_ne!(a.kid, b.kid);
        assert_eq!(a.kid, thumbprint(&a.public));
        assert_eq!(a.kid.len(), 43);
    }

    #[test]
    fn signatures_are_byte_for_byte_jsonwebtokens() {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        use jsonwebtoken::{Algorithm, EncodingKey};

        let key = generate();
        let signer = Signer::new(&key.kid, &key.seed).unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some("at+jwt".into());
        header.kid = Some(key.kid.clone());
        let claims = json!({ "sub": "u1", "exp": 2_000_000_000_i64, "roles": ["admin"] });

        let der = ed25519_dalek::SigningKey::from_bytes(&key.seed).to_pkcs8_der().unwrap();
        let expected =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(der.as_bytes()))
                .unwrap();
        assert_eq!(signer.sign(&header, &claims).unwrap(), expected);
    }

    #[test]
    fn a_header_that_is_not_eddsa_is_refused() {
        let key = generate();
        let signer = Signer::new(&key.kid, &key.seed).unwrap();
        let header = Header::new(jsonwebtoken::Algorithm::HS256);
        let signed = signer.sign(&header, &json!({ "sub": "u1" }));
        assert!(matches!(signed, Err(ApiError::Internal(_))), "{signed:?}");
    }

    #[test]
    fn a_seed_of_the_wrong_length_is_corrupt() {
        assert!(matches!(Signer::new("k", &[7; 31]), Err(StoreError::Corrupt(_))));
    }
}
