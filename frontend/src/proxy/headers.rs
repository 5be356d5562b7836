//! Which headers cross the proxy, in each direction.
//!
//! Towards the app, the browser's headers pass except: hop-by-hop headers
//! (RFC 9110 §7.6.1, and any header `Connection` names), which describe one
//! connection, not the request; `Authorization`, `Forwarded`, `X-Forwarded-*`
//! and every `X-Cloakroom-*`, which the app would take for Cloakroom's word
//! (a browser that sends `X-Cloakroom-User: admin` must not become admin);
//! `Host` (awc writes the app's own); and Cloakroom's cookies, which would
//! hand the app the browser's refresh token (oauth2-proxy #388). Cloakroom
//! then writes the identity and the `X-Forwarded-*` trio itself.
//!
//! Back towards the browser, hop-by-hop headers go too, and so does any
//! `Set-Cookie` that would overwrite one of Cloakroom's cookies: an app must
//! not be able to sign a browser out, or into someone else's session.

use std::net::IpAddr;

use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::session::SignedIn;

/// Cloakroom's cookie names, with and without `__Host-`, whatever
/// `COOKIE_SECURE` says: an app has no business with any of them.
const OUR_COOKIES: &[&str] = &[
    "cloakroom",
    "cloakroom-mfa",
    "cloakroom-device",
    "__Host-cloakroom",
    "__Host-cloakroom-mfa",
    "__Host-cloakroom-device",
];

/// RFC 9110 §7.6.1's list, plus `Proxy-Connection`, which old clients send.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

pub const IDENTITY_PREFIX: &str = "x-cloakroom-";

/// Headers apps (or their frameworks) read as the client's address, the
/// request's real URL or its real method: from a browser, each is a lie
/// waiting to be believed (`X-HTTP-Method-Override: POST` on a GET would
/// even pass a state change by the origin check).
const CLIENT_CLAIMS: &[&str] = &[
    "x-real-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "fastly-client-ip",
    "x-original-url",
    "x-rewrite-url",
    "x-forwarded",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// Response headers that reach beyond the app's own pages: a service worker
/// scoped over the whole origin (`/login` included), or wiping the
/// origin's cookies (ours) and storage.
const ORIGIN_WIDE: &[&str] = &["service-worker-allowed", "clear-site-data"];

/// More `Set-Cookie` headers than this in one answer are dropped: a flood
/// could make the browser evict the oldest cookies, ours among them.
const MAX_SET_COOKIES: usize = 20;

pub fn is_our_cookie(name: &str) -> bool {
    OUR_COOKIES.contains(&name)
}

/// The headers named by `Connection`, plus the fixed hop-by-hop list.
fn hop_by_hop(headers: &HeaderMap) -> Vec<HeaderName> {
    let mut names: Vec<HeaderName> =
        HOP_BY_HOP.iter().map(|n| HeaderName::from_static(n)).collect();
    for value in headers.get_all(header::CONNECTION).filter_map(|v| v.to_str().ok()) {
        names.extend(value.split(',').filter_map(|t| HeaderName::try_from(t.trim()).ok()));
    }
    names
}

/// Where the request came from, as the app should see it.
pub struct Forwarded<'a> {
    /// The `X-Forwarded-For` chain to pass on: the client, then the trusted
    /// proxies between it and us, then the peer (`security::client::chain`).
    /// Entries a client wrote itself are never passed on.
    pub chain: String,
    /// The client, for `X-Real-IP`.
    pub client: Option<IpAddr>,
    /// `http` or `https`, from `PUBLIC_ORIGIN`.
    pub proto: &'a str,
    /// The public host (and port), from `PUBLIC_ORIGIN`.
    pub host: &'a str,
}

impl<'a> Forwarded<'a> {
    pub fn new(
        incoming: &HeaderMap,
        peer: Option<IpAddr>,
        trusted: &[ipnet::IpNet],
        public_origin: &'a str,
    ) -> Self {
        let (proto, host) = public_origin.split_once("://").unwrap_or(("https", public_origin));
        let hops = crate::security::client::chain(peer, incoming, trusted);
        let chain = hops.iter().map(IpAddr::to_string).collect::<Vec<_>>().join(", ");
        Self { chain, client: hops.first().copied(), proto, host }
    }
}

