//! The pieces of second factors, with no I/O: the key that seals them at
//! rest ([`key`]), authenticator-app codes ([`totp`]), recovery codes
//! ([`recovery`]), the token of a pending sign-in ([`pending`]) and the
//! WebAuthn relying party ([`webauthn`]). Enrolment
//! is `second_factors`; signing in with them is `sessions::second_factor`.

pub mod key;
pub mod pending;
pub mod recovery;
pub mod totp;
pub mod webauthn;
