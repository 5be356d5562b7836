//! # notes
//!
//! An example of an app behind Cloakroom (an *upstream*, see
//! `docs/upstreams.md`): a small JSON API keeping a list of notes per user
//! in SQLite. Cloakroom's frontend forwards `/notes-api/*` to it (the entry
//! in `examples/notes/upstreams.toml`, prefix kept) with the signed-in
//! user's access token; `just dev` runs it on `127.0.0.1:9000`.
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /notes-api/notes` | `{"notes":[{"id","text","created_at"}]}`, the caller's, newest first |
//! | `POST /notes-api/notes` `{"text"}` | `201` with the note; text trimmed, 1–500 characters, else `400` |
//! | `DELETE /notes-api/notes/{id}` | `204`; `404` if the caller has no such note (another user's included) |
//!
//! ## How a request flows
//!
//! `TracingLogger` opens a span with a request id and [`startup`]'s logger
//! writes one line per request (never a header). The route's handler in
//! [`notes`] first extracts the caller, [`auth::User`]: the `Authorization:
//! Bearer` token is verified here, with `shared::verify`, against the
//! auth-api's public keys ([`auth::Jwks`], fetched at start-up and again,
//! rate-limited, when a token names a key it lacks). A missing, forged,
//! expired or misaddressed token ends the request with `401` and
//! `WWW-Authenticate: Bearer error="invalid_token"`; a genuine token of a
//! user who must first change their password or set up a second factor,
//! with `403`. The caller is the token's `sub` and nothing else: the
//! `X-Cloakroom-*` headers Cloakroom adds are never read. Only then is the
//! body parsed ([`notes::NoteText`]), and every query in [`notes::Store`] is
//! scoped by that `sub`. Every failure is an [`error::NotesError`], whose
//! status and JSON body are decided in one place; bad input is always a 4xx.
//!
//! [`config`] reads the settings once; [`clock`] is injected so token expiry
//! is tested without sleeping.

pub mod auth;
pub mod clock;
pub mod config;
pub mod error;
pub mod notes;
pub mod startup;

/// The Rust snippet of `docs/upstreams.md` compiles (a doctest), so the
/// guide cannot drift from the `shared` and `jsonwebtoken` APIs it shows.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/upstreams.md")]
pub struct UpstreamsGuide;
