use std::fmt;

/// The audience a token is exchanged for (RFC 8693 `audience`): an upstream
/// app's name for itself, 1 to 200 visible ASCII characters. It ends up in
/// a signed claim and in the upstream's comparison, so nothing invisible
/// (spaces, control characters) or ambiguous (non-ASCII look-alikes) gets in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamAudience(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("audience must be 1 to 200 visible ASCII characters")]
pub struct InvalidAudience;

impl UpstreamAudience {
    pub const MAX_LEN: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, InvalidAudience> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw.bytes().all(|b| b.is_ascii_graphic());
        if ok { Ok(Self(raw.to_owned())) } else { Err(InvalidAudience) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UpstreamAudience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audiences_are_visible_ascii_of_bounded_length() {
        for good in ["notes-api", "https://notes.example.com/api", "a", &"x".repeat(200)] {
            assert_eq!(UpstreamAudience::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", " ", "notes api", "notes\tapi", "notes\n", "nötes", &"x".repeat(201)] {
            assert_eq!(UpstreamAudience::parse(bad), Err(InvalidAudience), "{bad:?}");
        }
    }
}
