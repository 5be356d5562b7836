//! Claims of the access token (a JWT signed with EdDSA).

use serde::{Deserialize, Serialize};

use crate::Role;

/// The JOSE `typ` header of every access token (RFC 9068). Verifiers refuse
/// any other type, so an ID token or some other JWT signed by the same key can
/// never be replayed as an access token.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// Exactly the claims the design fixes; times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The client id of the frontend the token was issued to.
    pub aud: String,
    /// The user id.
    pub sub: String,
    /// The session id; verifiers check it against the revocation set.
    pub sid: String,
    pub username: String,
    pub roles: Vec<Role>,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    /// When the user last proved their password in this session (OpenID
    /// Connect's claim): sensitive actions ask for it to be recent. Tokens
    /// without it read as "long ago".
    #[serde(default)]
    pub auth_time: i64,
    /// The user is on a temporary password: nothing but changing it is
    /// allowed. Absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub password_change_required: bool,
    /// How the user authenticated in this session (RFC 8176: `pwd`, `otp`,
    /// `hwk`; see `mfa::amr`). Tokens without it read as a password alone.
    #[serde(default)]
    pub amr: Vec<String>,
    /// The user's roles require a second factor (`MFA_REQUIRED_ROLES`) and
    /// this session has none: nothing but setting one up is allowed.
    /// Absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mfa_setup_required: bool,
}
