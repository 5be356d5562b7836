//! Who may see what: one table for every path this server answers, its own
//! pages and the upstream apps it fronts alike. The guard asks it once per
//! request; nothing else decides access by path.
//!
//! Adding a protected Leptos page is one line in [`PAGES`] (and its `<Route>`
//! in `app`). Upstream routes come from the `UPSTREAMS` file
//! ([`upstreams`]) and may not shadow anything Cloakroom serves itself
//! ([`RESERVED`]): a proxied `/login` or `/api` would hand an app the
//! browser's credentials or its server functions.

pub mod path;
pub mod upstreams;

use std::sync::Arc;

use shared::Role;

pub use upstreams::{Kind, Upstream};

/// What a path requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Static files and health checks: no session work at all.
    Static,
    Public,
    /// The sign-in page: a signed-in browser is sent on.
    Login,
    SignedIn,
    /// Signed in with this role.
    Role(Role),
}

/// How a rule's path matches a request's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    Exact,
    /// The path itself and everything below it, on whole segments:
    /// `/admin` covers `/admin` and `/admin/audit`, not `/administrator`.
    Prefix,
}

/// One line of the table.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub path: &'static str,
    pub matching: Match,
    pub access: Access,
}

const fn exact(path: &'static str, access: Access) -> Page {
    Page { path, matching: Match::Exact, access }
}

const fn prefix(path: &'static str, access: Access) -> Page {
    Page { path, matching: Match::Prefix, access }
}

/// Cloakroom's own pages. Anything not listed (and not an upstream) is
/// public: the home page, the 404 page, server functions (`/api/…`, which
/// check the session themselves).
pub const PAGES: &[Page] = &[
    exact("/healthz", Access::Static),
    exact("/readyz", Access::Static),
    exact("/favicon.ico", Access::Static),
    prefix("/pkg", Access::Static),
    prefix("/assets", Access::Static),
    exact("/login", Access::Login),
    exact("/profile", Access::SignedIn),
    exact("/sessions", Access::SignedIn),
    exact("/notes", Access::SignedIn),
    prefix("/account", Access::SignedIn),
    prefix("/admin", Access::Role(Role::Admin)),
];

/// Pages the guard and the forms send people to.
pub mod pages {
    pub const PASSWORD: &str = "/account/password";
    /// Where a user on a temporary password is sent from every protected page.
    pub const PASSWORD_REQUIRED: &str = "/account/password?required=1";
    pub const SECURITY: &str = "/account/security";
    /// Where a user whose role needs a second factor is held until one is set up.
    pub const SECURITY_REQUIRED: &str = "/account/security?required=1";
    /// The second step of a sign-in.
    pub const VERIFY: &str = "/login/verify";
}

/// Paths an upstream may neither equal nor contain nor sit below: every page
/// above, the sign-in flow, server functions and static files.
pub const RESERVED: &[&str] = &[
    "/login",
    "/logout",
    "/profile",
    "/sessions",
    "/notes",
    "/account",
    "/admin",
    "/api",
    "/pkg",
    "/assets",
    "/healthz",
    "/readyz",
    "/favicon.ico",
];

/// Whether `rule` covers `path` on whole segments.
fn covers(rule: &str, matching: Match, path: &str) -> bool {
    match matching {
        Match::Exact => path == rule,
        Match::Prefix => {
            path.strip_prefix(rule).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        }
    }
}

/// Why `path` may not be an upstream's, if it may not: it is `/` (a prefix
/// of everything), or one of ours covers it or it covers one of ours.
pub fn shadowed(path: &str) -> Option<&'static str> {
    if path == "/" {
        return Some("/");
    }
    RESERVED
        .iter()
        .copied()
        .find(|own| covers(path, Match::Prefix, own) || covers(own, Match::Prefix, path))
}

/// What the table says of one request.
#[derive(Debug, Clone)]
pub struct Route {
    /// The request's path in canonical form ([`path`]): what the rule was
    /// chosen by, and what an upstream app is sent.
    pub path: String,
    pub access: Access,
    /// `Some`: forward to this app; `None`: Cloakroom answers itself.
    pub upstream: Option<Arc<Upstream>>,
}

impl Route {
    /// Requests the guard must answer in JSON, never with a page or a
    /// redirect: an app's API called by its scripts.
    pub fn is_api(&self) -> bool {
        self.upstream.as_ref().is_some_and(|u| u.kind == Kind::Api)
    }
}

/// The app's pages merged with the upstream entries.
#[derive(Debug, Default)]
pub struct RouteTable {
    /// Longest path first: the first that covers a request is the most
    /// specific (`/app/admin` before `/app`).
    upstreams: Vec<Arc<Upstream>>,
}

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("upstream path {path:?} would shadow Cloakroom's own {own:?}")]
    Shadows { path: String, own: &'static str },
    #[error("upstream path {0:?} is listed twice")]
    Duplicate(String),
}

