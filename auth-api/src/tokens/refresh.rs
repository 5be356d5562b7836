//! Refresh tokens: 256 random bits, base64url, opaque to everyone but this
//! service, stored only as SHA-256 hashes.
//!
//! Rotation keeps the successor of a rotated-out token sealed under a one-time
//! pad derived from the old token itself (`SHA-256(domain || old)`). Whoever
//! presents the old token inside the grace window can therefore be handed the
//! *same* successor again, yet a copy of the database alone reveals no usable
//! token: it holds hashes and pads it cannot compute.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::random_bytes;

/// A refresh token in the clear. Exists only in memory on its way to the client.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

pub type TokenHash = [u8; 32];

const SEAL_DOMAIN: &[u8] = b"cloakroom/refresh-successor/v1";

impl RefreshToken {
    /// A fresh token and the hash to store for it.
    pub fn mint() -> (Self, TokenHash) {
        Self::from_raw(random_bytes::<32>())
    }

    fn from_raw(raw: [u8; 32]) -> (Self, TokenHash) {
        let token = Self(URL_SAFE_NO_PAD.encode(raw));
        let hash = hash(&token.0);
        (token, hash)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The storage key of a presented token. Any string hashes; an unknown one
/// simply finds no row.
pub fn hash(presented: &str) -> TokenHash {
    Sha256::digest(presented.as_bytes()).into()
}

fn pad(old: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(SEAL_DOMAIN);
    h.update(old.as_bytes());
    h.finalize().into()
}

/// Mints the successor of `old`: the token, its hash, and the sealed form that
/// `open_successor(old, ..)` turns back into the same token.
pub fn mint_successor(old: &str) -> (RefreshToken, TokenHash, [u8; 32]) {
    let raw = random_bytes::<32>();
    let pad = pad(old);
    let sealed: [u8; 32] = std::array::from_fn(|i| raw[i] ^ pad[i]);
    let (token, hash) = RefreshToken::from_raw(raw);
    (token, hash, sealed)
}

/// Recovers the successor sealed by `mint_successor(old)`, checking it against
/// the stored hash (constant time) so a corrupt row yields nothing.
pub fn open_successor(old: &str, sealed: &[u8], expected_hash: &[u8]) -> Option<RefreshToken> {
    let sealed: &[u8; 32] = sealed.try_into().ok()?;
    let pad = pad(old);
    let raw: [u8; 32] = std::array::from_fn(|i| sealed[i] ^ pad[i]);
    let (token, hash) = RefreshToken::from_raw(raw);
    bool::from(hash.ct_eq(expected_hash)).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_chars_of_base64url_and_unique() {
        let (a, ha) = RefreshToken::mint();
        let (b, _) = RefreshToken::mint();
        assert_eq!(a.expose().len(), 43);
        assert!(a.expose().bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(a, b);
        assert_eq!(hash(a.expose()), ha);
    }

    #[test]
    fn the_old_token_opens_its_successor_and_nothing_else_does() {
        let (old, _) = RefreshToken::mint();
        let (succ, succ_hash, sealed) = mint_successor(old.expose());
        assert_eq!(open_successor(old.expose(), &sealed, &succ_hash), Some(succ.clone()));
        let (other, _) = RefreshToken::mint();
        assert_eq!(open_successor(other.expose(), &sealed, &succ_hash), None);
        // The sealed bytes are not the token.
        assert_ne!(URL_SAFE_NO_PAD.encode(sealed), succ.expose());
    }

    #[test]
    fn debug_is_redacted() {
        let (t, _) = RefreshToken::mint();
        assert!(!format!("{t:?}").contains(t.expose()));
    }
}
