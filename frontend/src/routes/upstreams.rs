//! The `UPSTREAMS` file: the apps Cloakroom stands in front of.
//!
//! ```toml
//! [[upstream]]
//! path = "/app"                  # prefix, on whole segments; kept when forwarding
//! url = "http://127.0.0.1:9000"
//! access = "signed-in"           # "public" | "signed-in" | "role:NAME"
//! kind = "page"                  # "page" (the default) | "api"
//! audience = "my-app"            # optional: the `aud` of the tokens it gets; default: url
//! timeout_secs = 30              # optional
//! max_body_bytes = 10485760      # optional
//! ```
//!
//! Parsed once at start-up. Anything wrong stops the server with the file,
//! the line and the reason: a typo in an access rule must not quietly open
//! an app to everyone.

use std::{path::Path, time::Duration};

use actix_web::http::Uri;
use serde::Deserialize;
use toml::Spanned;

use super::{Access, shadowed};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_MAX_BODY: u64 = 10 * 1024 * 1024;
const MAX_TIMEOUT_SECS: u64 = 3600;

/// How the app answers the browser, and so how Cloakroom answers for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Pages: signed out → `303` to sign-in; errors as Cloakroom's pages.
    Page,
    /// An API called by scripts: `401` JSON, never a redirect; every
    /// request must carry `X-CSRF: 1`.
    Api,
}

/// One app behind Cloakroom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The prefix it answers, e.g. `/app`: no trailing slash.
    pub path: String,
    /// Scheme and authority (and an optional base path), no trailing slash;
    /// the request's path and query are appended as they came.
    pub url: String,
    pub access: Access,
    pub kind: Kind,
    /// The `aud` of the tokens the app is sent (exchanged for the session's,
    /// `session::exchange`): what the app checks. Defaults to `url`, the
    /// app's own address (RFC 8707's resource indicator).
    pub audience: String,
    /// Until the app's response headers arrive.
    pub timeout: Duration,
    pub max_body_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct UpstreamsError {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    upstream: Vec<Spanned<Entry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    path: Spanned<String>,
    url: Spanned<String>,
    access: Spanned<String>,
    kind: Option<Spanned<String>>,
    audience: Option<Spanned<String>>,
    timeout_secs: Option<Spanned<u64>>,
    max_body_bytes: Option<Spanned<u64>>,
}

/// Reads and checks the file at `path`.
pub fn load(path: &Path) -> Result<Vec<Upstream>, UpstreamsError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| UpstreamsError {
        file: file.clone(),
        line: 0,
        reason: format!("cannot be read: {e}"),
    })?;
    parse(&text, &file)
}

/// Checks a file's text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Vec<Upstream>, UpstreamsError> {
    let fail = |offset: usize, reason: String| UpstreamsError {
        file: file.to_owned(),
        line: text[..offset.min(text.len())].matches('\n').count() + 1,
        reason,
    };
    let parsed: File = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        fail(offset, e.message().to_owned())
    })?;
    let mut out: Vec<Upstream> = Vec::with_capacity(parsed.upstream.len());
    for entry in parsed.upstream {
        let entry = entry.into_inner();
        let at = |s: &std::ops::Range<usize>| s.start;
        let path = parse_path(entry.path.get_ref()).map_err(|r| fail(at(&entry.path.span()), r))?;
        if let Some(own) = shadowed(&path) {
            let reason = format!("path {path:?} would shadow Cloakroom's own {own:?}");
            return Err(fail(at(&entry.path.span()), reason));
        }
        if out.iter().any(|u| u.path == path) {
            return Err(fail(at(&entry.path.span()), format!("path {path:?} is listed twice")));
        }
        let url = parse_url(entry.url.get_ref()).map_err(|r| fail(at(&entry.url.span()), r))?;
        let access =
            parse_access(entry.access.get_ref()).map_err(|r| fail(at(&entry.access.span()), r))?;
        let kind = match &entry.kind {
            None => Kind::Page,
            Some(k) => match k.get_ref().as_str() {
                "page" => Kind::Page,
                "api" => Kind::Api,
                other => {
                    let reason = format!("kind {other:?} is not \"page\" or \"api\"");
                    return Err(fail(at(&k.span()), reason));
                }
            },
        };
        let timeout = match &entry.timeout_secs {
            None => DEFAULT_TIMEOUT,
            Some(t) if (1..=MAX_TIMEOUT_SECS).contains(t.get_ref()) => {
                Duration::from_secs(*t.get_ref())
            }
            Some(t) => {
                let reason = format!("timeout_secs must be 1 to {MAX_TIMEOUT_SECS}");
                return Err(fail(at(&t.span()), reason));
            }
        };
        let max_body_bytes = entry.max_body_bytes.map_or(DEFAULT_MAX_BODY, |m| m.into_inner());
        let audience = match &entry.audience {
            None => parse_audience(&url).map_err(|r| fail(at(&entry.url.span()), r))?,
            Some(a) => parse_audience(a.get_ref()).map_err(|r| fail(at(&a.span()), r))?,
        };
        // One token good at two apps is what audiences are there to prevent.
        if out.iter().any(|u| u.audience == audience) {
            let place = entry.audience.as_ref().map_or(entry.url.span(), |a| a.span());
            let reason =
                format!("audience {audience:?} is another upstream's too: give each its own");
            return Err(fail(at(&place), reason));
        }
        out.push(Upstream { path, url, access, kind, audience, timeout, max_body_bytes });
    }
    Ok(out)
}

