use std::fmt;

use sha2::{Digest, Sha256};
use shared::client_secrets::{self, MAX_SECRETS, SecretsError};
use subtle::{Choice, ConstantTimeEq};

/// The client secrets the auth-api accepts (`AUTH_CLIENT_SECRETS`, whose
/// rule is `shared::client_secrets`): any of them opens the client
/// endpoints, so a rotation lists the new and the old one at once. Only
/// their SHA-256 digests are kept, in a fixed number of slots.
#[derive(Clone)]
pub struct ClientSecrets {
    digests: [[u8; 32]; MAX_SECRETS],
    /// Which slots hold a secret (the rest hold zeros and never match).
    used: [u8; MAX_SECRETS],
}

impl fmt::Debug for ClientSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.used.iter().filter(|&&u| u == 1).count();
        write!(f, "ClientSecrets({count}, redacted)")
    }
}

impl ClientSecrets {
    /// From the two variables' values; `true` beside them when the deprecated
    /// `AUTH_CLIENT_SECRET` gave them.
    pub fn from_env(
        list: Option<&str>,
        single: Option<&str>,
    ) -> Result<(Self, bool), SecretsError> {
        let parsed = client_secrets::parse(list, single)?;
        Ok((Self::from_checked(&parsed.secrets), parsed.deprecated))
    }

    /// A comma-separated list, as `AUTH_CLIENT_SECRETS` holds it.
    pub fn parse(list: &str) -> Result<Self, SecretsError> {
        Self::from_env(Some(list), None).map(|(secrets, _)| secrets)
    }

    fn from_checked(secrets: &[String]) -> Self {
        let mut digests = [[0u8; 32]; MAX_SECRETS];
        let mut used = [0u8; MAX_SECRETS];
        for (i, secret) in secrets.iter().enumerate() {
            digests[i] = digest(secret);
            used[i] = 1;
        }
        Self { digests, used }
    }

    /// Whether `given` is one of the secrets. Every slot is compared, used
    /// or not, in constant time and with no early exit: the timing says
    /// neither which secret matched, nor how many there are, nor how much
    /// of one matched (digests, so the lengths are equal too).
    pub fn accepts(&self, given: &str) -> Choice {
        let given = digest(given);
        let mut any = Choice::from(0);
        for (slot, used) in self.digests.iter().zip(self.used) {
            any |= slot.ct_eq(&given) & Choice::from(used);
        }
        any
    }
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEW: &str = "new-client-secret-0123456789";
    const OLD: &str = "old-client-secret-0123456789";

    #[test]
    fn every_listed_secret_opens_and_nothing_else_does() {
        let both = ClientSecrets::parse(&format!("{NEW},{OLD}")).unwrap();
        assert!(bool::from(both.accepts(NEW)));
        assert!(bool::from(both.accepts(OLD)));
        assert!(!bool::from(both.accepts("removed-secret-0123456789")));
        assert!(!bool::from(both.accepts("")), "an unused slot holds no empty secret");
        let new_only = ClientSecrets::parse(NEW).unwrap();
        assert!(!bool::from(new_only.accepts(OLD)));
        assert!(!format!("{both:?}").contains("secret-"), "{both:?}");
    }

    #[test]
    fn the_deprecated_variable_is_a_one_entry_list_and_says_so() {
        let (secrets, deprecated) = ClientSecrets::from_env(None, Some(OLD)).unwrap();
        assert!(deprecated);
        assert!(bool::from(secrets.accepts(OLD)));
        assert_eq!(
            ClientSecrets::from_env(Some(NEW), Some(OLD)).unwrap_err(),
            SecretsError::BothSet
        );
    }
}
