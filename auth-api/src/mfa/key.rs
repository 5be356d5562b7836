//! `MFA_ENCRYPTION_KEY`: the secrets that protect second factors at rest.
//! Two keys are derived from each with HKDF-SHA-256, one per purpose, so
//! neither use can be turned against the other:
//!
//! - authenticator-app keys are sealed with AES-256-GCM under a random
//!   96-bit nonce, with the user id as associated data: a sealed key copied
//!   onto another user's row does not open;
//! - recovery codes are stored as HMAC-SHA-256 of user id and code: a copy
//!   of the database without this key cannot test guesses offline, which a
//!   plain hash of a 50-bit code would allow.
//!
//! The variable is a list, so the key rotates with no outage ([`MfaKeys`]):
//! the first seals and HMACs what is new, every one opens and verifies.
//! What each key made records its [`KeyId`], a short value derived from the
//! key (never the key): a sealed value carries it inside (format 2), a
//! recovery code's row beside its hash (`recovery_codes.key_id`).

use std::fmt;

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{error::ApiError, tokens::random_bytes};

/// First byte of a sealed value from before key ids: no key id follows.
const SEALED_V1: u8 = 1;
/// First byte of a sealed value that names its key: `2 ‖ key id ‖ nonce ‖
/// ciphertext`, the first nine bytes bound in as associated data.
const SEALED_V2: u8 = 2;
const NONCE_LEN: usize = 12;
const KEY_ID_LEN: usize = 8;

/// Which key made a sealed value or a recovery code's hash: the first 8
/// bytes HKDF derives from the key for this purpose alone, shown as 16 hex
/// digits. It identifies a key without revealing anything of it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; KEY_ID_LEN]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// One key of `MFA_ENCRYPTION_KEY`, with what is derived from it.
#[derive(Clone)]
pub struct MfaKey {
    id: KeyId,
    cipher: Aes256Gcm,
    mac_key: [u8; 32],
}

impl fmt::Debug for MfaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MfaKey({}, redacted)", self.id)
    }
}

impl MfaKey {
    pub fn from_bytes(master: &[u8; 32]) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(b"cloakroom/mfa/v1"), master);
        let mut encryption = [0u8; 32];
        let mut mac_key = [0u8; 32];
        let mut id = [0u8; KEY_ID_LEN];
        // Far below HKDF-SHA-256's limit: these cannot fail.
        hkdf.expand(b"totp-secret-encryption", &mut encryption).expect("valid HKDF length");
        hkdf.expand(b"recovery-code-hmac", &mut mac_key).expect("valid HKDF length");
        hkdf.expand(b"key-id", &mut id).expect("valid HKDF length");
        Self { id: KeyId(id), cipher: Aes256Gcm::new(&encryption.into()), mac_key }
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    /// `secret`, sealed for `user_id`'s row, naming this key (format 2).
    pub fn seal(&self, user_id: &str, secret: &[u8]) -> Vec<u8> {
        let mut header = [0u8; 1 + KEY_ID_LEN];
        header[0] = SEALED_V2;
        header[1..].copy_from_slice(&self.id.0);
        let nonce = random_bytes::<NONCE_LEN>();
        let aad = [&header[..], user_id.as_bytes()].concat();
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: secret, aad: &aad })
            .expect("AES-GCM encrypts any message this short");
        [&header[..], &nonce, &sealed].concat()
    }

    /// Opens `ciphertext` (after its nonce) with `aad`; `None` if this key
    /// did not seal it for that, or it was altered.
    fn decrypt(&self, nonce_and_ciphertext: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        if nonce_and_ciphertext.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = nonce_and_ciphertext.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        self.cipher.decrypt(&Nonce::from(nonce), Payload { msg: ciphertext, aad }).ok()
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

/// Why `MFA_ENCRYPTION_KEY` was refused. No message shows a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidKey {
    #[error(
        "MFA_ENCRYPTION_KEY entry {0} must be 32 random bytes in base64 (e.g. `openssl rand -base64 32`)"
    )]
    NotAKey(usize),
    #[error("MFA_ENCRYPTION_KEY entry {0} repeats entry {1}")]
    Repeated(usize, usize),
}

/// Why a sealed value did not open: the service's failure, never the
/// user's, and each says what an operator can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error(
        "sealed under MFA_ENCRYPTION_KEY key {0}, which the variable no longer lists: \
         list that key again (after the current one) and run `auth-api mfa rekey`"
    )]
    UnknownKey(KeyId),
    #[error("does not open under any key MFA_ENCRYPTION_KEY lists (altered, or from another key)")]
    DoesNotOpen,
    #[error("is not a sealed value this version knows")]
    Malformed,
}

/// Whose key made a sealed value, read from its header alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedBy {
    /// The first key of the list: nothing to do.
    Current,
    /// Another key, listed or not: `mfa rekey` re-seals it.
    Other(KeyId),
    /// Format 1, from before key ids: made by whichever key was configured.
    Unrecorded,
    Malformed,
}

