//! `MFA_ENCRYPTION_KEY`: the one secret that protects second factors at
//! rest. Two keys are derived from it with HKDF-SHA-256, one per purpose, so
//! neither use can be turned against the other:
//!
//! - authenticator-app keys are sealed with AES-256-GCM under a random
//!   96-bit nonce, with the user id as associated data: a sealed key copied
//!   onto another user's row does not open;
//! - recovery codes are stored as HMAC-SHA-256 of user id and code: a copy
//!   of the database without this key cannot test guesses offline, which a
//!   plain hash of a 50-bit code would allow.

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{error::ApiError, tokens::random_bytes};

/// First byte of every sealed value: the format, should it ever change.
const SEALED_V1: u8 = 1;
const NONCE_LEN: usize = 12;

#[derive(Clone)]
pub struct MfaKey {
    cipher: Aes256Gcm,
    mac_key: [u8; 32],
}

impl std::fmt::Debug for MfaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MfaKey(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("MFA_ENCRYPTION_KEY must be 32 random bytes in base64 (e.g. `openssl rand -base64 32`)")]
pub struct InvalidKey;

impl MfaKey {
    pub fn from_base64(text: &str) -> Result<Self, InvalidKey> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| InvalidKey)?;
        let master: [u8; 32] = bytes.try_into().map_err(|_| InvalidKey)?;
        Ok(Self::from_bytes(&master))
    }

    pub fn from_bytes(master: &[u8; 32]) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(b"cloakroom/mfa/v1"), master);
        let mut encryption = [0u8; 32];
        let mut mac_key = [0u8; 32];
        // 32 bytes is far below HKDF-SHA-256's limit: these cannot fail.
        hkdf.expand(b"totp-secret-encryption", &mut encryption).expect("valid HKDF length");
        hkdf.expand(b"recovery-code-hmac", &mut mac_key).expect("valid HKDF length");
        Self { cipher: Aes256Gcm::new(&encryption.into()), mac_key }
    }

    /// `secret`, sealed for `user_id`'s row.
    pub fn seal(&self, user_id: &str, secret: &[u8]) -> Vec<u8> {
        let nonce = random_bytes::<NONCE_LEN>();
        let payload = Payload { msg: secret, aad: user_id.as_bytes() };
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), payload)
            .expect("AES-GCM encrypts any message this short");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// The secret sealed for `user_id`, or `None` if it was sealed under
    /// another key, for another user, or altered.
    pub fn open(&self, user_id: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        let (&version, rest) = sealed.split_first()?;
        if version != SEALED_V1 || rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        let payload = Payload { msg: ciphertext, aad: user_id.as_bytes() };
        self.cipher.decrypt(&Nonce::from(nonce), payload).ok()
    }

    /// An authenticator app's key sealed for `user_id`. One that does not
    /// open (`MFA_ENCRYPTION_KEY` changed, the row altered) is the service's
    /// failure, never the user's: a 500, not a wrong code.
    pub fn open_totp(&self, user_id: &str, sealed: &[u8]) -> Result<Vec<u8>, ApiError> {
        self.open(user_id, sealed)
            .ok_or_else(|| ApiError::Internal("a TOTP key that does not open".into()))
    }

    /// The stored form of recovery code `code` (normalised) of `user_id`.
    pub fn recovery_hash(&self, user_id: &str, code: &str) -> Vec<u8> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.mac_key).expect("HMAC takes any key");
        mac.update(user_id.as_bytes());
        mac.update(&[0]);
        mac.update(code.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> MfaKey {
        MfaKey::from_bytes(&[byte; 32])
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_user_and_key() {
        let sealed = key(1).seal("user-a", b"twenty bytes secret!");
        assert_eq!(key(1).open("user-a", &sealed).as_deref(), Some(&b"twenty bytes secret!"[..]));
        assert_eq!(key(1).open("user-b", &sealed), None, "bound to the user id");
        assert_eq!(key(2).open("user-a", &sealed), None, "and to the key");
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(key(1).open("user-a", &altered), None);
        assert_eq!(key(1).open("user-a", &[]), None);
        assert_ne!(key(1).seal("user-a", b"x"), key(1).seal("user-a", b"x"), "fresh nonces");
    }

    #[test]
    fn recovery_hashes_depend_on_user_code_and_key() {
        let h = key(1).recovery_hash("u", "abcde12345");
        assert_eq!(h, key(1).recovery_hash("u", "abcde12345"));
        assert_ne!(h, key(1).recovery_hash("v", "abcde12345"));
        assert_ne!(h, key(1).recovery_hash("u", "abcde12346"));
        assert_ne!(h, key(2).recovery_hash("u", "abcde12345"));
    }

    #[test]
    fn the_key_must_be_32_bytes_of_base64() {
        assert!(MfaKey::from_base64(&STANDARD.encode([7u8; 32])).is_ok());
        assert!(MfaKey::from_base64(&STANDARD.encode([7u8; 16])).is_err());
        assert!(MfaKey::from_base64("not base64!").is_err());
        assert!(!format!("{:?}", key(1)).contains('1'));
    }
}