/// The headers to send the app.
/// `signed_in`: who, and the token exchanged for the app's audience.
pub fn to_upstream(
    incoming: &HeaderMap,
    signed_in: Option<(&SignedIn, &str)>,
    forwarded: &Forwarded<'_>,
) -> HeaderMap {
    let drop = hop_by_hop(incoming);
    let mut out = HeaderMap::new();
    for (name, value) in incoming {
        let n = name.as_str();
        // CGI, WSGI, Rack and PHP read `X_Cloakroom_User` as
        // `X-Cloakroom-User`: no underscores at all (nginx's default too).
        let spoofable = n.contains('_')
            || n.starts_with(IDENTITY_PREFIX)
            || n.starts_with("x-forwarded-")
            || CLIENT_CLAIMS.contains(&n)
            || name == header::AUTHORIZATION
            || name == header::FORWARDED
            || name == header::HOST
            // The body is re-framed by the client: its length is the body's.
            || name == header::CONTENT_LENGTH
            // awc does not wait for `100 Continue`; the server answers the browser.
            || name == header::EXPECT;
        if spoofable || drop.contains(name) {
            continue;
        }
        if name == header::COOKIE {
            if let Some(kept) = without_our_cookies(value) {
                out.append(header::COOKIE, kept);
            }
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            out.insert(HeaderName::from_static(name), v);
        }
    };
    if !forwarded.chain.is_empty() {
        put("x-forwarded-for", &forwarded.chain);
    }
    if let Some(client) = forwarded.client {
        put("x-real-ip", &client.to_string());
    }
    put("x-forwarded-proto", forwarded.proto);
    put("x-forwarded-host", forwarded.host);
    if let Some((s, token)) = signed_in {
        let roles: Vec<&str> = s.user.roles.iter().map(|r| r.as_str()).collect();
        put("authorization", &format!("Bearer {token}"));
        put("x-cloakroom-user", &s.user.user_id);
        put("x-cloakroom-username", &s.user.username);
        put("x-cloakroom-roles", &roles.join(","));
        put("x-cloakroom-session", &s.user.session_id);
    }
    out
}

/// One `Cookie` header with Cloakroom's cookies taken out; `None` if
/// nothing is left.
fn without_our_cookies(value: &HeaderValue) -> Option<HeaderValue> {
    // Not valid UTF-8: pass nothing rather than guess where ours are.
    let text = value.to_str().ok()?;
    let kept: Vec<&str> = text
        .split(';')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| !is_our_cookie(pair.split_once('=').map_or(*pair, |(n, _)| n).trim()))
        .collect();
    if kept.is_empty() { None } else { HeaderValue::from_str(&kept.join("; ")).ok() }
}

