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
    /// The `X-Forwarded-For` chain to pass on: the trusted part of the
    /// incoming one plus the peer, or only the peer.
    pub chain: String,
    /// `http` or `https`, from `PUBLIC_ORIGIN`.
    pub proto: &'a str,
    /// The public host (and port), from `PUBLIC_ORIGIN`.
    pub host: &'a str,
}

impl<'a> Forwarded<'a> {
    /// `peer_trusted`: the peer is one of `TRUSTED_PROXIES`, so what it says
    /// in `X-Forwarded-For` is kept and the peer appended; otherwise the
    /// chain starts at the peer (anything earlier is the client's say-so).
    pub fn new(
        incoming: &HeaderMap,
        peer: Option<IpAddr>,
        peer_trusted: bool,
        public_origin: &'a str,
    ) -> Self {
        let (proto, host) = public_origin.split_once("://").unwrap_or(("https", public_origin));
        let mut hops: Vec<String> = Vec::new();
        if peer_trusted {
            hops.extend(
                incoming
                    .get_all("x-forwarded-for")
                    .filter_map(|v| v.to_str().ok())
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty()),
            );
        }
        if let Some(peer) = peer {
            hops.push(peer.to_canonical().to_string());
        }
        Self { chain: hops.join(", "), proto, host }
    }
}

/// The headers to send the app.
pub fn to_upstream(
    incoming: &HeaderMap,
    signed_in: Option<&SignedIn>,
    forwarded: &Forwarded<'_>,
) -> HeaderMap {
    let drop = hop_by_hop(incoming);
    let mut out = HeaderMap::new();
    for (name, value) in incoming {
        let n = name.as_str();
        let spoofable = n.starts_with(IDENTITY_PREFIX)
            || n.starts_with("x-forwarded-")
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
    put("x-forwarded-proto", forwarded.proto);
    put("x-forwarded-host", forwarded.host);
    if let Some(s) = signed_in {
        let roles: Vec<&str> = s.user.roles.iter().map(|r| r.as_str()).collect();
        put("authorization", &format!("Bearer {}", s.access_token));
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
    for (name, value) in incoming {
        if drop.contains(name) || name == header::CONTENT_LENGTH {
            continue;
        }
        if name == header::SET_COOKIE && sets_our_cookie(value) {
            tracing::warn!(path, "an upstream tried to set one of Cloakroom's cookies: dropped");
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

fn sets_our_cookie(value: &HeaderValue) -> bool {
    // Unreadable: it could be anything, ours included.
    let Ok(text) = value.to_str() else { return true };
    let name = text.split(['=', ';']).next().unwrap_or("").trim();
    is_our_cookie(name)
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
        ]);
        let peer = "10.1.2.3".parse().ok();
        let fwd = Forwarded::new(&incoming, peer, false, "https://app.example");
        let out = to_upstream(&incoming, Some(&alice()), &fwd);
        let get = |n: &str| out.get_all(n).map(|v| v.to_str().unwrap()).collect::<Vec<_>>();
        assert_eq!(get("authorization"), ["Bearer tok"]);
        assert_eq!(get("x-cloakroom-user"), ["u-1"]);
        assert_eq!(get("x-cloakroom-roles"), ["user,admin"]);
        assert_eq!(get("x-cloakroom-anything"), Vec::<&str>::new());
        assert_eq!(get("cookie"), ["app=1", "theme=dark"]);
        assert_eq!(get("x-forwarded-for"), ["10.1.2.3"]);
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
    fn a_trusted_proxy_chain_is_kept_and_extended() {
        let incoming = map(&[("x-forwarded-for", "203.0.113.9, 10.0.0.2")]);
        let fwd = Forwarded::new(&incoming, "10.0.0.1".parse().ok(), true, "http://localhost:3000");
        assert_eq!(fwd.chain, "203.0.113.9, 10.0.0.2, 10.0.0.1");
        assert_eq!((fwd.proto, fwd.host), ("http", "localhost:3000"));
    }

    #[test]
    fn an_app_cannot_set_our_cookies() {
        let incoming = map(&[
            ("set-cookie", "cloakroom=evil; Path=/"),
            ("set-cookie", "__Host-cloakroom=evil; Path=/; Secure"),
            ("set-cookie", "app=1; Path=/app"),
            ("transfer-encoding", "chunked"),
            ("x-app", "kept"),
        ]);
        let out = from_upstream(&incoming, "/app");
        let cookies: Vec<_> = out.get_all("set-cookie").collect();
        assert_eq!(cookies, [&HeaderValue::from_static("app=1; Path=/app")]);
        assert!(out.get("transfer-encoding").is_none());
        assert_eq!(out.get("x-app").unwrap(), "kept");
    }
}
