//! Password hashing with argon2id at OWASP's parameters (m = 19 MiB, t = 2,
//! p = 1). Hashing takes tens of milliseconds of CPU, so it always runs on the
//! blocking pool: on the async executor it would stall every other request of
//! that worker.

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
}

impl Passwords {
    pub async fn new() -> Result<Self, ApiError> {
        let random = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            crate::tokens::random_bytes::<24>(),
        );
        let dummy =
            Self::hash(Password::parse(random).expect("32 random characters are a valid password"))
                .await?;
        Ok(Self { dummy_hash: dummy.into() })
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
        let matched = tokio::task::spawn_blocking(move || {
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
