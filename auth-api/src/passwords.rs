//! Password hashing with argon2id at OWASP's parameters (m = 19 MiB, t = 2,
//! p = 1). Hashing takes tens of milliseconds of CPU, so it always runs on the
//! blocking pool: on the async executor it would stall every other request of
//! that worker.
//!
//! Login verifications run at most one per core at a time; the rest wait
//! for a slot without a thread. The blocking pool would otherwise start up
//! to 512 at once: a flood of sign-in attempts from many addresses (each
//! under its own throttle) would take 19 MiB per attempt, ~9.5 GiB, and
//! hashes sharing a core only thrash each other's caches, finishing no
//! sooner in total.

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::{SaltString, rand_core::OsRng},
};

use crate::{domain::Password, error::ApiError};

/// The hasher with the parameters above (public for `benches/argon2.rs`).
pub fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Verifies login attempts. Holds a hash of a random password made at start
/// so an unknown user costs exactly one full verification, like a known one.
#[derive(Clone)]
pub struct Passwords {
    dummy_hash: std::sync::Arc<str>,
    /// One permit per verification allowed to hash at once.
    slots: std::sync::Arc<tokio::sync::Semaphore>,
}

impl Passwords {
    /// One verification at a time per core.
    pub async fn new() -> Result<Self, ApiError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_slots(cores).await
    }

    pub async fn with_slots(slots: usize) -> Result<Self, ApiError> {
        let random = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            crate::tokens::random_bytes::<24>(),
        );
        let dummy =
            Self::hash(Password::parse(random).expect("32 random characters are a valid password"))
                .await?;
        Ok(Self {
            dummy_hash: dummy.into(),
            slots: std::sync::Arc::new(tokio::sync::Semaphore::new(slots.max(1))),
        })
    }

    pub async fn hash(password: Password) -> Result<String, ApiError> {
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2()
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| ApiError::Internal(format!("hashing failed: {e}")))
        })
        .await
        .map_err(|e| ApiError::Internal(format!("hashing task failed: {e}")))?
    }

    /// True only if `stored` is `Some` and matches. With `None` (unknown user)
    /// the dummy hash is verified instead, so both cases take the same time.
    pub async fn verify(
        &self,
        candidate: String,
        stored: Option<String>,
    ) -> Result<bool, ApiError> {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        // Never closed, so acquiring cannot fail; if it did, fail closed.
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::Internal("password slots closed".into()))?;
        let matched = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            // A stored hash that does not parse fails closed, after the same work.
            let parsed = PasswordHash::new(&hash).ok();
            match parsed {
                Some(parsed) => argon2().verify_password(candidate.as_bytes(), &parsed).is_ok(),
                None => false,
            }
        })
        .await
        .map_err(|e| ApiError::Internal(format!("verification task failed: {e}")))?;
        Ok(known && matched)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_verification_hashes_only_while_holding_a_slot() {
        let passwords = Passwords::with_slots(1).await.unwrap();
        // The only slot is taken: a verification must wait for it.
        let held = passwords.slots.clone().acquire_owned().await.unwrap();
        let waiting = tokio::spawn({
            let p = passwords.clone();
            async move { p.verify("guess".into(), None).await }
        });
        // Ample time for a hash (~20 ms here) that did not wait for the slot.
        let mut waiting = waiting;
        let early = tokio::time::timeout(Duration::from_millis(500), &mut waiting).await;
        assert!(early.is_err(), "a verification hashed without a slot");
        drop(held);
        assert!(!waiting.await.unwrap().unwrap(), "an unknown user never matches");
        assert_eq!(passwords.slots.available_permits(), 1, "and gave it back");
    }
}
