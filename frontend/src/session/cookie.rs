//! The session cookie: one cookie, sealed with the `cookie` crate's private
//! jar (AES-256-GCM, the cookie name bound in as associated data), holding
//! the refresh token, the session id and a cached access token.
//!
//! Nothing in it is readable or forgeable without a key. `COOKIE_KEYS` is a
//! ring: the first key seals, any key opens, and a cookie opened by an older
//! key is re-sealed with the first, so rotating keys signs no one out.

use cookie::{Cookie, CookieJar, SameSite};
use serde::{Deserialize, Serialize};

use crate::config::CookieKeys;

/// Bumped whenever the record's shape changes; other versions are cleared.
pub const VERSION: u8 = 1;

/// The sealed record. Short field names keep the cookie small (it stays far
/// under the 4 KiB browsers allow; see the tests).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionCookie {
    #[serde(rename = "v")]
    pub version: u8,
    #[serde(rename = "s")]
    pub session_id: String,
    #[serde(rename = "r")]
    pub refresh_token: String,
    #[serde(rename = "a")]
    pub access_token: String,
    /// When `access_token` expires, Unix seconds.
    #[serde(rename = "e")]
    pub access_expires_at: i64,
    /// When the session ends at the latest; a remembered cookie lives until then.
    #[serde(rename = "x")]
    pub session_expires_at: i64,
    #[serde(rename = "m")]
    pub remember: bool,
}

impl std::fmt::Debug for SessionCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCookie")
            .field("session_id", &self.session_id)
            .field("access_expires_at", &self.access_expires_at)
            .field("remember", &self.remember)
            .finish_non_exhaustive()
    }
}

impl SessionCookie {
    pub fn from_tokens(t: &shared::TokenResponse, now: i64) -> Self {
        Self {
            version: VERSION,
            session_id: t.session_id.clone(),
            refresh_token: t.refresh_token.clone(),
            access_token: t.access_token.clone(),
            access_expires_at: now + t.expires_in as i64,
            session_expires_at: t.session_expires_at,
            remember: t.remember,
        }
    }
}

/// What was found in the request.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened {
    Absent,
    /// Present but unreadable: tampered, foreign key, unknown version, garbage.
    Invalid,
    /// Opened; `stale_key` if an older key of the ring opened it.
    Valid {
        cookie: SessionCookie,
        stale_key: bool,
    },
}

#[derive(Clone)]
pub struct CookieCodec {
    keys: CookieKeys,
    secure: bool,
}

impl CookieCodec {
    pub fn new(keys: CookieKeys, secure: bool) -> Self {
        Self { keys, secure }
    }

