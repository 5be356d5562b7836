//! Access tokens: short-lived JWTs, EdDSA only, `typ: at+jwt`.
//!
//! Verification accepts exactly one algorithm and one type, looks the key up
//! by `kid` in the ring (never by anything the token could point elsewhere,
//! such as `jku` or a path), and checks time against the injected clock
//! rather than the library's wall clock, so expiry is testable.

use jsonwebtoken::{Algorithm, Header, Validation};
use shared::{ACCESS_TOKEN_TYPE, AccessClaims, Role};

use super::keys::KeySet;
use crate::error::ApiError;

/// Tolerated clock difference between instances, in seconds.
pub const LEEWAY: i64 = 5;

pub struct Audience<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
}

pub struct Subject<'a> {
    pub user_id: &'a str,
    pub username: &'a str,
    pub roles: &'a [Role],
    pub session_id: &'a str,
}

/// Signs an access token valid from `now` for `ttl` seconds.
pub fn sign(
    keys: &KeySet,
    aud: &Audience<'_>,
    subject: &Subject<'_>,
    now: i64,
    ttl: i64,
) -> Result<String, ApiError> {
    let signer =
        keys.signer.as_ref().ok_or_else(|| ApiError::Internal("no current signing key".into()))?;
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
    header.kid = Some(signer.kid.clone());
    let claims = AccessClaims {
        iss: aud.issuer.to_owned(),
        aud: aud.client_id.to_owned(),
        sub: subject.user_id.to_owned(),
        sid: subject.session_id.to_owned(),
        username: subject.username.to_owned(),
        roles: subject.roles.to_vec(),
        iat: now,
        nbf: now,
        exp: now + ttl,
        jti: uuid::Uuid::new_v4().simple().to_string(),
    };
    jsonwebtoken::encode(&header, &claims, &signer.key)
        .map_err(|e| ApiError::Internal(format!("signing failed: {e}")))
}

/// Verifies signature, algorithm, type, issuer, audience and time. Says
/// nothing about whether the session is still live; callers check that.
pub fn verify(
    token: &str,
    keys: &KeySet,
    aud: &Audience<'_>,
    now: i64,
) -> Result<AccessClaims, ApiError> {
    // `alg: none` and unknown algorithms fail to parse here.
    let header = jsonwebtoken::decode_header(token).map_err(|_| ApiError::InvalidToken)?;
    if header.alg != Algorithm::EdDSA {
        return Err(ApiError::InvalidToken);
    }
    let typ_ok = header.typ.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE) || t.eq_ignore_ascii_case("application/at+jwt")
    });
    if !typ_ok {
        return Err(ApiError::InvalidToken);
    }
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| keys.verifiers.get(kid))
        .ok_or(ApiError::InvalidToken)?;

    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[aud.issuer]);
    validation.set_audience(&[aud.client_id]);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    // Time is checked below against the injected clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    let claims = jsonwebtoken::decode::<AccessClaims>(token, key, &validation)
        .map_err(|_| ApiError::InvalidToken)?
        .claims;
    if claims.exp + LEEWAY <= now || claims.nbf - LEEWAY > now {
        return Err(ApiError::InvalidToken);
    }
    Ok(claims)
}
