//! Open-redirect defence: where a browser may be sent after signing in
//! (`next`), judged once here for the sign-in form, the passkey sign-in and
//! the guard.

/// Where to go after signing in: `next` only if it is a path on this site.
///
/// `//evil.example` and `/\evil.example` are read by browsers as other hosts;
/// anything with a scheme or a host, control characters or backslashes is
/// refused, and the default is the profile page.
pub fn safe_next(next: Option<&str>) -> String {
    const DEFAULT: &str = "/profile";
    let Some(next) = next.map(str::trim).filter(|n| !n.is_empty()) else {
        return DEFAULT.to_owned();
    };
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace())
        && next.len() <= 2048;
    if local { next.to_owned() } else { DEFAULT.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(safe_next(Some("/sessions")), "/sessions");
        assert_eq!(safe_next(Some("/admin?tab=users")), "/admin?tab=users");
        for evil in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "evil.example",
            "/\tx",
            "///evil.example",
            "",
        ] {
            assert_eq!(safe_next(Some(evil)), "/profile", "{evil:?}");
        }
        assert_eq!(safe_next(None), "/profile");
    }
}