/// The app's response headers to pass to the browser.
pub fn from_upstream(incoming: &HeaderMap, path: &str) -> HeaderMap {
    let drop = hop_by_hop(incoming);
    let mut out = HeaderMap::new();
    let mut cookies = 0;
    for (name, value) in incoming {
        if drop.contains(name)
            || name == header::CONTENT_LENGTH
            || ORIGIN_WIDE.contains(&name.as_str())
        {
            continue;
        }
        if name == header::SET_COOKIE {
            if !harmless_cookie(value) {
                tracing::warn!(
                    path,
                    "an upstream tried to set one of Cloakroom's cookies: dropped"
                );
                continue;
            }
            cookies += 1;
            if cookies > MAX_SET_COOKIES {
                tracing::warn!(
                    path,
                    "an upstream set more than {MAX_SET_COOKIES} cookies: dropped"
                );
                continue;
            }
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// A `Set-Cookie` that cannot touch ours: readable, named, not one of ours.
/// (A nameless one, `=cloakroom=x`, comes back from the browser as
/// `cloakroom=x`.)
fn harmless_cookie(value: &HeaderValue) -> bool {
    let Ok(text) = value.to_str() else { return false };
    let pair = text.split(';').next().unwrap_or("");
    match pair.split_once('=') {
        Some((name, _)) => !name.trim().is_empty() && !is_our_cookie(name.trim()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use shared::Role;

    use super::*;
    use crate::app::types::CurrentUser;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(HeaderName::try_from(*k).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        m
    }

    fn alice() -> Arc<SignedIn> {
        Arc::new(SignedIn {
            user: CurrentUser {
                user_id: "u-1".into(),
                username: "alice".into(),
                roles: vec![Role::User, Role::Admin],
                session_id: "s-1".into(),
                password_change_required: false,
                mfa_setup_required: false,
            },
            access_token: "tok".into(),
            access_expires_at: 0,
            access_issued_at: 0,
        })
    }

    #[test]
    fn spoofed_identity_and_our_cookies_never_reach_the_app() {
        let incoming = map(&[
            ("authorization", "Bearer forged"),
            ("x-cloakroom-user", "admin"),
            ("X-Cloakroom-Anything", "x"),
            ("x-forwarded-for", "6.6.6.6"),
            ("forwarded", "for=6.6.6.6"),
            ("cookie", "cloakroom=SEALED; app=1; __Host-cloakroom-mfa=x"),
            ("cookie", "theme=dark"),
            ("connection", "keep-alive, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("te", "trailers"),
            ("accept", "text/html"),
            ("x-csrf", "1"),
            ("x_cloakroom_user", "admin"),
            ("x-real-ip", "6.6.6.6"),
            ("x-http-method-override", "DELETE"),
        ]);
        let peer = "10.1.2.3".parse().ok();
        let fwd = Forwarded::new(&incoming, peer, &[], "https://app.example");
        let out = to_upstream(&incoming, Some((&alice(), "tok")), &fwd);
        let get = |n: &str| out.get_all(n).map(|v| v.to_str().unwrap()).collect::<Vec<_>>();
        assert_eq!(get("authorization"), ["Bearer tok"]);
        assert_eq!(get("x-cloakroom-user"), ["u-1"]);
        assert_eq!(get("x-cloakroom-roles"), ["user,admin"]);
        assert_eq!(get("x-cloakroom-anything"), Vec::<&str>::new());
        assert_eq!(get("cookie"), ["app=1", "theme=dark"]);
        assert_eq!(get("x-forwarded-for"), ["10.1.2.3"]);
        assert_eq!(get("x-real-ip"), ["10.1.2.3"]);
        assert!(
            out.get("x_cloakroom_user").is_none() && out.get("x-http-method-override").is_none()
        );
        assert_eq!(get("x-forwarded-proto"), ["https"]);
        assert_eq!(get("x-forwarded-host"), ["app.example"]);
        for gone in ["forwarded", "connection", "x-secret-hop", "te"] {
            assert!(out.get(gone).is_none(), "{gone}");
        }
        assert_eq!(get("x-csrf"), ["1"]);

        // Signed out: no identity at all, the forged one included.
        let out = to_upstream(&incoming, None, &fwd);
        assert!(out.get("authorization").is_none() && out.get("x-cloakroom-user").is_none());
    }

    #[test]
    fn a_trusted_proxy_chain_is_kept_from_the_client_on() {
        // The client wrote 6.6.6.6 itself; our proxies wrote the rest.
        let incoming = map(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.0.0.2")]);
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        let fwd =
            Forwarded::new(&incoming, "10.0.0.1".parse().ok(), &trusted, "http://localhost:3000");
        assert_eq!(fwd.chain, "203.0.113.9, 10.0.0.2, 10.0.0.1");
        assert_eq!(fwd.client, "203.0.113.9".parse().ok());
        assert_eq!((fwd.proto, fwd.host), ("http", "localhost:3000"));
        // From an untrusted peer, only the peer.
        let fwd = Forwarded::new(&incoming, "198.51.100.7".parse().ok(), &trusted, "http://x");
        assert_eq!(fwd.chain, "198.51.100.7");
    }

    #[test]
    fn an_app_cannot_set_our_cookies() {
        let incoming = map(&[
            ("set-cookie", "cloakroom=evil; Path=/"),
            ("set-cookie", "__Host-cloakroom=evil; Path=/; Secure"),
            ("set-cookie", "app=1; Path=/app"),
            ("set-cookie", "=cloakroom=evil; Path=/profile"),
            ("set-cookie", "nameless"),
            ("transfer-encoding", "chunked"),
            ("service-worker-allowed", "/"),
            ("clear-site-data", "\"cookies\""),
            ("x-app", "kept"),
        ]);
        let out = from_upstream(&incoming, "/app");
        let cookies: Vec<_> = out.get_all("set-cookie").collect();
        assert_eq!(cookies, [&HeaderValue::from_static("app=1; Path=/app")]);
        assert!(out.get("transfer-encoding").is_none());
        assert!(
            out.get("service-worker-allowed").is_none() && out.get("clear-site-data").is_none()
        );
        assert_eq!(out.get("x-app").unwrap(), "kept");

        let flood: Vec<(String, String)> =
            (0..30).map(|i| ("set-cookie".to_owned(), format!("c{i}=1"))).collect();
        let flood: Vec<(&str, &str)> =
            flood.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            from_upstream(&map(&flood), "/app").get_all("set-cookie").count(),
            MAX_SET_COOKIES
        );
    }
}