/// `MFA_ENCRYPTION_KEY`: one key or more, comma-separated. The first seals
/// new authenticator-app keys and HMACs new recovery codes; every one opens
/// and verifies what it made. Never empty.
#[derive(Clone)]
pub struct MfaKeys(Vec<MfaKey>);

impl fmt::Debug for MfaKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter().map(|k| k.id)).finish()
    }
}

impl From<MfaKey> for MfaKeys {
    fn from(key: MfaKey) -> Self {
        Self(vec![key])
    }
}

impl MfaKeys {
    /// Parses the variable: base64 keys of 32 bytes, comma-separated, no
    /// entry empty or repeated.
    pub fn parse(text: &str) -> Result<Self, InvalidKey> {
        let mut keys: Vec<MfaKey> = Vec::new();
        for (i, entry) in text.split(',').enumerate() {
            let bytes = STANDARD.decode(entry.trim()).map_err(|_| InvalidKey::NotAKey(i + 1))?;
            let master: [u8; 32] = bytes.try_into().map_err(|_| InvalidKey::NotAKey(i + 1))?;
            let key = MfaKey::from_bytes(&master);
            if let Some(j) = keys.iter().position(|k| k.id == key.id) {
                return Err(InvalidKey::Repeated(i + 1, j + 1));
            }
            keys.push(key);
        }
        Ok(Self(keys))
    }

    /// The keys, first first (at least one).
    pub fn from_keys(keys: Vec<MfaKey>) -> Self {
        assert!(!keys.is_empty(), "at least one MFA key");
        Self(keys)
    }

    /// The key that seals and HMACs what is new.
    pub fn current(&self) -> &MfaKey {
        &self.0[0]
    }

    pub fn ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        self.0.iter().map(|k| k.id)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `secret`, sealed for `user_id`'s row under the current key.
    pub fn seal(&self, user_id: &str, secret: &[u8]) -> Vec<u8> {
        self.current().seal(user_id, secret)
    }

    /// The secret sealed for `user_id`, by whichever listed key sealed it.
    pub fn open(&self, user_id: &str, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        match sealed.split_first() {
            Some((&SEALED_V2, rest)) if rest.len() >= KEY_ID_LEN => {
                let (id, body) = rest.split_at(KEY_ID_LEN);
                let id = KeyId(id.try_into().map_err(|_| OpenError::Malformed)?);
                let key = self.0.iter().find(|k| k.id == id).ok_or(OpenError::UnknownKey(id))?;
                let aad = [&sealed[..1 + KEY_ID_LEN], user_id.as_bytes()].concat();
                key.decrypt(body, &aad).ok_or(OpenError::DoesNotOpen)
            }
            // Before key ids: one of the listed keys made it (the one
            // configured then); AES-GCM tells which, by opening.
            Some((&SEALED_V1, body)) => self
                .0
                .iter()
                .find_map(|k| k.decrypt(body, user_id.as_bytes()))
                .ok_or(OpenError::DoesNotOpen),
            _ => Err(OpenError::Malformed),
        }
    }

    /// An authenticator app's key sealed for `user_id`. One that does not
    /// open (`MFA_ENCRYPTION_KEY` changed, the row altered) is the service's
    /// failure, never the user's: a 500 with the reason in the log, not a
    /// wrong code.
    pub fn open_totp(&self, user_id: &str, sealed: &[u8]) -> Result<Vec<u8>, ApiError> {
        self.open(user_id, sealed)
            .map_err(|e| ApiError::Internal(format!("the TOTP key of user {user_id} {e}")))
    }

    /// Who sealed `sealed`, from its header (nothing is decrypted).
    pub fn sealed_by(&self, sealed: &[u8]) -> SealedBy {
        match sealed.split_first() {
            Some((&SEALED_V2, rest)) if rest.len() >= KEY_ID_LEN => {
                let mut id = [0u8; KEY_ID_LEN];
                id.copy_from_slice(&rest[..KEY_ID_LEN]);
                match KeyId(id) == self.current().id {
                    true => SealedBy::Current,
                    false => SealedBy::Other(KeyId(id)),
                }
            }
            Some((&SEALED_V1, _)) => SealedBy::Unrecorded,
            _ => SealedBy::Malformed,
        }
    }

