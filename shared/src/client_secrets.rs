//! `AUTH_CLIENT_SECRETS`, which both servers read: the rule for the list is
//! part of their contract (a value one accepts the other must accept), so it
//! is written once, here. The auth-api accepts every entry; the frontend
//! sends the first. Rotating is: prepend a new secret on the auth-api,
//! prepend it on the frontends, drop the old one from both.
//!
//! The deprecated single `AUTH_CLIENT_SECRET` still works, taken verbatim as
//! a one-entry list (it could hold a comma), never together with the list.

use std::fmt;

pub const VARIABLE: &str = "AUTH_CLIENT_SECRETS";
pub const DEPRECATED_VARIABLE: &str = "AUTH_CLIENT_SECRET";
/// Characters every entry needs.
pub const MIN_LEN: usize = 16;
/// Entries at most: a rotation needs two. The auth-api compares a given
/// secret against this many slots whatever the list's length, so its
/// timing says nothing about how many secrets there are.
pub const MAX_SECRETS: usize = 4;

/// The secrets, first first, and whether they came from the deprecated
/// variable (the caller warns). `Debug` never shows them.
pub struct ClientSecretList {
    pub secrets: Vec<String>,
    pub deprecated: bool,
}

impl fmt::Debug for ClientSecretList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientSecretList({} secrets, redacted)", self.secrets.len())
    }
}

/// Why the client secrets were refused. No message carries a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretsError {
    Missing,
    BothSet,
    /// The entry's position, from 1.
    Empty(usize),
    Short {
        variable: &'static str,
        entry: usize,
    },
    /// Entry `.0` repeats entry `.1`.
    Repeated(usize, usize),
    TooMany,
}

impl fmt::Display for SecretsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SecretsError::Missing => write!(
                f,
                "{VARIABLE} is required (set the variable or pass the flag; `just dev` writes one into .env)"
            ),
            SecretsError::BothSet => write!(
                f,
                "set {VARIABLE} or the deprecated {DEPRECATED_VARIABLE}, not both \
                 (move the secret into {VARIABLE} and unset {DEPRECATED_VARIABLE})"
            ),
            SecretsError::Empty(n) => write!(
                f,
                "{VARIABLE} entry {n} is empty (secrets are separated by commas, with no empty entries)"
            ),
            SecretsError::Short { variable, .. } if variable == DEPRECATED_VARIABLE => {
                write!(f, "{variable} must be at least {MIN_LEN} characters")
            }
            SecretsError::Short { variable, entry } => {
                write!(f, "{variable} entry {entry} must be at least {MIN_LEN} characters")
            }
            SecretsError::Repeated(n, m) => write!(f, "{VARIABLE} entry {n} repeats entry {m}"),
            SecretsError::TooMany => write!(f, "{VARIABLE} lists at most {MAX_SECRETS} secrets"),
        }
    }
}

impl std::error::Error for SecretsError {}

/// The client secrets from the values of `AUTH_CLIENT_SECRETS` (`list`,
/// comma-separated, blanks around entries ignored) and the deprecated
/// `AUTH_CLIENT_SECRET` (`single`).
pub fn parse(list: Option<&str>, single: Option<&str>) -> Result<ClientSecretList, SecretsError> {
    let (secrets, deprecated, variable) = match (list, single) {
        (Some(_), Some(_)) => return Err(SecretsError::BothSet),
        (None, None) => return Err(SecretsError::Missing),
        (None, Some(one)) => (vec![one.to_owned()], true, DEPRECATED_VARIABLE),
        (Some(list), None) => {
            (list.split(',').map(|s| s.trim().to_owned()).collect(), false, VARIABLE)
        }
    };
    if secrets.len() == 1 && secrets[0].is_empty() {
        return Err(SecretsError::Missing);
    }
    if secrets.len() > MAX_SECRETS {
        return Err(SecretsError::TooMany);
    }
    for (i, secret) in secrets.iter().enumerate() {
        if secret.is_empty() {
            return Err(SecretsError::Empty(i + 1));
        }
        // Bytes, as the auth-api counted before lists: a secret accepted
        // then is accepted now.
        if secret.len() < MIN_LEN {
            return Err(SecretsError::Short { variable, entry: i + 1 });
        }
        if let Some(j) = secrets[..i].iter().position(|earlier| earlier == secret) {
            return Err(SecretsError::Repeated(i + 1, j + 1));
        }
    }
    Ok(ClientSecretList { secrets, deprecated })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "first-secret-0123456789";
    const B: &str = "second-secret-0123456789";

    #[test]
    fn a_list_keeps_its_order_and_the_single_variable_is_one_verbatim_entry() {
        let list = parse(Some(&format!(" {A} ,{B}")), None).unwrap();
        assert_eq!(list.secrets, [A, B]);
        assert!(!list.deprecated);
        let with_comma = "old,secret-with-a-comma";
        let single = parse(None, Some(with_comma)).unwrap();
        assert_eq!(single.secrets, [with_comma]);
        assert!(single.deprecated);
    }

    #[test]
    fn every_entry_must_be_long_distinct_and_present() {
        assert_eq!(parse(Some(A), Some(B)).unwrap_err(), SecretsError::BothSet);
        assert_eq!(parse(None, None).unwrap_err(), SecretsError::Missing);
        assert_eq!(parse(Some(" "), None).unwrap_err(), SecretsError::Missing);
        assert_eq!(parse(Some(&format!("{A},,{B}")), None).unwrap_err(), SecretsError::Empty(2));
        assert_eq!(parse(Some(&format!("{A},")), None).unwrap_err(), SecretsError::Empty(2));
        assert_eq!(
            parse(Some(&format!("{A},short")), None).unwrap_err(),
            SecretsError::Short { variable: VARIABLE, entry: 2 }
        );
        assert_eq!(
            parse(Some(&format!("{A},{B},{A}")), None).unwrap_err(),
            SecretsError::Repeated(3, 1)
        );
        let five =
            [A, B, "third-secret-0123456789", "fourth-secret-0123456789", "fifth-secret-012345"];
        assert_eq!(parse(Some(&five.join(",")), None).unwrap_err(), SecretsError::TooMany);
        assert_eq!(parse(Some(&five[..4].join(",")), None).unwrap().secrets.len(), 4);
        assert_eq!(
            parse(None, Some("short")).unwrap_err().to_string(),
            "AUTH_CLIENT_SECRET must be at least 16 characters"
        );
    }

    #[test]
    fn neither_the_errors_nor_debug_show_a_secret() {
        let list = parse(Some(&format!("{A},{B}")), None).unwrap();
        assert!(!format!("{list:?}").contains(A) && !format!("{list:?}").contains(B));
        let refused = parse(Some(&format!("{A},{A}")), None).unwrap_err();
        assert!(!refused.to_string().contains(A));
    }
}