fn parse_path(path: &str) -> Result<String, String> {
    let ok = path.starts_with('/')
        && path.bytes().all(|b| b.is_ascii_graphic() && !b"?#%\\".contains(&b))
        && (path == "/" || !path.ends_with('/'))
        && path.split('/').skip(1).all(|seg| !seg.is_empty() && seg != "." && seg != "..");
    if ok || path == "/" {
        Ok(path.to_owned())
    } else {
        Err(format!(
            "path {path:?} must be an absolute path like \"/app\": no trailing slash, no empty, \
             \".\" or \"..\" segments, no query, fragment or percent-escapes"
        ))
    }
}

fn parse_url(url: &str) -> Result<String, String> {
    let bad = |why: &str| format!("url {url:?} {why}");
    let uri: Uri = url.parse().map_err(|_| bad("is not a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(bad("must start with http:// or https://")),
    }
    if uri.authority().is_none_or(|a| a.host().is_empty()) {
        return Err(bad("has no host"));
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(bad("must not carry credentials"));
    }
    if uri.query().is_some() || url.contains('#') {
        return Err(bad("must not have a query or fragment"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

fn parse_audience(audience: &str) -> Result<String, String> {
    let ok = (1..=200).contains(&audience.len()) && audience.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(audience.to_owned())
    } else {
        Err(format!("audience {audience:?} must be 1 to 200 visible ASCII characters"))
    }
}

fn parse_access(access: &str) -> Result<Access, String> {
    match access {
        "public" => Ok(Access::Public),
        "signed-in" => Ok(Access::SignedIn),
        other => match other.strip_prefix("role:") {
            Some(name) => name.parse().map(Access::Role).map_err(|e| format!("access: {e}")),
            None => {
                Err(format!("access {other:?} is not \"public\", \"signed-in\" or \"role:NAME\""))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use shared::Role;

    use super::*;

    #[test]
    fn a_complete_file_parses() {
        let text = r#"
[[upstream]]
path = "/app"
url = "http://127.0.0.1:9000/"
access = "signed-in"
kind = "page"

[[upstream]]
path = "/app/admin-api"
url = "https://internal.example:8443/base"
access = "role:admin"
kind = "api"
audience = "admin-api"
timeout_secs = 5
max_body_bytes = 0
"#;
        let list = parse(text, "upstreams.toml").unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].url, "http://127.0.0.1:9000");
        assert_eq!((list[0].kind, list[0].timeout), (Kind::Page, DEFAULT_TIMEOUT));
        assert_eq!(list[0].max_body_bytes, DEFAULT_MAX_BODY);
        assert_eq!(list[1].access, Access::Role(Role::Admin));
        assert_eq!(
            (list[0].audience.as_str(), list[1].audience.as_str()),
            ("http://127.0.0.1:9000", "admin-api")
        );
        assert_eq!(
            (list[1].kind, list[1].timeout.as_secs(), list[1].max_body_bytes),
            (Kind::Api, 5, 0)
        );
        assert!(parse("", "empty.toml").unwrap().is_empty());
    }

    /// Each mistake names its line and says what is wrong.
    #[test]
    fn mistakes_name_their_line() {
        let entry = |line: &str| {
            format!(
                "# upstreams\n[[upstream]]\npath = \"/app\"\nurl = \"http://127.0.0.1:9000\"\naccess = \"public\"\n{line}\n"
            )
        };
        let cases: [(String, usize, &str); 9] = [
            (entry("kind = \"spa\""), 6, "is not \"page\" or \"api\""),
            (entry("timeout_secs = 0"), 6, "timeout_secs"),
            (entry("colour = \"red\""), 6, "unknown field"),
            (entry("kind = "), 6, ""),
            (entry("").replace("\"public\"", "\"role:root\""), 5, "unknown role"),
            (entry("").replace("\"public\"", "\"everyone\""), 5, "is not \"public\""),
            (entry("").replace("/app", "/login"), 3, "shadow Cloakroom's own \"/login\""),
            (entry("").replace("/app", "/app/"), 3, "no trailing slash"),
            (entry("").replace("http://127.0.0.1:9000", "ftp://files"), 4, "http:// or https://"),
        ];
        for (text, line, reason) in cases {
            let err = parse(&text, "u.toml").unwrap_err();
            assert_eq!(err.line, line, "{err}\n{text}");
            assert!(err.reason.contains(reason), "{err}");
            assert!(err.to_string().starts_with(&format!("u.toml:{line}: ")), "{err}");
        }
        let twice = format!("{}{}", entry(""), entry("").replace("# upstreams\n", ""));
        let err = parse(&twice, "u.toml").unwrap_err();
        assert_eq!((err.line, err.reason.contains("twice")), (8, true), "{err}");
        let shared = format!(
            "{}{}",
            entry(""),
            entry("").replace("# upstreams\n", "").replace("/app", "/other")
        );
        let err = parse(&shared, "u.toml").unwrap_err();
        assert!(err.reason.contains("another upstream's"), "{err}");
        let missing = "[[upstream]]\npath = \"/app\"\naccess = \"public\"\n";
        assert!(parse(missing, "u.toml").unwrap_err().reason.contains("url"));
    }
}
