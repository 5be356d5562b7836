//! The pending sign-in cookie: between a right password and the second
//! factor, this browser holds the auth-api's `mfa_token` sealed like the
//! session cookie (AEAD under `COOKIE_KEYS`, the name authenticated with
//! it), `HttpOnly`, `SameSite=Strict`, for the five minutes the pending
//! sign-in lives. Another browser has no such cookie, so it has nothing to
//! finish the sign-in with; and the token never reaches a page or a URL.

use actix_web::http::header::HeaderMap;
use cookie::{Cookie, SameSite};
use serde::{Deserialize, Serialize};
use shared::{Factor, MfaChallenge};

use super::cookie::CookieCodec;

const VERSION: u8 = 1;

/// What `/login/verify` needs to finish a sign-in.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSignIn {
    #[serde(rename = "v")]
    version: u8,
    #[serde(rename = "t")]
    pub mfa_token: String,
    /// Shown on the page ("Signing in as …").
    #[serde(rename = "u")]
    pub username: String,
    /// Where to go afterwards (already judged by `safe_next`).
    #[serde(rename = "n")]
    pub next: String,
    #[serde(rename = "f")]
    pub factors: Vec<Factor>,
    /// Unix seconds.
    #[serde(rename = "e")]
    pub expires_at: i64,
}

impl std::fmt::Debug for PendingSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingSignIn")
            .field("username", &self.username)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl PendingSignIn {
    pub fn new(challenge: MfaChallenge, username: String, next: String, now: i64) -> Self {
        Self {
            version: VERSION,
            expires_at: now + challenge.expires_in as i64,
            mfa_token: challenge.mfa_token,
            username,
            next,
            factors: challenge.factors,
        }
    }
}

impl CookieCodec {
    /// `__Host-` when `Secure`, like the session cookie.
    pub fn pending_cookie_name(&self) -> &'static str {
        if self.secure() { "__Host-cloakroom-mfa" } else { "cloakroom-mfa" }
    }

    /// This browser's pending sign-in, if it has one that has not expired.
    pub fn pending_sign_in(&self, headers: &HeaderMap, now: i64) -> Option<PendingSignIn> {
        let plain = self.open_named(headers, self.pending_cookie_name())?;
        serde_json::from_str::<PendingSignIn>(&plain)
            .ok()
            .filter(|p| p.version == VERSION && p.expires_at > now)
    }

    /// The `Set-Cookie` value that holds `pending` until it expires.
    pub fn seal_pending(&self, pending: &PendingSignIn, now: i64) -> String {
        let plain = serde_json::to_string(pending).expect("a pending sign-in always serializes");
        let name = self.pending_cookie_name();
        let mut cookie = self.pending_cookie(self.seal_value(name, plain));
        cookie.set_max_age(time::Duration::seconds((pending.expires_at - now).max(0)));
        cookie.to_string()
    }

    /// The `Set-Cookie` value that deletes it.
    pub fn clear_pending(&self) -> String {
        let mut cookie = self.pending_cookie(String::new());
        cookie.set_max_age(time::Duration::ZERO);
        cookie.to_string()
    }

    fn pending_cookie(&self, value: String) -> Cookie<'static> {
        Cookie::build((self.pending_cookie_name(), value))
            .http_only(true)
            .secure(self.secure())
            // Only our own sign-in pages use it.
            .same_site(SameSite::Strict)
            .path("/")
            .build()
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{self, HeaderValue};
    use cookie::Key;

    use super::*;
    use crate::session::cookie::test_support::{codec, sent};

    fn challenge() -> MfaChallenge {
        MfaChallenge {
            mfa_token: "secret-mfa-token".into(),
            expires_in: 300,
            factors: vec![Factor::Otp, Factor::RecoveryCode],
        }
    }

    #[test]
    fn the_cookie_is_sealed_strict_and_lives_as_long_as_the_pending_sign_in() {
        let c = codec(&Key::generate());
        let pending = PendingSignIn::new(challenge(), "alice".into(), "/admin".into(), 1_000);
        let set = c.seal_pending(&pending, 1_000);
        let parsed = Cookie::parse(set.clone()).unwrap();
        assert_eq!(parsed.name(), "__Host-cloakroom-mfa");
        assert_eq!(parsed.http_only(), Some(true));
        assert_eq!(parsed.secure(), Some(true));
        assert_eq!(parsed.same_site(), Some(SameSite::Strict));
        assert_eq!(parsed.max_age(), Some(time::Duration::seconds(300)));
        assert!(!set.contains("secret-mfa-token") && !set.contains("alice"), "sealed");

        let opened = c.pending_sign_in(&sent(&set), 1_299).expect("still pending");
        assert_eq!(
            (opened.mfa_token.as_str(), opened.next.as_str()),
            ("secret-mfa-token", "/admin")
        );
        assert!(c.pending_sign_in(&sent(&set), 1_300).is_none(), "expired");
        assert!(!format!("{opened:?}").contains("secret-mfa-token"));
    }

    #[test]
    fn another_keys_or_another_cookies_value_does_not_open() {
        let key = Key::generate();
        let pending = PendingSignIn::new(challenge(), "alice".into(), "/".into(), 1_000);
        let other = codec(&Key::generate()).seal_pending(&pending, 1_000);
        assert!(codec(&key).pending_sign_in(&sent(&other), 1_000).is_none());
        let device = codec(&key).device_after_sign_in(&HeaderMap::new(), "alice");
        let value = Cookie::parse(device).unwrap().value().to_owned();
        let forged = format!("__Host-cloakroom-mfa={value}");
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(&forged).unwrap());
        assert!(codec(&key).pending_sign_in(&headers, 1_000).is_none());
    }
}