impl RouteTable {
    pub fn new(upstreams: &[Upstream]) -> Result<Self, RouteError> {
        let mut list: Vec<Arc<Upstream>> = Vec::with_capacity(upstreams.len());
        for u in upstreams {
            if let Some(own) = shadowed(&u.path) {
                return Err(RouteError::Shadows { path: u.path.clone(), own });
            }
            if list.iter().any(|l| l.path == u.path) {
                return Err(RouteError::Duplicate(u.path.clone()));
            }
            list.push(Arc::new(u.clone()));
        }
        list.sort_by_key(|u| std::cmp::Reverse(u.path.len()));
        Ok(Self { upstreams: list })
    }

    /// The rule for a request's path (raw, as it came), or why the path
    /// is refused before any rule is read.
    pub fn lookup(&self, raw: &str) -> Result<Route, path::BadPath> {
        let canonical = path::canonical(raw)?;
        // `/profile/` is `/profile`: a trailing slash must not slip a
        // protected page past its rule.
        let key = if canonical.len() > 1 { canonical.trim_end_matches('/') } else { &canonical };
        let (access, upstream) =
            match self.upstreams.iter().find(|u| covers(&u.path, Match::Prefix, key)) {
                Some(u) => (u.access, Some(u.clone())),
                None => {
                    let page = PAGES.iter().find(|p| covers(p.path, p.matching, key));
                    (page.map_or(Access::Public, |p| p.access), None)
                }
            };
        Ok(Route { path: canonical.into_owned(), access, upstream })
    }

    pub fn upstreams(&self) -> impl Iterator<Item = &Upstream> {
        self.upstreams.iter().map(|u| &**u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(path: &str, access: Access) -> Upstream {
        Upstream {
            path: path.into(),
            url: "http://127.0.0.1:9000".into(),
            access,
            kind: Kind::Page,
            audience: "test".into(),
            timeout: std::time::Duration::from_secs(30),
            max_body_bytes: upstreams::DEFAULT_MAX_BODY,
        }
    }

    #[test]
    fn own_pages_keep_their_rules() {
        let table = RouteTable::default();
        let access = |p| table.lookup(p).unwrap().access;
        assert_eq!(access("/"), Access::Public);
        assert_eq!(access("/login"), Access::Login);
        assert_eq!(access("/profile/"), Access::SignedIn);
        assert_eq!(access("/account/security"), Access::SignedIn);
        assert_eq!(access("/accounts"), Access::Public);
        assert_eq!(access("/admin/audit"), Access::Role(Role::Admin));
        assert_eq!(access("/administrator"), Access::Public);
        assert_eq!(access("/pkg/frontend.wasm"), Access::Static);
        assert_eq!(access("/api/sign_out"), Access::Public);
    }

    #[test]
    fn upstreams_match_on_whole_segments_longest_first() {
        let table = RouteTable::new(&[
            upstream("/app", Access::SignedIn),
            upstream("/app/admin", Access::Role(Role::Admin)),
        ])
        .unwrap();
        let route = |p| table.lookup(p).unwrap();
        assert_eq!(route("/app").access, Access::SignedIn);
        assert_eq!(route("/app/x/y").access, Access::SignedIn);
        assert_eq!(route("/app/admin/users").access, Access::Role(Role::Admin));
        assert!(route("/application").upstream.is_none());
        assert_eq!(route("/app/admin").upstream.unwrap().path, "/app/admin");
        // The same rule however the path is spelled; tricks never reach one.
        assert_eq!(route("/app/%61dmin/users").access, Access::Role(Role::Admin));
        assert_eq!(route("/app/%61dmin/users").path, "/app/admin/users");
        assert!(table.lookup("/app/x/../admin/users").is_err());
        assert!(table.lookup("/assets/../admin").is_err());
    }

    #[test]
    fn upstreams_cannot_shadow_cloakroom() {
        for path in ["/", "/login", "/admin/tools", "/api", "/api/x", "/pkg", "/account"] {
            let err = RouteTable::new(&[upstream(path, Access::Public)]).unwrap_err();
            assert!(matches!(err, RouteError::Shadows { .. }), "{path}: {err}");
        }
        // A parent of one of ours would swallow it too.
        assert!(shadowed("/notes").is_some());
        for path in ["/app", "/notes-api", "/logins", "/apis"] {
            assert_eq!(shadowed(path), None, "{path}");
        }
        let twice = [upstream("/app", Access::Public), upstream("/app", Access::SignedIn)];
        assert!(matches!(RouteTable::new(&twice), Err(RouteError::Duplicate(_))));
    }
}
