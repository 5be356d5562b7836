//! The one error body every auth-api error uses: `{"error", "error_description"?}`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Error codes, RFC 6749 §5.2 where they fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the request is malformed (bad JSON, missing field, wrong type).
    InvalidRequest,
    /// 400: wrong credentials, or a refresh token that is unknown, expired or revoked.
    InvalidGrant,
    /// 401: missing or wrong client credentials.
    InvalidClient,
    /// 401: missing, malformed, expired or revoked access token.
    InvalidToken,
    /// 403: authenticated, but not allowed.
    Forbidden,
    /// 403: a sensitive action needs the password again (`POST /auth/reauth`):
    /// the session's last proof of it is older than `REAUTH_MAX_AGE`.
    ReauthRequired,
    /// 403 (to a password grant): the password was right and the user has a
    /// second factor; the body carries an `MfaChallenge` to continue with.
    MfaRequired,
    /// 403: this needs a session that proved a second factor (an
    /// administrator under `MFA_REQUIRED_ROLES`); RFC 9470's name.
    InsufficientUserAuthentication,
    /// 400: the pending sign-in (`mfa_token`) is unknown, expired, or was
    /// discarded after too many wrong codes: sign in again (RFC 8628's name).
    ExpiredToken,
    /// 400: a token exchange asked for an audience it may not have (RFC
    /// 8693's name): the frontend's own client id, whose tokens it already has.
    InvalidTarget,
    /// 404: no such resource (or not one the caller may see).
    NotFound,
    /// 409: refused because of the state of things (the last active
    /// administrator cannot be disabled, demoted or deleted; a username is taken).
    Conflict,
    /// 405: the route exists but not with this method.
    MethodNotAllowed,
    /// 413: the body is larger than the service accepts.
    PayloadTooLarge,
    /// 415: the body is not `application/json`.
    UnsupportedMediaType,
    /// 400: a new password the policy refuses; `error_description` says why.
    WeakPassword,
    /// 429: too many failed attempts; see `Retry-After`.
    RateLimited,
    /// 500: something failed inside; details are only in the server log.
    ServerError,
    /// 503: a dependency (the database) is unavailable.
    TemporarilyUnavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::ReauthRequired => "reauth_required",
            ErrorCode::MfaRequired => "mfa_required",
            ErrorCode::InsufficientUserAuthentication => "insufficient_user_authentication",
            ErrorCode::ExpiredToken => "expired_token",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::WeakPassword => "weak_password",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorCode,
    /// A human-readable hint. Never contains secrets, tokens or internal detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// With `mfa_required` only: how to continue the sign-in.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<crate::MfaChallenge>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_rfc_names() {
        for code in [
            ErrorCode::InvalidRequest,
            ErrorCode::InvalidGrant,
            ErrorCode::InvalidTarget,
            ErrorCode::WeakPassword,
            ErrorCode::RateLimited,
            ErrorCode::TemporarilyUnavailable,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn description_is_omitted_when_absent() {
        let body =
            ErrorBody { error: ErrorCode::InvalidClient, error_description: None, challenge: None };
        assert_eq!(serde_json::to_string(&body).unwrap(), r#"{"error":"invalid_client"}"#);
    }
}