    /// `__Host-` makes browsers refuse the cookie unless it is `Secure`, has
    /// `Path=/` and no `Domain`: no subdomain can plant or shadow it.
    pub fn name(&self) -> &'static str {
        if self.secure { "__Host-cloakroom" } else { "cloakroom" }
    }

    /// Finds and opens the session cookie among the request's `Cookie` headers.
    pub fn open_from_headers<'a>(&self, headers: impl Iterator<Item = &'a str>) -> Opened {
        match self.find(headers) {
            None => Opened::Absent,
            Some(found) => self.open(found.value()),
        }
    }

    /// The refresh token sealed in a request's session cookie, if it opens.
    pub fn refresh_token_of(&self, headers: &actix_web::http::header::HeaderMap) -> Option<String> {
        let values = headers.get_all(actix_web::http::header::COOKIE);
        match self.open_from_headers(values.filter_map(|v| v.to_str().ok())) {
            Opened::Valid { cookie, .. } => Some(cookie.refresh_token),
            Opened::Absent | Opened::Invalid => None,
        }
    }

    /// The session cookie among the request's `Cookie` headers, still sealed.
    pub fn find<'a>(&self, headers: impl Iterator<Item = &'a str>) -> Option<Cookie<'a>> {
        let name = self.name();
        headers.flat_map(Cookie::split_parse).filter_map(Result::ok).find(|c| c.name() == name)
    }

    pub fn open(&self, raw: &str) -> Opened {
        match self.open_value(self.name(), raw) {
            Some((plain, stale_key)) => match serde_json::from_str::<SessionCookie>(&plain) {
                Ok(cookie) if cookie.version == VERSION => Opened::Valid { cookie, stale_key },
                _ => Opened::Invalid,
            },
            None => Opened::Invalid,
        }
    }

    /// Opens the sealed value of cookie `name` with any key of the ring: the
    /// plaintext, and whether an older key opened it. The name is part of
    /// what is authenticated, so a value sealed for one cookie never opens
    /// as another.
    pub(super) fn open_value(&self, name: &str, raw: &str) -> Option<(String, bool)> {
        let sealed = Cookie::new(name.to_owned(), raw.to_owned());
        self.keys.all().iter().enumerate().find_map(|(i, key)| {
            let jar = CookieJar::new();
            jar.private(key).decrypt(sealed.clone()).map(|plain| (plain.value().to_owned(), i > 0))
        })
    }

    /// Finds cookie `name` among a request's `Cookie` headers and opens it:
    /// the plaintext, if it opens (the session cookie's siblings, which
    /// are sealed the same way, use this).
    pub(super) fn open_named(
        &self,
        headers: &actix_web::http::header::HeaderMap,
        name: &str,
    ) -> Option<String> {
        let found = headers
            .get_all(actix_web::http::header::COOKIE)
            .filter_map(|v| v.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|c| c.name() == name)?;
        self.open_value(name, found.value()).map(|(plain, _)| plain)
    }

    /// Seals `plain` as the value of cookie `name` with the current key.
    pub(super) fn seal_value(&self, name: &str, plain: String) -> String {
        let mut jar = CookieJar::new();
        jar.private_mut(self.keys.current()).add(Cookie::new(name.to_owned(), plain));
        jar.get(name).expect("just added").value().to_owned()
    }

    pub(super) fn secure(&self) -> bool {
        self.secure
    }

    /// The `Set-Cookie` value that stores `value`. Persistent (Max-Age until
    /// the session's absolute end) only with "remember me"; otherwise a
    /// browser-session cookie that dies with the browser.
    pub fn seal(&self, value: &SessionCookie, now: i64) -> String {
        let json = serde_json::to_string(value).expect("a SessionCookie always serializes");
        let mut cookie = self.base(self.seal_value(self.name(), json));
        if value.remember {
            cookie.set_max_age(time::Duration::seconds((value.session_expires_at - now).max(0)));
        }
        cookie.to_string()
    }

    /// The `Set-Cookie` value that deletes the cookie.
    pub fn clear(&self) -> String {
        let mut cookie = self.base(String::new());
        cookie.set_max_age(time::Duration::ZERO);
        cookie.to_string()
    }

    fn base(&self, value: String) -> Cookie<'static> {
        Cookie::build((self.name(), value))
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .path("/")
            .build()
    }
}

#[cfg(test)]
mod tests {
    use cookie::Key;

    use super::*;

    fn record() -> SessionCookie {
        SessionCookie {
            version: VERSION,
            session_id: "3f1c2a4e-0000-4000-8000-123456789abc".into(),
            refresh_token: "R".repeat(43),
            // A realistic access token is ~600 bytes; use a generous 900.
            access_token: format!("eyJ{}", "A".repeat(900)),
            access_expires_at: 1_800_000_300,
            session_expires_at: 1_802_592_000,
            remember: true,
        }
    }

    fn codec(keys: &[&Key], secure: bool) -> CookieCodec {
        CookieCodec::new(CookieKeys::from_keys(keys.iter().map(|k| (*k).clone()).collect()), secure)
    }

    fn value_of(set_cookie: &str) -> String {
        Cookie::parse(set_cookie.to_owned()).unwrap().value().to_owned()
    }

    #[test]
    fn a_sealed_cookie_opens_to_the_same_record_and_reveals_nothing() {
        let key = Key::generate();
        let c = codec(&[&key], true);
        let header = c.seal(&record(), 1_800_000_000);
        let value = value_of(&header);
        assert!(!value.contains("eyJ") && !value.contains("RRRR") && !value.contains("3f1c2a4e"));
        assert_eq!(c.open(&value), Opened::Valid { cookie: record(), stale_key: false });
    }

    #[test]
    fn the_cookie_has_the_designed_name_and_flags_and_stays_small() {
        let key = Key::generate();
        let header = codec(&[&key], true).seal(&record(), 1_800_000_000);
        let parsed = Cookie::parse(header.clone()).unwrap();
        assert_eq!(parsed.name(), "__Host-cloakroom");
        assert_eq!(parsed.http_only(), Some(true));
        assert_eq!(parsed.secure(), Some(true));
        assert_eq!(parsed.same_site(), Some(SameSite::Lax));
        assert_eq!(parsed.path(), Some("/"));
        assert_eq!(parsed.domain(), None);
        assert_eq!(parsed.max_age(), Some(time::Duration::seconds(2_592_000)));
        assert!(header.len() < 2048, "cookie is {} bytes", header.len());

        let plain = codec(&[&key], false);
        let mut session_only = record();
        session_only.remember = false;
        let parsed = Cookie::parse(plain.seal(&session_only, 0)).unwrap();
        assert_eq!(parsed.name(), "cloakroom");
        assert_eq!(parsed.max_age(), None, "without remember me it is a browser-session cookie");
        assert_eq!(parsed.secure(), None);
    }

