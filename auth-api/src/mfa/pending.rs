//! The `mfa_token` that names a pending sign-in: 256 random bits, base64url,
//! stored only as its SHA-256 (as refresh tokens are).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use crate::tokens::random_bytes;

/// How long a correct password waits for its second factor (seconds).
pub const TTL: i64 = 300;
/// Wrong codes one pending sign-in may take; the last discards it.
pub const MAX_FAILURES: u32 = 5;

/// A fresh token and the hash to store for it.
pub fn mint() -> (String, [u8; 32]) {
    let token = URL_SAFE_NO_PAD.encode(random_bytes::<32>());
    let hash = hash(&token);
    (token, hash)
}

pub fn hash(presented: &str) -> [u8; 32] {
    Sha256::digest(presented.as_bytes()).into()
}
