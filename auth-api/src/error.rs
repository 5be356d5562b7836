//! `ApiError`: every way a request can fail, and the one place that decides
//! the status code and JSON body for each.
//!
//! Internal detail (SQL errors, key problems) is logged here with the request's
//! span and never reaches the client: the body says only the RFC 6749 code.

use actix_web::{
    HttpResponse, ResponseError,
    http::{StatusCode, header},
};
use shared::{ErrorBody, ErrorCode};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Wrong credentials or a dead refresh token. Deliberately carries no
    /// detail: "no such user" and "wrong password" must look identical.
    #[error("invalid grant")]
    InvalidGrant,
    /// The current password, re-entered to authorise a change, is wrong:
    /// 403 rather than `InvalidGrant`'s 400, because the caller's session
    /// is fine and must not be treated as ended.
    #[error("wrong password")]
    WrongPassword,
    /// A second-factor code, entered by a signed-in user to confirm or
    /// remove a factor, is wrong or was already used: 403 like `WrongPassword`.
    #[error("wrong code")]
    WrongCode,
    /// A new password the policy refuses; the text says why, for the user.
    #[error("weak password: {0}")]
    WeakPassword(String),
    #[error("invalid client")]
    InvalidClient,
    #[error("invalid token")]
    InvalidToken,
    #[error("forbidden")]
    Forbidden,
    /// A sensitive action, and the session proved the password too long ago.
    #[error("recent authentication required")]
    ReauthRequired,
    /// The password was right; the sign-in waits for a second factor.
    /// Not a failure, but a 403 with a body like one (OAuth's `mfa_required`).
    #[error("second factor required")]
    MfaRequired(shared::MfaChallenge),
    /// The caller's session has not proven a second factor, and the action
    /// (an administrator's, under `MFA_REQUIRED_ROLES`) requires one.
    #[error("second factor required for this action")]
    InsufficientUserAuthentication,
    /// The pending sign-in is unknown, expired or discarded.
    #[error("pending sign-in expired")]
    ExpiredToken,
    /// A token exchange for an audience it may not have; the text says why.
    #[error("invalid target: {0}")]
    InvalidTarget(String),
    #[error("not found")]
    NotFound,
    /// Refused because of the state of things; the text says what.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("rate limited for {retry_after} s")]
    RateLimited { retry_after: u64 },
    /// Shared: one failed group commit answers every rotation it carried.
    #[error("storage unavailable: {0}")]
    Unavailable(#[source] Arc<sqlx::Error>),
    /// Too many password verifications already waiting for a core.
    #[error("busy: password verifications queued too long")]
    Busy,
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::InvalidRequest(_) => ErrorCode::InvalidRequest,
            ApiError::InvalidGrant | ApiError::WrongPassword | ApiError::WrongCode => {
                ErrorCode::InvalidGrant
            }
            ApiError::WeakPassword(_) => ErrorCode::WeakPassword,
            ApiError::InvalidClient => ErrorCode::InvalidClient,
            ApiError::InvalidToken => ErrorCode::InvalidToken,
            ApiError::Forbidden => ErrorCode::Forbidden,
            ApiError::ReauthRequired => ErrorCode::ReauthRequired,
            ApiError::MfaRequired(_) => ErrorCode::MfaRequired,
            ApiError::InsufficientUserAuthentication => ErrorCode::InsufficientUserAuthentication,
            ApiError::ExpiredToken => ErrorCode::ExpiredToken,
            ApiError::InvalidTarget(_) => ErrorCode::InvalidTarget,
            ApiError::NotFound => ErrorCode::NotFound,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            ApiError::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            ApiError::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            ApiError::RateLimited { .. } => ErrorCode::RateLimited,
            ApiError::Unavailable(_) | ApiError::Busy => ErrorCode::TemporarilyUnavailable,
            ApiError::Internal(_) => ErrorCode::ServerError,
        }
    }

    /// What the client may read. Only `InvalidRequest` explains itself (its
    /// text is written by us, about the shape of the request, never echoing it).
    fn description(&self) -> Option<String> {
        match self {
            ApiError::InvalidRequest(why)
            | ApiError::InvalidTarget(why)
            | ApiError::WeakPassword(why)
            | ApiError::Conflict(why) => Some(why.clone()),
            ApiError::RateLimited { retry_after } => {
                Some(format!("too many failed attempts; retry in {retry_after} s"))
            }
            ApiError::PayloadTooLarge => Some("request body is larger than 16 KiB".into()),
            ApiError::ReauthRequired => {
                Some("enter your password again to do this (POST /auth/reauth)".into())
            }
            ApiError::Busy => Some("too many sign-ins at once; retry shortly".into()),
            // Never the database's own message: it may name files or hosts.
            ApiError::Unavailable(_) => Some(
                "storage is unavailable for now (unreachable, busy or full); retry shortly".into(),
            ),
            ApiError::MfaRequired(_) => Some("enter a second factor to finish signing in".into()),
            ApiError::WrongCode => Some("the code is wrong, expired or already used".into()),
            ApiError::InsufficientUserAuthentication => {
                Some("sign in with your second factor to do this".into())
            }
            ApiError::ExpiredToken => {
                Some("the sign-in expired or had too many wrong codes; start again".into())
            }
            ApiError::UnsupportedMediaType => {
                Some("expected Content-Type: application/json".into())
            }
            _ => None,
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        match err {
            crate::store::StoreError::Database(e) => e.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        Arc::new(err).into()
    }
}

impl From<Arc<sqlx::Error>> for ApiError {
    fn from(err: Arc<sqlx::Error>) -> Self {
        // A database that cannot be reached, is locked past the busy timeout
        // or has a full disk is a temporary condition: the caller may retry
        // and nothing was half-written (every write is one transaction).
        let temporary = match &*err {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
            sqlx::Error::Database(db) => db.code().as_deref().is_some_and(is_temporary),
            _ => false,
        };
        if temporary { ApiError::Unavailable(err) } else { ApiError::Internal(err.to_string()) }
    }
}

/// Database error codes that mean "try again later": SQLite's numeric codes
/// and PostgreSQL's five-character SQLSTATEs never collide.
fn is_temporary(code: &str) -> bool {
    matches!(
        code,
        // SQLite: SQLITE_BUSY, SQLITE_LOCKED, SQLITE_FULL and their extended codes.
        "5" | "6" | "13" | "261" | "517"
        // PostgreSQL: serialization failure, deadlock (the other transaction
        // went through), lock timeout, disk full, out of memory, too many
        // connections, server shutting down or restarting.
        | "40001" | "40P01" | "55P03" | "53100" | "53200" | "53300"
        | "57P01" | "57P02" | "57P03"
    ) || code.starts_with("08") // PostgreSQL: connection exceptions
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidRequest(_)
            | ApiError::InvalidGrant
            | ApiError::WeakPassword(_)
            | ApiError::InvalidTarget(_)
            | ApiError::ExpiredToken => StatusCode::BAD_REQUEST,
            ApiError::InvalidClient | ApiError::InvalidToken => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden
            | ApiError::WrongPassword
            | ApiError::WrongCode
            | ApiError::ReauthRequired
            | ApiError::MfaRequired(_)
            | ApiError::InsufficientUserAuthentication => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Unavailable(err) => tracing::warn!(error = %err, "storage unavailable"),
            ApiError::Busy => {
                tracing::warn!("password verifications queued too long; answered 503")
            }
            ApiError::Internal(err) => tracing::error!(error = %err, "internal error"),
            _ => {}
        }
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        match self {
            ApiError::RateLimited { retry_after } => {
                res.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            ApiError::Unavailable(_) | ApiError::Busy => {
                res.insert_header((header::RETRY_AFTER, "1"));
            }
            ApiError::InvalidClient => {
                res.insert_header((header::WWW_AUTHENTICATE, r#"Basic realm="cloakroom""#));
            }
            ApiError::InvalidToken => {
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    r#"Bearer realm="cloakroom", error="invalid_token""#,
                ));
            }
            _ => {}
        }
        let challenge = match self {
            ApiError::MfaRequired(challenge) => Some(challenge.clone()),
            _ => None,
        };
        res.json(ErrorBody { error: self.code(), error_description: self.description(), challenge })
    }
}

/// Turns the framework's own rejections (bad JSON, wrong content type, body
/// too large, bad query or path) into `ApiError`s, so they get the same JSON
/// body as everything else instead of actix's plain-text defaults.
pub mod rejections {
    use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};

    use super::ApiError;

    pub fn json(err: JsonPayloadError, _: &actix_web::HttpRequest) -> actix_web::Error {
        let api = match err {
            JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
                ApiError::PayloadTooLarge
            }
            JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
            // serde's message names the missing or mistyped field; it never
            // contains the value, so it is safe and useful to return.
            JsonPayloadError::Deserialize(e) => {
                ApiError::InvalidRequest(format!("invalid JSON body: {e}"))
            }
            _ => ApiError::InvalidRequest("unreadable request body".into()),
        };
        api.into()
    }

    pub fn query(err: QueryPayloadError, _: &actix_web::HttpRequest) -> actix_web::Error {
        ApiError::InvalidRequest(format!("invalid query string: {err}")).into()
    }

    pub fn path(err: PathError, _: &actix_web::HttpRequest) -> actix_web::Error {
        ApiError::InvalidRequest(format!("invalid path: {err}")).into()
    }
}
