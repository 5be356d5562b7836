//! The wire types Cloakroom's two servers speak to each other.
//!
//! The frontend (Leptos SSR) and the auth-api (actix-web JSON) agree on these
//! shapes and nothing else: request and response bodies, access-token claims,
//! error codes, role names and session views; and the rule of the one secret
//! setting both read (`AUTH_CLIENT_SECRETS`, [`client_secrets`]). By default
//! this crate does no I/O and knows no framework, so both sides (and the wasm
//! build of the frontend) can depend on it cheaply; the servers alone turn on
//! `jwt` (token verification) and `server` (the `/metrics` listener and the
//! HTTP metrics they both keep, readiness, the stop signals, logs and traces). See `docs/DESIGN.md` for the contract these
//! types encode.

pub mod account;
pub mod claims;
pub mod client_secrets;
pub mod error;
pub mod event_kind;
#[cfg(feature = "server")]
pub mod lifecycle;
pub mod log_format;
#[cfg(feature = "server")]
pub mod metrics;
pub mod mfa;
pub mod role;
pub mod session;
#[cfg(feature = "server")]
pub mod telemetry;
pub mod token;
#[cfg(feature = "jwt")]
pub mod verify;

pub use account::{
    AuditEvent, AuditPage, PasswordChange, PasswordCheck, PasswordVerdict, Reauthentication,
};
pub use claims::{ACCESS_TOKEN_TYPE, AccessClaims};
pub use error::{ErrorBody, ErrorCode};
pub use event_kind::EventKind;
pub use mfa::{
    Factor, MfaChallenge, MfaStatus, NewPasskey, PasskeyChallenge, PasskeyOptionsRequest,
    PasskeyView, RecoveryCodes, RegisteredPasskey, TotpCode, TotpSetup,
};
pub use role::{Role, UnknownRole};
pub use session::{
    AdminUserView, CreatedUser, EndedSessions, NewUserRequest, Revocation, RevocationFeed,
    SessionView, UserUpdate,
};
pub use token::{
    ACCESS_TOKEN_URN, ExchangedToken, RevokeRequest, TokenRequest, TokenResponse, UserInfo,
};
