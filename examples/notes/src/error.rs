//! `NotesError`: every way a request can fail, and the one place that
//! decides the status, headers and JSON body of each: `{"error",
//! "error_description"?}`, the shape and codes the auth-api uses.
//!
//! Bad input of any kind (no token, a forged one, broken JSON, a body too
//! large, an unknown path) is a 4xx with a body saying what was wrong with
//! the *request*; it never echoes a token. Internal detail goes to the log
//! only, and only a database fault is a 5xx.

use actix_web::{
    HttpRequest, HttpResponse, ResponseError,
    error::{JsonPayloadError, PathError},
    http::{StatusCode, header},
};
use shared::{ErrorBody, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum NotesError {
    /// Missing, malformed, forged, expired or misaddressed access token:
    /// which check failed, in our words.
    #[error("invalid token: {0}")]
    InvalidToken(&'static str),
    /// A genuine token whose user may do nothing yet (a temporary password,
    /// a second factor still to set up).
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// What is wrong with the request's shape; never the value itself.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// No such note, or another user's: the two must look the same.
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// The database is locked, full or gone: the caller may retry.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl NotesError {
    pub fn code(&self) -> ErrorCode {
        match self {
            NotesError::InvalidToken(_) => ErrorCode::InvalidToken,
            NotesError::Forbidden(_) => ErrorCode::Forbidden,
            NotesError::InvalidRequest(_) => ErrorCode::InvalidRequest,
            NotesError::NotFound => ErrorCode::NotFound,
            NotesError::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            NotesError::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            NotesError::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            NotesError::Unavailable(_) => ErrorCode::TemporarilyUnavailable,
            NotesError::Internal(_) => ErrorCode::ServerError,
        }
    }

    fn description(&self) -> Option<String> {
        match self {
            NotesError::InvalidToken(why) | NotesError::Forbidden(why) => Some((*why).into()),
            NotesError::InvalidRequest(why) => Some(why.clone()),
            NotesError::PayloadTooLarge => {
                Some(format!("request body is larger than {} KiB", crate::startup::MAX_BODY / 1024))
            }
            NotesError::UnsupportedMediaType => {
                Some("expected Content-Type: application/json".into())
            }
            _ => None,
        }
    }
}

impl From<sqlx::Error> for NotesError {
    fn from(err: sqlx::Error) -> Self {
        // Locked past the busy timeout, disk full, pool exhausted: a state
        // of the database, not a bug; nothing was half-written (one
        // statement per change).
        let temporary = match &err {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
            // SQLite: SQLITE_BUSY, SQLITE_LOCKED, SQLITE_FULL and their extended codes.
            sqlx::Error::Database(db) => {
                db.code().is_some_and(|c| matches!(&*c, "5" | "6" | "13" | "261" | "517"))
            }
            _ => false,
        };
        if temporary { NotesError::Unavailable(err) } else { NotesError::Internal(err.to_string()) }
    }
}

impl ResponseError for NotesError {
    fn status_code(&self) -> StatusCode {
        match self {
            NotesError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            NotesError::Forbidden(_) => StatusCode::FORBIDDEN,
            NotesError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            NotesError::NotFound => StatusCode::NOT_FOUND,
            NotesError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            NotesError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            NotesError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            NotesError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            NotesError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            NotesError::Unavailable(err) => tracing::warn!(error = %err, "database unavailable"),
            NotesError::Internal(err) => tracing::error!(error = %err, "internal error"),
            // Why a token was refused helps whoever runs this; the token itself is never logged.
            NotesError::InvalidToken(why) => tracing::info!(reason = why, "token refused"),
            _ => {}
        }
        let mut res = HttpResponse::build(self.status_code());
        match self {
            // RFC 6750 §3: tells the client the token is what failed.
            NotesError::InvalidToken(_) => {
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    r#"Bearer realm="notes", error="invalid_token""#,
                ));
            }
            NotesError::Unavailable(_) => {
                res.insert_header((header::RETRY_AFTER, "1"));
            }
            _ => {}
        }
        res.json(ErrorBody {
            error: self.code(),
            error_description: self.description(),
            challenge: None,
        })
    }
}

/// The framework's own rejections (bad JSON, wrong content type, body too
/// large, an undecodable path) as `NotesError`s, so they get the same JSON
/// body as everything else instead of actix's plain-text defaults.
pub mod rejections {
    use super::*;

    pub fn json(err: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
        let notes = match err {
            JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
                NotesError::PayloadTooLarge
            }
            JsonPayloadError::ContentType => NotesError::UnsupportedMediaType,
            // serde's message names the field and what was expected; it
            // quotes no more than a token of the input, never a secret here.
            JsonPayloadError::Deserialize(e) => {
                NotesError::InvalidRequest(format!("invalid JSON body: {e}"))
            }
            _ => NotesError::InvalidRequest("unreadable request body".into()),
        };
        notes.into()
    }

    /// A path segment that does not even decode names no note.
    pub fn path(_: PathError, _: &HttpRequest) -> actix_web::Error {
        NotesError::NotFound.into()
    }

    /// Every path this service does not have.
    pub async fn not_found() -> Result<HttpResponse, NotesError> {
        Err(NotesError::NotFound)
    }

    /// A known path with a method it does not take.
    pub async fn method_not_allowed() -> Result<HttpResponse, NotesError> {
        Err(NotesError::MethodNotAllowed)
    }
}
