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

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::safe_next;

    const SITE: &str = "https://cloakroom.example/";

    /// What an attacker would put in front of the rest of `next`.
    fn prefix() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "/",
            "//",
            "///",
            "/\\",
            "\\",
            "\\/",
            " /",
            "/ /",
            "\t/",
            "/\t/",
            "\n//",
            "\u{3000}/",
            "\u{feff}/",
            "/%2f",
            "/%5c",
            "https:",
            "https://",
            "http:/",
            "javascript:",
            "data:",
            "HTTPS://",
            "/.//",
            "/..//",
            "",
            "?",
            "#",
            "@",
            "evil.example",
        ])
    }

    /// Where a browser goes when sent to `location` from our site.
    fn resolved_host(location: &str) -> Option<String> {
        let base = url::Url::parse(SITE).unwrap();
        base.join(location).ok().and_then(|u| u.host_str().map(str::to_owned))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn the_result_is_always_a_path_on_this_site(
            prefix in prefix(),
            rest in prop_oneof![".{0,40}", "[/\\\\a-z.:@%?#]{0,20}"],
        ) {
            let next = format!("{prefix}{rest}");
            let safe = safe_next(Some(&next));
            prop_assert!(safe.starts_with('/'), "{safe:?}");
            prop_assert!(!safe.starts_with("//") && !safe.starts_with("/\\"), "{safe:?}");
            prop_assert!(!safe.contains('\\'), "{safe:?}");
            prop_assert!(!safe.chars().any(|c| c.is_control() || c.is_whitespace()), "{safe:?}");
            // The browser's own reading (WHATWG URL, as the `url` crate
            // implements it) stays on this host.
            let host = resolved_host(&safe);
            prop_assert_eq!(host.as_deref(), Some("cloakroom.example"), "{:?}", safe);
            // Either what was asked, or the default: never a rewrite that
            // could mean something else.
            prop_assert!(safe == next.trim() || safe == "/profile", "{safe:?} from {next:?}");
        }

        #[test]
        fn ordinary_local_paths_are_kept(path in "/[a-zA-Z0-9_-]{1,10}(/[a-zA-Z0-9_.-]{1,10}){0,3}(\\?[a-z]{1,5}=[a-z0-9%]{0,8})?") {
            prop_assert_eq!(safe_next(Some(&path)), path);
        }
    }
}
