//! One spelling of a request's path, settled before any rule reads it.
//!
//! Cloakroom and the app behind it must agree on which path a request
//! names, or a rule on `/app/admin` is walked around as `/app/%61dmin` (the
//! app decodes it, a plain string match would not), `/app/public/../admin`
//! (the app resolves the dots) or `/app/admin;x` (path parameters, to a
//! Java app). So escapes of unreserved characters are decoded (RFC 3986
//! §6.2.2.2) and other escapes upper-cased; then a path that still has `.`
//! or `..` segments, empty segments (`//`), a backslash, a `;`, an escaped
//! `/`, `\` or NUL, or a malformed escape is refused with 400. Browsers
//! resolve dots and never produce the rest from a link, so only a crafted
//! request is refused. The canonical form is what the route table matches
//! and what an upstream app is sent.

use std::borrow::Cow;

/// Why a path was refused, for the person who typed it.
pub const BAD_PATH: &str = "The address has dot segments, doubled slashes or escaped separators. \
     Links on this site never do: open the page from a link instead.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request's path is not in canonical form")]
pub struct BadPath;

/// The canonical form of `raw`, a request's path (without the query).
pub fn canonical(raw: &str) -> Result<Cow<'_, str>, BadPath> {
    if !raw.starts_with('/') || raw.contains(['\\', ';']) {
        return Err(BadPath);
    }
    let path: Cow<'_, str> =
        if raw.contains('%') { Cow::Owned(decode_unreserved(raw)?) } else { Cow::Borrowed(raw) };
    // `/` alone, or segments that are neither empty (a trailing slash
    // aside) nor dots.
    let body = path.strip_suffix('/').unwrap_or(&path);
    let segments_ok = body.is_empty()
        || body.split('/').skip(1).all(|seg| !seg.is_empty() && seg != "." && seg != "..");
    if segments_ok { Ok(path) } else { Err(BadPath) }
}

fn decode_unreserved(raw: &str) -> Result<String, BadPath> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i] as char);
            i += 1;
            continue;
        }
        let hex = raw.get(i + 1..i + 3).ok_or(BadPath)?;
        let byte = u8::from_str_radix(hex, 16).map_err(|_| BadPath)?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BadPath);
        }
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char);
            }
            // A separator or a terminator in disguise: what would the app
            // make of it? Refused rather than guessed.
            b'/' | b'\\' | 0 | b';' => return Err(BadPath),
            _ => {
                out.push('%');
                out.push_str(&hex.to_ascii_uppercase());
            }
        }
        i += 3;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_paths_pass_unchanged() {
        for p in ["/", "/app", "/app/", "/app/x/y.txt", "/app/caf%C3%A9", "/a-b_c~d", "/app/%20x"] {
            assert_eq!(canonical(p).as_deref(), Ok(p), "{p}");
        }
    }

    #[test]
    fn escapes_of_plain_characters_are_decoded() {
        assert_eq!(canonical("/app/%61dmin").as_deref(), Ok("/app/admin"));
        assert_eq!(canonical("/%41PP/%7euser").as_deref(), Ok("/APP/~user"));
        assert_eq!(canonical("/app/caf%c3%a9").as_deref(), Ok("/app/caf%C3%A9"));
    }

    #[test]
    fn tricks_are_refused() {
        for p in [
            "/assets/../admin",
            "/app/./admin",
            "/app/%2e%2e/admin",
            "/app/%2E/x",
            "/app//admin",
            "//admin",
            "/app/admin;jsessionid=1",
            "/app%2fadmin",
            "/app%5cadmin",
            "/app\\admin",
            "/app/%00",
            "/app/%zz",
            "/app/%4",
            "/app/..",
            "app",
        ] {
            assert_eq!(canonical(p), Err(BadPath), "{p}");
        }
    }
}
