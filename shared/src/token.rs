//! `/auth/token` and `/auth/revoke` bodies (RFC 6749 / RFC 7009 shapes).

use serde::{Deserialize, Serialize};

use crate::Role;

/// The body of `POST /auth/token`, told apart by `grant_type`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "grant_type", rename_all = "snake_case")]
pub enum TokenRequest {
    Password {
        username: String,
        password: String,
        #[serde(default)]
        remember: bool,
        /// The browser's `User-Agent`, recorded for the sessions list.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_agent: Option<String>,
        /// The browser's IP as the frontend saw it; also a throttling key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ip: Option<String>,
        /// The id of this browser's device cookie for this username, sent
        /// only when the frontend opened a valid one: attempts with it are
        /// judged on that device's failures alone.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<String>,
    },
    RefreshToken {
        refresh_token: String,
    },
    /// The second step of a sign-in (an extension grant, RFC 6749 §4.5):
    /// the pending sign-in's `mfa_token` and the authenticator app's code.
    #[serde(rename = "urn:cloakroom:params:oauth:grant-type:mfa-otp")]
    MfaOtp {
        mfa_token: String,
        otp: String,
    },
    /// The second step with one of the user's recovery codes instead.
    #[serde(rename = "urn:cloakroom:params:oauth:grant-type:mfa-recovery-code")]
    MfaRecoveryCode {
        mfa_token: String,
        recovery_code: String,
    },
    /// The second step with one of the user's passkeys: the answer
    /// (`PublicKeyCredential.toJSON()`) to the ceremony begun for it.
    #[serde(rename = "urn:cloakroom:params:oauth:grant-type:mfa-passkey")]
    MfaPasskey {
        mfa_token: String,
        ceremony: String,
        credential: String,
    },
    /// A sign-in with a passkey alone (a discoverable credential names its
    /// user): no password, `amr` `["hwk"]`.
    #[serde(rename = "urn:cloakroom:params:oauth:grant-type:passkey")]
    Passkey {
        ceremony: String,
        credential: String,
        #[serde(default)]
        remember: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_agent: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ip: Option<String>,
    },
    /// Token exchange (RFC 8693): the frontend trades a session's access
    /// token for one whose `aud` is an upstream app's, to forward to that
    /// app. Such a token is refused by the auth-api itself (its audience is
    /// not the frontend's), so an app that receives it cannot act at the
    /// auth-api as the user.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange {
        subject_token: String,
        /// Must be [`ACCESS_TOKEN_URN`].
        subject_token_type: String,
        audience: String,
    },
}

/// RFC 8693's token type of an access token.
pub const ACCESS_TOKEN_URN: &str = "urn:ietf:params:oauth:token-type:access_token";

/// A successful token exchange (RFC 8693 §2.2.1).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangedToken {
    pub access_token: String,
    /// Always [`ACCESS_TOKEN_URN`].
    pub issued_token_type: String,
    /// Always `"Bearer"`.
    pub token_type: String,
    /// Seconds until `access_token` expires: never later than the subject
    /// token did.
    pub expires_in: u64,
}

impl std::fmt::Debug for ExchangedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangedToken")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

// Hand-written so that a stray `{:?}` in a log line can never print a password
// or a refresh token.
impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenRequest::Password { username, remember, .. } => f
                .debug_struct("Password")
                .field("username", username)
                .field("remember", remember)
                .finish_non_exhaustive(),
            TokenRequest::RefreshToken { .. } => {
                f.debug_struct("RefreshToken").finish_non_exhaustive()
            }
            TokenRequest::MfaOtp { .. } => f.debug_struct("MfaOtp").finish_non_exhaustive(),
            TokenRequest::MfaRecoveryCode { .. } => {
                f.debug_struct("MfaRecoveryCode").finish_non_exhaustive()
            }
            TokenRequest::MfaPasskey { .. } => f.debug_struct("MfaPasskey").finish_non_exhaustive(),
            TokenRequest::Passkey { remember, .. } => {
                f.debug_struct("Passkey").field("remember", remember).finish_non_exhaustive()
            }
            TokenRequest::TokenExchange { audience, .. } => {
                f.debug_struct("TokenExchange").field("audience", audience).finish_non_exhaustive()
            }
        }
    }
}

/// Who a token belongs to; also the body of `GET /auth/userinfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub sub: String,
    pub username: String,
    pub roles: Vec<Role>,
}

impl UserInfo {
    pub fn is_admin(&self) -> bool {
        self.roles.contains(&Role::Admin)
    }
}

/// A successful `POST /auth/token` (RFC 6749 §5.1 plus session data).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `"Bearer"`.
    pub token_type: String,
    /// Seconds until `access_token` expires.
    pub expires_in: u64,
    pub refresh_token: String,
    pub session_id: String,
    /// When the session ends at the latest (absolute timeout), Unix seconds;
    /// a "remember me" cookie lives exactly this long.
    pub session_expires_at: i64,
    /// Whether the user asked to be remembered when the session began.
    pub remember: bool,
    pub user: UserInfo,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("session_id", &self.session_id)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// `POST /auth/revoke` (RFC 7009): ends the session the refresh token belongs to.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeRequest {
    pub token: String,
}

impl std::fmt::Debug for RevokeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevokeRequest").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_grant_parses_with_optional_fields_absent() {
        let req: TokenRequest =
            serde_json::from_str(r#"{"grant_type":"password","username":"alice","password":"pw"}"#)
                .unwrap();
        assert_eq!(
            req,
            TokenRequest::Password {
                username: "alice".into(),
                password: "pw".into(),
                remember: false,
                user_agent: None,
                ip: None,
                device: None,
            }
        );
    }

    #[test]
    fn second_step_grants_use_their_uris() {
        let req: TokenRequest = serde_json::from_str(
            r#"{"grant_type":"urn:cloakroom:params:oauth:grant-type:mfa-otp","mfa_token":"t","otp":"1"}"#,
        )
        .unwrap();
        assert_eq!(req, TokenRequest::MfaOtp { mfa_token: "t".into(), otp: "1".into() });
    }

    #[test]
    fn unknown_grant_type_is_an_error() {
        let res: Result<TokenRequest, _> =
            serde_json::from_str(r#"{"grant_type":"client_credentials"}"#);
        assert!(res.is_err());
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let req = TokenRequest::Password {
            username: "alice".into(),
            password: "hunter22-secret".into(),
            remember: true,
            user_agent: None,
            ip: None,
            device: Some("device-id-0123456789".into()),
        };
        assert!(!format!("{req:?}").contains("hunter22"));
        assert!(!format!("{req:?}").contains("device-id"), "nor the device id");
        let refresh = TokenRequest::RefreshToken { refresh_token: "rt-secret".into() };
        assert!(!format!("{refresh:?}").contains("rt-secret"));
        let otp = TokenRequest::MfaOtp { mfa_token: "mfa-secret".into(), otp: "123456".into() };
        assert!(!format!("{otp:?}").contains("mfa-secret") && !format!("{otp:?}").contains("123"));
        let revoke = RevokeRequest { token: "rt-secret".into() };
        assert!(!format!("{revoke:?}").contains("rt-secret"));
    }
}
