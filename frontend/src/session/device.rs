//! The device cookie, after OWASP's "Slow Down Online Guessing Attacks with
//! Device Cookies": a browser that signed in successfully as a user gets a
//! long-lived cookie, sealed like the session cookie (AEAD under
//! `COOKIE_KEYS`, `HttpOnly`), naming that user and a random id. On the
//! next sign-in as that user the frontend passes the id to the auth-api,
//! which then judges the attempt on that device's own failures only: no
//! amount of guessing elsewhere can lock the user out of a browser they used
//! before (`auth-api/src/throttle.rs`).
//!
//! One cookie holds the entries of the last few users who signed in here
//! (a shared family computer). It never authenticates anyone by itself:
//! the password is still required; it only decides whose failures count.

use actix_web::http::header::HeaderMap;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use cookie::{Cookie, SameSite};
use serde::{Deserialize, Serialize};

use super::cookie::CookieCodec;

const VERSION: u8 = 1;
/// How long a browser stays trusted for a user it has not signed in since.
const LIFETIME: time::Duration = time::Duration::days(365);
/// Users remembered per browser, most recent first.
const MAX_USERS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Devices {
    #[serde(rename = "v")]
    version: u8,
    #[serde(rename = "d")]
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    /// The username, normalised as the auth-api does.
    #[serde(rename = "u")]
    user: String,
    /// 128 random bits, base64url: the auth-api's throttling key.
    #[serde(rename = "i")]
    id: String,
}

/// `Alice ` and `alice` are one user (the auth-api's `Username::parse`).
fn normalise(username: &str) -> String {
    username.trim().to_ascii_lowercase()
}

impl CookieCodec {
    /// `__Host-` when `Secure`, like the session cookie.
    pub fn device_cookie_name(&self) -> &'static str {
        if self.secure() { "__Host-cloakroom-device" } else { "cloakroom-device" }
    }

    fn devices(&self, headers: &HeaderMap) -> Option<Devices> {
        let plain = self.open_named(headers, self.device_cookie_name())?;
        serde_json::from_str::<Devices>(&plain).ok().filter(|d| d.version == VERSION)
    }

    /// The id of this browser's device cookie for `username`, if it carries
    /// a valid one.
    pub fn device_id(&self, headers: &HeaderMap, username: &str) -> Option<String> {
        let user = normalise(username);
        self.devices(headers)?.entries.into_iter().find(|e| e.user == user).map(|e| e.id)
    }

    /// The `Set-Cookie` value after `username` signed in here: their entry
    /// (kept, or made with a fresh id) first, the others after it, and the
    /// cookie's year renewed.
    pub fn device_after_sign_in(&self, headers: &HeaderMap, username: &str) -> String {
        let user = normalise(username);
        let mut entries = self.devices(headers).map(|d| d.entries).unwrap_or_default();
        let entry = match entries.iter().position(|e| e.user == user) {
            Some(i) => entries.remove(i),
            None => Entry { user, id: new_id() },
        };
        entries.insert(0, entry);
        entries.truncate(MAX_USERS);
        let plain = serde_json::to_string(&Devices { version: VERSION, entries })
            .expect("device entries always serialize");
        let name = self.device_cookie_name();
        Cookie::build((name, self.seal_value(name, plain)))
            .http_only(true)
            .secure(self.secure())
            // Only our own sign-in form needs it.
            .same_site(SameSite::Strict)
            .path("/")
            .max_age(LIFETIME)
            .build()
            .to_string()
    }
}

fn new_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).expect("the OS random number generator is unavailable");
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{self, HeaderValue};
    use cookie::Key;

    use super::*;
    use crate::session::cookie::test_support::{codec, sent};

    #[test]
    fn a_device_cookie_vouches_for_the_users_who_signed_in_with_it_only() {
        let key = Key::generate();
        let c = codec(&key);
        let first = c.device_after_sign_in(&HeaderMap::new(), "Alice");
        let parsed = Cookie::parse(first.clone()).unwrap();
        assert_eq!(parsed.name(), "__Host-cloakroom-device");
        assert_eq!(parsed.http_only(), Some(true));
        assert_eq!(parsed.secure(), Some(true));
        assert_eq!(parsed.same_site(), Some(SameSite::Strict));
        assert!(!parsed.value().contains("alice"), "sealed");

        let id = c.device_id(&sent(&first), "alice").expect("alice's entry");
        assert_eq!(id.len(), 22);
        assert_eq!(c.device_id(&sent(&first), " ALICE "), Some(id.clone()));
        assert_eq!(c.device_id(&sent(&first), "bob"), None);

        // Bob signs in on the same browser: both are vouched for, ids kept.
        let both = c.device_after_sign_in(&sent(&first), "bob");
        assert_eq!(c.device_id(&sent(&both), "alice"), Some(id));
        assert!(c.device_id(&sent(&both), "bob").is_some());
    }

    #[test]
    fn forged_foreign_and_session_cookies_vouch_for_nobody() {
        let key = Key::generate();
        let c = codec(&key);
        let other = codec(&Key::generate()).device_after_sign_in(&HeaderMap::new(), "alice");
        assert_eq!(c.device_id(&sent(&other), "alice"), None, "another key's cookie");
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("__Host-cloakroom-device=garbage"));
        assert_eq!(c.device_id(&headers, "alice"), None);
        // A session cookie's sealed value under the device cookie's name does not open.
        let session = codec(&key).seal_value("__Host-cloakroom", "{}".into());
        let mut headers = HeaderMap::new();
        let forged = format!("__Host-cloakroom-device={session}");
        headers.insert(header::COOKIE, HeaderValue::from_str(&forged).unwrap());
        assert_eq!(c.device_id(&headers, "alice"), None);
    }

    #[test]
    fn the_cookie_remembers_a_bounded_number_of_users_most_recent_first() {
        let c = codec(&Key::generate());
        let mut set = c.device_after_sign_in(&HeaderMap::new(), "u0");
        for i in 1..=MAX_USERS {
            set = c.device_after_sign_in(&sent(&set), &format!("u{i}"));
        }
        assert!(c.device_id(&sent(&set), "u0").is_none(), "the oldest went");
        assert!(c.device_id(&sent(&set), &format!("u{MAX_USERS}")).is_some());
        assert!(set.len() < 2048, "{} bytes", set.len());
    }
}
