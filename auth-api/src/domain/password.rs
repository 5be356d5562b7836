use std::fmt;

/// A password as typed: at most `MAX_BYTES`, never empty. Whether it is good
/// enough to become someone's password is `passwords::policy`'s call.
///
/// Its `Debug` never shows the value, so it cannot leak into a log line by
/// accident.
#[derive(Clone)]
pub struct Password(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidPassword {
    #[error("A password cannot be empty.")]
    Empty,
    #[error("A password may be at most {max} bytes.", max = Password::MAX_BYTES)]
    TooLong,
}

impl Password {
    /// Argon2 accepts more, but a cap stops a megabyte "password" from being
    /// used to make hashing expensive.
    pub const MAX_BYTES: usize = 1024;

    pub fn parse(raw: String) -> Result<Self, InvalidPassword> {
        if raw.len() > Self::MAX_BYTES {
            Err(InvalidPassword::TooLong)
        } else if raw.is_empty() {
            Err(InvalidPassword::Empty)
        } else {
            Ok(Self(raw))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_limits_are_enforced() {
        assert_eq!(Password::parse(String::new()).unwrap_err(), InvalidPassword::Empty);
        assert!(Password::parse("a".repeat(1024)).is_ok());
        // Bytes, not characters: 513 two-byte characters are too many.
        assert_eq!(Password::parse("é".repeat(513)).unwrap_err(), InvalidPassword::TooLong);
        assert_eq!(Password::parse("a".repeat(1025)).unwrap_err(), InvalidPassword::TooLong);
    }

    #[test]
    fn debug_never_shows_the_value() {
        let p = Password::parse("correct horse".into()).unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }
}
