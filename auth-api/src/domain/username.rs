use std::fmt;

/// A username: 1 to 64 of `a-z 0-9 . _ -`, stored lower-case so that `Alice`
/// and `alice` are one account (and cannot be registered twice).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a username is 1 to 64 characters of a-z, 0-9, '.', '_' or '-'")]
pub struct InvalidUsername;

impl Username {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, InvalidUsername> {
        let name = raw.trim().to_ascii_lowercase();
        let ok = !name.is_empty()
            && name.len() <= Self::MAX_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if ok { Ok(Self(name)) } else { Err(InvalidUsername) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalised_to_lower_case() {
        assert_eq!(Username::parse(" Alice ").unwrap().as_str(), "alice");
    }

    #[test]
    fn invalid_usernames_are_refused() {
        for bad in ["", "   ", "a b", "ålice", "x/../y", &"a".repeat(65), "bob@example"] {
            assert_eq!(Username::parse(bad), Err(InvalidUsername), "{bad:?}");
        }
        assert!(Username::parse(&"a".repeat(64)).is_ok());
    }
}
