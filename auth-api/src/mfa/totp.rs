//! Authenticator-app codes (RFC 6238) with the defaults every app accepts:
//! HMAC-SHA-1, six digits, 30-second steps, a 160-bit key. A code is
//! accepted for its own step and one either side (clock drift); which step
//! matched is returned, so the store can refuse it the second time.

use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

use crate::tokens::random_bytes;

/// Shown in the user's app above the account name.
pub const ISSUER: &str = "Cloakroom";
pub const STEP_SECONDS: i64 = 30;
const DIGITS: usize = 6;

/// A fresh 160-bit key (RFC 4226 §4 recommends 160).
pub fn new_secret() -> [u8; 20] {
    random_bytes::<20>()
}

/// The key as people type it: RFC 4648 base32, no padding (160 bits are
/// exactly 32 characters).
pub fn base32(secret: &[u8]) -> String {
    totp_rs::Secret::Raw(secret.to_vec()).to_encoded().to_string()
}

/// The `otpauth://` URI apps read from the QR code (Google's Key URI Format):
/// issuer in the label and as a parameter, the defaults spelled out.
pub fn otpauth_uri(secret: &[u8], username: &str) -> String {
    let label = format!("{ISSUER}:{username}");
    format!(
        "otpauth://totp/{}?secret={}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        percent_encode(&label),
        base32(secret),
    )
}

/// The step `code` belongs to, if it is right at `now` (± one step).
/// Every candidate is computed and compared in constant time.
pub fn matching_step(secret: &[u8], code: &str, now: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp =
        TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 0, STEP_SECONDS as u64, secret.to_vec());
    let current = now.div_euclid(STEP_SECONDS);
    let mut found = None;
    for step in [current - 1, current, current + 1] {
        let Ok(time) = u64::try_from(step * STEP_SECONDS) else { continue };
        let expected = totp.generate(time);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// The code of `step` (for tests that play the user's app).
pub fn code_at(secret: &[u8], step: i64) -> String {
    let totp =
        TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 0, STEP_SECONDS as u64, secret.to_vec());
    totp.generate(u64::try_from(step * STEP_SECONDS).unwrap_or(0))
}

/// RFC 3986 unreserved characters stay; everything else is %-encoded.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes a base32 key as apps show it (tests read it off the page).
pub fn decode_base32(text: &str) -> Option<Vec<u8>> {
    totp_rs::Secret::Encoded(text.to_owned()).to_bytes().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 (eight digits there; six are the last six).
    #[test]
    fn codes_match_the_rfc_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, eight) in [(59, "94287082"), (1111111109, "07081804"), (2000000000, "69279037")]
        {
            let step = time / STEP_SECONDS;
            assert_eq!(code_at(secret, step), &eight[2..], "at {time}");
            assert_eq!(matching_step(secret, &eight[2..], time), Some(step));
        }
    }

    #[test]
    fn one_step_of_drift_either_way_and_no_more() {
        let secret = b"12345678901234567890";
        let now = 1_700_000_000;
        let step = now / STEP_SECONDS;
        for drift in [-1, 0, 1] {
            assert_eq!(
                matching_step(secret, &code_at(secret, step + drift), now),
                Some(step + drift)
            );
        }
        for drift in [-2, 2] {
            assert_eq!(matching_step(secret, &code_at(secret, step + drift), now), None);
        }
        assert_eq!(matching_step(secret, "12345", now), None);
        assert_eq!(matching_step(secret, "abcdef", now), None);
        let spaced = code_at(secret, step);
        let spaced = format!("{} {}", &spaced[..3], &spaced[3..]);
        assert_eq!(matching_step(secret, &spaced, now), Some(step), "spaces are ignored");
    }

    #[test]
    fn the_key_is_base32_without_padding_and_the_uri_names_the_issuer() {
        let secret = [0xAB; 20];
        let text = base32(&secret);
        assert_eq!(text.len(), 32);
        assert!(!text.contains('='));
        assert_eq!(decode_base32(&text).as_deref(), Some(&secret[..]));
        let uri = otpauth_uri(&secret, "alice@example");
        assert!(uri.starts_with("otpauth://totp/Cloakroom%3Aalice%40example?secret="), "{uri}");
        assert!(uri.contains("&issuer=Cloakroom&algorithm=SHA1&digits=6&period=30"), "{uri}");
    }
}
