//! Password hashing with argon2id at OWASP's parameters (m = 19 MiB, t = 2,
//! p = 1). Hashing takes tens of milliseconds of CPU, so it always runs on the
//! blocking pool: on the async executor it would stall every other request of
//! that worker.
//!
//! Login verifications run at most one per core at a time; the rest wait
//! for a slot without a thread, for `SLOT_WAIT` at most, then get 503
//! `temporarily_unavailable`. The blocking pools (one per actix worker, up to
//! 512 threads each) would otherwise start them all at once: a flood of
//! sign-in attempts from many addresses (each under its own throttle) would
//! take 19 MiB per attempt, and hashes sharing a core only thrash each
//! other's caches, finishing no sooner in total.

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::{SaltString, rand_core::OsRng},
};

use std::time::Duration;

pub mod policy;

use crate::{domain::Password, error::ApiError};

/// How long a verification waits for a free core before the request is
/// answered 503: a queue that deep is a flood, and a prompt "try again" beats
/// a sign-in page hanging until the browser gives up.
const SLOT_WAIT: Duration = Duration::from_secs(5);

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
    slot_wait: Duration,
}

impl Passwords {
    /// One verification at a time per core.
    pub async fn new() -> Result<Self, ApiError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_slots(cores, SLOT_WAIT).await
    }

    pub async fn with_slots(slots: usize, slot_wait: Duration) -> Result<Self, ApiError> {
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
            slot_wait,
        })
    }

    #[tracing::instrument(level = "debug", name = "argon2.hash", skip_all)]
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
    /// `admit` runs once this verification has a core, as it starts hashing:
    /// the login throttle checks again there, so attempts that queued behind
    /// others do not all slip past a limit those others reached.
    #[tracing::instrument(level = "debug", name = "argon2.verify", skip_all)]
    pub async fn verify(
        &self,
        candidate: String,
        stored: Option<String>,
        admit: impl Future<Output = Result<(), ApiError>>,
    ) -> Result<bool, ApiError> {
        let known = stored.is_some();
        let dummy = self.dummy_hash.clone();
        let hash = stored.unwrap_or_else(|| dummy.to_string());
        let slot = tokio::time::timeout(self.slot_wait, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::Busy)?
            // Never closed, so acquiring cannot fail; if it did, fail closed.
            .map_err(|_| ApiError::Internal("password slots closed".into()))?;
        let hashing = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            match PasswordHash::new(&hash) {
                Ok(parsed) => argon2().verify_password(candidate.as_bytes(), &parsed).is_ok(),
                // A stored hash that does not parse fails closed, after the
                // same work as any other attempt (the dummy's), so a corrupt
                // or foreign hash is not told apart by its speed.
                Err(_) => {
                    let dummy = PasswordHash::new(&dummy).ok();
                    let _ = dummy.map(|d| argon2().verify_password(candidate.as_bytes(), &d));
                    false
                }
            }
        });
        // Checked while the hash runs, not before it: the core is never left
        // idle for the check's queries (logins/s fell ~13 % when it was).
        // Refused here, the attempt's answer is never looked at; its hash
        // finishes in the background and then frees the core.
        admit.await?;
        let matched = hashing
            .await
            .map_err(|e| ApiError::Internal(format!("verification task failed: {e}")))?;
        Ok(known && matched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_verification_hashes_only_while_holding_a_slot() {
        let passwords = Passwords::with_slots(1, SLOT_WAIT).await.unwrap();
        // The only slot is taken: a verification must wait for it.
        let held = passwords.slots.clone().acquire_owned().await.unwrap();
        let waiting = tokio::spawn({
            let p = passwords.clone();
            async move { p.verify("guess".into(), None, async { Ok(()) }).await }
        });
        // Ample time for a hash (~20 ms here) that did not wait for the slot.
        let mut waiting = waiting;
        let early = tokio::time::timeout(Duration::from_millis(500), &mut waiting).await;
        assert!(early.is_err(), "a verification hashed without a slot");
        drop(held);
        assert!(!waiting.await.unwrap().unwrap(), "an unknown user never matches");
        assert_eq!(passwords.slots.available_permits(), 1, "and gave it back");
    }

    #[tokio::test]
    async fn a_verification_that_cannot_get_a_slot_in_time_is_busy() {
        let passwords = Passwords::with_slots(1, Duration::from_millis(50)).await.unwrap();
        let _held = passwords.slots.clone().acquire_owned().await.unwrap();
        let answer = passwords.verify("guess".into(), None, async { Ok(()) }).await;
        assert!(matches!(answer, Err(ApiError::Busy)), "{answer:?}");
    }

    #[tokio::test]
    async fn a_stored_hash_that_does_not_parse_never_matches() {
        let passwords = Passwords::with_slots(1, SLOT_WAIT).await.unwrap();
        let answer = passwords
            .verify("guess".into(), Some("not-a-phc-string".into()), async { Ok(()) })
            .await;
        assert!(!answer.unwrap());
    }

    #[tokio::test]
    async fn an_attempt_refused_as_it_starts_hashing_gets_the_refusal_and_frees_the_core() {
        let passwords = Passwords::with_slots(1, SLOT_WAIT).await.unwrap();
        let refuse = async { Err(ApiError::RateLimited { retry_after: 7 }) };
        let answer = passwords.verify("guess".into(), None, refuse).await;
        assert!(matches!(answer, Err(ApiError::RateLimited { retry_after: 7 })), "{answer:?}");
        // The hash it started finishes in the background, then frees its core.
        let again = passwords.slots.clone().acquire_owned();
        let _core = tokio::time::timeout(Duration::from_secs(10), again).await.expect("core freed");
    }
}
