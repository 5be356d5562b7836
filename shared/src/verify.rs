//! Access-token verification, the one implementation both verifiers use (the
//! auth-api at its bearer endpoints, the frontend's guard on every page).
//!
//! The rules of the design, each a line below: exactly EdDSA; exactly type
//! `at+jwt`; the key found by `kid` in the verifier's own key set (never via
//! anything the token could point elsewhere, like `jku` or a path); `iss`,
//! `aud`, `exp` and `nbf` checked, time against the caller's clock.

use std::fmt;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::{ACCESS_TOKEN_TYPE, AccessClaims};

/// Tolerated clock difference between machines, in seconds.
pub const LEEWAY: i64 = 5;

/// What a token must claim to be accepted.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    /// The frontend's client id.
    pub audience: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// Not a JWT, or a header that is not ours (algorithm, type).
    Malformed,
    /// Well-formed, but signed by a key we do not hold: a verifier with a
    /// cached key set may refresh it once and try again.
    UnknownKey(String),
    /// Bad signature, issuer or audience.
    Invalid,
    Expired,
    NotYetValid,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Malformed => f.write_str("malformed token"),
            VerifyError::UnknownKey(_) => f.write_str("unknown signing key"),
            VerifyError::Invalid => f.write_str("invalid token"),
            VerifyError::Expired => f.write_str("expired token"),
            VerifyError::NotYetValid => f.write_str("token not yet valid"),
        }
    }
}

impl std::error::Error for VerifyError {}

/// Verifies `token`, looking its key up with `key_for(kid)`.
pub fn verify_access_token<'k>(
    token: &str,
    key_for: impl FnOnce(&str) -> Option<&'k DecodingKey>,
    expected: Expected<'_>,
    now: i64,
) -> Result<AccessClaims, VerifyError> {
    // `alg: none` and unknown algorithms fail to parse here.
    let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
    if header.alg != Algorithm::EdDSA {
        return Err(VerifyError::Malformed);
    }
    let typ_ok = header.typ.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE) || t.eq_ignore_ascii_case("application/at+jwt")
    });
    if !typ_ok {
        return Err(VerifyError::Malformed);
    }
    let kid = header.kid.ok_or(VerifyError::Malformed)?;
    let key = key_for(&kid).ok_or(VerifyError::UnknownKey(kid))?;

    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[expected.issuer]);
    validation.set_audience(&[expected.audience]);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    // The library would read the wall clock; time is checked below against
    // the caller's clock so that expiry is testable.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    let claims = jsonwebtoken::decode::<AccessClaims>(token, key, &validation)
        .map_err(|_| VerifyError::Invalid)?
        .claims;
    check_time(&claims, now)?;
    Ok(claims)
}

/// The time rules alone, for a verifier that re-checks a token it verified
/// earlier: a cached verification never outlives the token.
pub fn check_time(claims: &AccessClaims, now: i64) -> Result<(), VerifyError> {
    if claims.exp + LEEWAY <= now {
        return Err(VerifyError::Expired);
    }
    if claims.nbf - LEEWAY > now {
        return Err(VerifyError::NotYetValid);
    }
    Ok(())
}
