//! # auth-api
//!
//! Cloakroom's token service: an actix-web JSON API that only the Cloakroom
//! frontend calls (authenticated as a confidential client with HTTP Basic).
//! It owns users and their argon2id password hashes, sessions, the opaque
//! rotating refresh tokens that stand for them, and the Ed25519 keys that sign
//! short-lived access tokens. The contract is `docs/DESIGN.md`.
//!
//! ## How a request flows
//!
//! Every request passes `TracingLogger` (a span with a request id, in the
//! trace the frontend's `traceparent` names: `shared::telemetry`), the
//! metrics middleware and default security headers, then reaches one handler
//! in [`routes`]. Handlers authenticate through extractors in [`extract`]:
//! `ClientAuth` for the frontend's client endpoints, `AuthUser`/`AdminUser`
//! for bearer endpoints (local JWT verification plus a session-liveness check).
//! Bodies over 16 KiB, malformed JSON and wrong content types are turned into
//! JSON errors by [`error::rejections`]; every failure is an [`error::ApiError`]
//! whose status and body are decided in one place.
//!
//! - **Sign-in** (`POST /auth/token`, password grant): [`throttle`] refuses a
//!   throttled username or IP before any hashing; [`passwords`] verifies on the
//!   blocking pool (a dummy hash for unknown users, so timing reveals nothing);
//!   [`sessions::login`] starts a new session, mints a refresh token (stored
//!   hashed) and signs an access token ([`tokens::access`]). A user with a
//!   second factor gets a pending sign-in instead (`403 mfa_required`), which
//!   [`sessions::second_factor`] finishes with a code, a recovery code or a
//!   passkey; [`sessions::passkey`] signs in with a passkey alone.
//! - **Second factors** ([`second_factors`], from the pieces in [`mfa`]):
//!   authenticator apps (keys sealed under `MFA_ENCRYPTION_KEY`), recovery
//!   codes (HMAC'd), passkeys (`webauthn-rs`, ceremonies kept server-side);
//!   `MFA_REQUIRED_ROLES` decides whose admin rights need one proven. The
//!   key rotates ([`mfa_rotation`]: `auth-api mfa status`, `mfa rekey`).
//! - **Refresh** (refresh grant): [`sessions::refresh`] rotates the token in
//!   one conditional update; a rotated-out token within the grace window gets
//!   the same successor, after it ends the session (reuse detection).
//! - **Token exchange** (RFC 8693 grant): [`exchange`] checks the session's
//!   access token as a bearer endpoint would, and signs a copy of its claims
//!   for an upstream app's audience, which the auth-api itself refuses; the
//!   frontend forwards that one, never the session's own.
//! - **Ending sessions** (revoke, `DELETE /auth/sessions/{id}`, admin, CLI):
//!   the session row and a revocation-feed entry are written in one
//!   transaction; long-polls on `/auth/revocations` wake ([`feed`]) — on
//!   PostgreSQL in every instance, through LISTEN/NOTIFY.
//! - **Keys**: [`tokens::keys`] keeps the ring loaded from the database and
//!   serves JWKS; `auth-api keys rotate` adds a key that every instance picks up.
//!
//! [`store`] is the only module that speaks SQL: SQLite for one instance,
//! PostgreSQL for several, chosen by the `DATABASE_URL` scheme, each query
//! written once for both. [`clock`] is injected so expiry is tested without
//! sleeping. Handlers share one [`state::AppState`]; [`startup::Application`]
//! assembles it all and binds (port 0 works; tests use it).
//!
//! Dependencies point down: [`domain`] (values such as `Username` and
//! `EndReason`) and [`store`] at the bottom, [`state`] above them, the session
//! rules and extractors above that, [`routes`] and [`startup`] on top. No
//! module imports one that imports it back.

pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod exchange;
pub mod extract;
pub mod feed;
pub mod metrics;
pub mod mfa;
pub mod mfa_rotation;
pub mod passwords;
pub mod policy;
pub mod routes;
pub mod second_factors;
pub mod sessions;
pub mod startup;
pub mod state;
pub mod store;
pub mod throttle;
pub mod tokens;
pub mod users;
