//! Access tokens: short-lived JWTs, EdDSA only, `typ: at+jwt`. Signing is
//! here; verification is `shared::verify`, which the frontend uses too.

use jsonwebtoken::{Algorithm, Header};
use shared::{
    ACCESS_TOKEN_TYPE, AccessClaims, Role,
    verify::{Expected, verify_access_token},
};

use super::keys::KeySet;
use crate::error::ApiError;

pub use shared::verify::LEEWAY;

/// Who a token is from (`iss`) and for (`aud`): the frontend's client id
/// (`AppState::audience`), the only audience the auth-api itself accepts;
/// or, for a token exchanged for an upstream app (`crate::exchange`), that app's.
pub struct Audience<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
}

pub struct Subject<'a> {
    pub user_id: &'a str,
    pub username: &'a str,
    pub roles: &'a [Role],
    pub session_id: &'a str,
    pub auth_time: i64,
    pub password_change_required: bool,
    pub amr: &'a [String],
    pub mfa_setup_required: bool,
}

impl<'a> Subject<'a> {
    /// The subject of an access token already issued, claim for claim.
    pub fn of(claims: &'a AccessClaims) -> Self {
        Subject {
            user_id: &claims.sub,
            username: &claims.username,
            roles: &claims.roles,
            session_id: &claims.sid,
            auth_time: claims.auth_time,
            password_change_required: claims.password_change_required,
            amr: &claims.amr,
            mfa_setup_required: claims.mfa_setup_required,
        }
    }
}

/// Signs an access token for `aud`, valid from `now` for `ttl` seconds.
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
        aud: aud.audience.to_owned(),
        sub: subject.user_id.to_owned(),
        sid: subject.session_id.to_owned(),
        username: subject.username.to_owned(),
        roles: subject.roles.to_vec(),
        iat: now,
        nbf: now,
        exp: now + ttl,
        jti: uuid::Uuid::new_v4().simple().to_string(),
        auth_time: subject.auth_time,
        password_change_required: subject.password_change_required,
        amr: subject.amr.to_vec(),
        mfa_setup_required: subject.mfa_setup_required,
    };
    signer.sign(&header, &claims)
}

/// Verifies signature, algorithm, type, issuer, audience and time (the rules
/// live in `shared::verify`). Says nothing about whether the session is still
/// live; callers check that.
pub fn verify(
    token: &str,
    keys: &KeySet,
    aud: &Audience<'_>,
    now: i64,
) -> Result<AccessClaims, ApiError> {
    let expected = Expected { issuer: aud.issuer, audience: aud.audience };
    verify_access_token(token, |kid| keys.verifiers.get(kid), expected, now)
        .map_err(|_| ApiError::InvalidToken)
}