    /// The hashes `code` would be stored as under each listed key, current
    /// first: a code made under an older key still listed is still good.
    pub fn recovery_candidates(&self, user_id: &str, code: &str) -> Vec<Vec<u8>> {
        self.0.iter().map(|k| k.recovery_hash(user_id, code)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> MfaKey {
        MfaKey::from_bytes(&[byte; 32])
    }

    fn ring(bytes: &[u8]) -> MfaKeys {
        MfaKeys::from_keys(bytes.iter().map(|&b| key(b)).collect())
    }

    /// A sealed value of format 1, as versions before key ids wrote it.
    fn sealed_v1(key: &MfaKey, user_id: &str, secret: &[u8]) -> Vec<u8> {
        let nonce = random_bytes::<NONCE_LEN>();
        let payload = Payload { msg: secret, aad: user_id.as_bytes() };
        let sealed = key.cipher.encrypt(&Nonce::from(nonce), payload).unwrap();
        [&[SEALED_V1][..], &nonce, &sealed].concat()
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_user_and_a_listed_key() {
        let one = ring(&[1]);
        let sealed = one.seal("user-a", b"twenty bytes secret!");
        assert_eq!(one.open("user-a", &sealed).unwrap(), b"twenty bytes secret!");
        assert_eq!(one.open("user-b", &sealed), Err(OpenError::DoesNotOpen), "bound to the user");
        assert_eq!(ring(&[2]).open("user-a", &sealed), Err(OpenError::UnknownKey(key(1).id())));
        assert_eq!(ring(&[2, 1]).open("user-a", &sealed).unwrap(), b"twenty bytes secret!");
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(one.open("user-a", &altered), Err(OpenError::DoesNotOpen));
        // The key id is bound in too: naming another listed key fails cleanly.
        let mut renamed = sealed.clone();
        renamed[1..9].copy_from_slice(&key(2).id().0);
        assert_eq!(ring(&[1, 2]).open("user-a", &renamed), Err(OpenError::DoesNotOpen));
        for junk in [&[][..], &[2, 1, 2], &[9; 40], &[1, 0]] {
            assert!(one.open("user-a", junk).is_err(), "{junk:?} is an error, not a panic");
        }
        assert_ne!(one.seal("user-a", b"x"), one.seal("user-a", b"x"), "fresh nonces");
    }

    #[test]
    fn values_sealed_before_key_ids_open_under_whichever_listed_key_made_them() {
        let old = sealed_v1(&key(1), "user-a", b"secret");
        assert_eq!(ring(&[1]).open("user-a", &old).unwrap(), b"secret");
        assert_eq!(ring(&[2, 1]).open("user-a", &old).unwrap(), b"secret");
        assert_eq!(ring(&[2]).open("user-a", &old), Err(OpenError::DoesNotOpen));
        assert_eq!(ring(&[2, 1]).sealed_by(&old), SealedBy::Unrecorded);
    }

    #[test]
    fn the_header_says_whose_key_sealed_a_value() {
        let rotated = ring(&[2, 1]);
        assert_eq!(rotated.sealed_by(&ring(&[2]).seal("u", b"x")), SealedBy::Current);
        assert_eq!(rotated.sealed_by(&ring(&[1]).seal("u", b"x")), SealedBy::Other(key(1).id()));
        assert_eq!(rotated.sealed_by(&[7, 7]), SealedBy::Malformed);
    }

    #[test]
    fn recovery_hashes_depend_on_user_code_and_key_and_every_listed_key_is_tried() {
        let h = key(1).recovery_hash("u", "abcde12345");
        assert_eq!(h, key(1).recovery_hash("u", "abcde12345"));
        assert_ne!(h, key(1).recovery_hash("v", "abcde12345"));
        assert_ne!(h, key(1).recovery_hash("u", "abcde12346"));
        assert_ne!(h, key(2).recovery_hash("u", "abcde12345"));
        let new = key(2).recovery_hash("u", "abcde12345");
        assert_eq!(ring(&[2, 1]).current().id(), key(2).id(), "the first makes new codes");
        assert_eq!(ring(&[2, 1]).recovery_candidates("u", "abcde12345"), [new, h]);
    }

    #[test]
    fn the_variable_is_a_list_of_distinct_32_byte_base64_keys() {
        let (a, b) = (STANDARD.encode([7u8; 32]), STANDARD.encode([8u8; 32]));
        let keys = MfaKeys::parse(&format!("{a}, {b}")).unwrap();
        assert_eq!(keys.ids().collect::<Vec<_>>(), [key(7).id(), key(8).id()]);
        assert_eq!(MfaKeys::parse(&a).unwrap().len(), 1);
        let short = STANDARD.encode([7u8; 16]);
        assert_eq!(MfaKeys::parse(&short).unwrap_err(), InvalidKey::NotAKey(1));
        assert_eq!(MfaKeys::parse("not base64!").unwrap_err(), InvalidKey::NotAKey(1));
        assert_eq!(MfaKeys::parse(&format!("{a},")).unwrap_err(), InvalidKey::NotAKey(2));
        assert_eq!(
            MfaKeys::parse(&format!("{a},{b},{a}")).unwrap_err(),
            InvalidKey::Repeated(3, 1)
        );
        let shown = format!("{keys:?} {:?}", key(7));
        assert!(!shown.contains(&a) && shown.contains(&key(7).id().to_string()), "{shown}");
    }

    #[test]
    fn key_ids_are_short_hex_and_differ_between_keys() {
        let id = key(1).id().to_string();
        assert_eq!(id.len(), 16);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(key(1).id(), key(2).id());
    }
}
