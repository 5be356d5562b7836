//! Request extractors that authenticate the caller. A handler that takes one
//! of these cannot run for an unauthenticated request.

mod bearer;
mod client;

pub use bearer::{AdminUser, AuthUser};
pub use client::ClientAuth;