    #[test]
    fn tampered_foreign_and_garbage_cookies_do_not_open() {
        let key = Key::generate();
        let c = codec(&[&key], true);
        let value = value_of(&c.seal(&record(), 0));
        let mut bytes = value.into_bytes();
        let mid = bytes.len() / 2;
        bytes[mid] = if bytes[mid] == b'A' { b'B' } else { b'A' };
        assert_eq!(c.open(&String::from_utf8(bytes).unwrap()), Opened::Invalid);
        let foreign = codec(&[&Key::generate()], true);
        assert_eq!(c.open(&value_of(&foreign.seal(&record(), 0))), Opened::Invalid);
        assert_eq!(c.open("garbage"), Opened::Invalid);
        assert_eq!(c.open(""), Opened::Invalid);
    }

    #[test]
    fn an_unknown_version_is_refused() {
        let key = Key::generate();
        let c = codec(&[&key], true);
        let mut future = record();
        future.version = VERSION + 1;
        assert_eq!(c.open(&value_of(&c.seal(&future, 0))), Opened::Invalid);
    }

    #[test]
    fn any_key_of_the_ring_opens_and_old_keys_are_flagged_for_resealing() {
        let old = Key::generate();
        let new = Key::generate();
        let before = codec(&[&old], true);
        let value = value_of(&before.seal(&record(), 0));
        let after = codec(&[&new, &old], true);
        assert_eq!(after.open(&value), Opened::Valid { cookie: record(), stale_key: true });
        let resealed = value_of(&after.seal(&record(), 0));
        assert_eq!(after.open(&resealed), Opened::Valid { cookie: record(), stale_key: false });
    }

    #[test]
    fn the_cookie_is_found_among_others_and_the_clearing_header_expires_it() {
        let key = Key::generate();
        let c = codec(&[&key], false);
        let value = value_of(&c.seal(&record(), 0));
        let header = format!("theme=dark; cloakroom={value}; other=1");
        assert!(matches!(c.open_from_headers([header.as_str()].into_iter()), Opened::Valid { .. }));
        assert_eq!(c.open_from_headers(["theme=dark"].into_iter()), Opened::Absent);
        let cleared = Cookie::parse(c.clear()).unwrap();
        assert_eq!(cleared.max_age(), Some(time::Duration::ZERO));
        assert_eq!(cleared.value(), "");
    }
}

/// The codec under attack: whatever a browser (or anyone) sends, only a value
/// this codec sealed, for this cookie's name, unaltered, ever opens.
#[cfg(test)]
mod properties {
    use actix_web::http::header::{self, HeaderMap, HeaderValue};
    use cookie::{Cookie, Key};
    use proptest::prelude::*;

    use super::*;

    fn record(refresh_token: String, remember: bool) -> SessionCookie {
        SessionCookie {
            version: VERSION,
            session_id: "3f1c2a4e-0000-4000-8000-123456789abc".into(),
            refresh_token,
            access_token: format!("eyJ{}", "A".repeat(40)),
            access_expires_at: 1_800_000_300,
            session_expires_at: 1_802_592_000,
            remember,
        }
    }

    /// One fixed key: proptest's shrinking and persisted regressions replay
    /// the same bytes against the same key.
    fn codec() -> CookieCodec {
        CookieCodec::new(CookieKeys::from_keys(vec![Key::from(&[42; 64])]), false)
    }

    fn sealed_value(codec: &CookieCodec, r: &SessionCookie) -> String {
        Cookie::parse(codec.seal(r, 0)).unwrap().value().to_owned()
    }

    #[derive(Debug, Clone)]
    enum Edit {
        Replace(usize, u8),
        Insert(usize, u8),
        Delete(usize),
        Truncate(usize),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        // The sealed value is base64: mostly its own alphabet, so the edit
        // reaches the AEAD rather than the decoder.
        let byte = prop_oneof![
            4 => prop::sample::select(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=%".to_vec()
            ),
            1 => any::<u8>(),
        ];
        prop_oneof![
            (any::<usize>(), byte.clone()).prop_map(|(at, b)| Edit::Replace(at, b)),
            (any::<usize>(), byte).prop_map(|(at, b)| Edit::Insert(at, b)),
            any::<usize>().prop_map(Edit::Delete),
            any::<usize>().prop_map(Edit::Truncate),
        ]
    }

