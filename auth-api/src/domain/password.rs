use std::fmt;

/// A new password as accepted by `user add` and `user set-password`.
///
/// Its `Debug` and `Display` never show the value, so it cannot leak into a
/// log line by accident.
#[derive(Clone)]
pub struct Password(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidPassword {
    #[error("a password needs at least {min} characters", min = Password::MIN_CHARS)]
    TooShort,
    #[error("a password may be at most {max} bytes", max = Password::MAX_BYTES)]
    TooLong,
}

impl Password {
    pub const MIN_CHARS: usize = 8;
    /// Argon2 accepts more, but a cap stops a megabyte "password" from being
    /// used to make hashing expensive.
    pub const MAX_BYTES: usize = 1024;

    pub fn parse(raw: String) -> Result<Self, InvalidPassword> {
        if raw.len() > Self::MAX_BYTES {
            Err(InvalidPassword::TooLong)
        } else if raw.chars().count() < Self::MIN_CHARS {
            Err(InvalidPassword::TooShort)
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
        assert_eq!(Password::parse("short".into()).unwrap_err(), InvalidPassword::TooShort);
        // Eight characters, even if they are multi-byte, is enough.
        assert!(Password::parse("éééééééé".into()).is_ok());
        assert!(Password::parse("a".repeat(1024)).is_ok());
        assert_eq!(Password::parse("a".repeat(1025)).unwrap_err(), InvalidPassword::TooLong);
    }

    #[test]
    fn debug_never_shows_the_value() {
        let p = Password::parse("correct horse".into()).unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }
}