    fn apply(value: &str, edits: &[Edit]) -> Vec<u8> {
        let mut bytes = value.as_bytes().to_vec();
        for e in edits {
            let len = bytes.len();
            match *e {
                Edit::Replace(at, b) if len > 0 => bytes[at % len] = b,
                Edit::Insert(at, b) => bytes.insert(at % (len + 1), b),
                Edit::Delete(at) if len > 0 => {
                    bytes.remove(at % len);
                }
                Edit::Truncate(at) => bytes.truncate(at % (len + 1)),
                _ => {}
            }
        }
        bytes
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_values_never_open(raw in prop_oneof![".{0,300}", "[A-Za-z0-9+/=]{0,300}"]) {
            prop_assert_eq!(codec().open(&raw), Opened::Invalid);
        }

        #[test]
        fn a_sealed_cookie_with_any_byte_changed_never_opens(
            refresh in "[A-Za-z0-9_-]{0,60}",
            remember: bool,
            edits in prop::collection::vec(edit(), 1..4),
        ) {
            let c = codec();
            let genuine = sealed_value(&c, &record(refresh.clone(), remember));
            let opened = matches!(c.open(&genuine), Opened::Valid { .. });
            prop_assert!(opened);
            let altered = apply(&genuine, &edits);
            prop_assume!(altered != genuine.as_bytes());
            if let Ok(altered) = String::from_utf8(altered) {
                prop_assert_eq!(c.open(&altered), Opened::Invalid, "{:?}", edits);
            }
        }

        #[test]
        fn a_value_opens_only_under_the_name_and_keys_it_was_sealed_for(
            plain in ".{0,80}",
            name in prop::sample::select(vec!["cloakroom", "cloakroom-device", "cloakroom-mfa", "x"]),
        ) {
            let c = codec();
            let sealed = c.seal_value(name, plain.clone());
            prop_assert_eq!(c.open_value(name, &sealed), Some((plain, false)));
            for other in ["cloakroom", "cloakroom-device", "cloakroom-mfa", "x"] {
                if other != name {
                    prop_assert_eq!(c.open_value(other, &sealed), None);
                }
            }
            let stranger = CookieCodec::new(CookieKeys::from_keys(vec![Key::from(&[43; 64])]), false);
            prop_assert_eq!(stranger.open_value(name, &sealed), None);
        }

        #[test]
        fn any_cookie_header_is_read_without_panicking(
            headers in prop::collection::vec("[ -~]{0,200}", 0..4),
            with_genuine: bool,
        ) {
            // Arbitrary `Cookie` headers, sometimes with the genuine cookie
            // among the noise: it opens only when present and unaltered.
            let c = codec();
            let genuine = sealed_value(&c, &record("r".into(), false));
            let mut map = HeaderMap::new();
            for h in &headers {
                if let Ok(v) = HeaderValue::from_str(h) {
                    map.append(header::COOKIE, v);
                }
            }
            if with_genuine {
                let v = HeaderValue::from_str(&format!("cloakroom={genuine}")).unwrap();
                map.append(header::COOKIE, v);
            }
            let values = map.get_all(header::COOKIE).filter_map(|v| v.to_str().ok());
            let opened = c.open_from_headers(values);
            let planted = headers.iter().any(|h| h.contains("cloakroom="));
            if !planted {
                prop_assert_eq!(matches!(opened, Opened::Valid { .. }), with_genuine);
            }
            // The device and pending cookies' readers take the same headers.
            prop_assert!(c.device_id(&map, "alice").is_none());
            prop_assert!(c.pending_sign_in(&map, 0).is_none());
        }
    }
}

/// What the cookie modules' tests share: a codec, and the headers a
/// browser sends back after a `Set-Cookie`.
#[cfg(test)]
pub(super) mod test_support {
    use actix_web::http::header::{self, HeaderMap, HeaderValue};
    use cookie::{Cookie, Key};

    use super::CookieCodec;
    use crate::config::CookieKeys;

    /// A `Secure` codec with `key` alone.
    pub fn codec(key: &Key) -> CookieCodec {
        CookieCodec::new(CookieKeys::from_keys(vec![key.clone()]), true)
    }

    /// The request headers a browser sends back after `set_cookie`.
    pub fn sent(set_cookie: &str) -> HeaderMap {
        let cookie = Cookie::parse(set_cookie.to_owned()).unwrap();
        let mut headers = HeaderMap::new();
        let value = format!("{}={}", cookie.name(), cookie.value());
        headers.insert(header::COOKIE, HeaderValue::from_str(&value).unwrap());
        headers
    }
}
