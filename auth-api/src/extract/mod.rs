//! Request extractors that authenticate the caller. A handler that takes one
//! of these cannot run for an unauthenticated request.

mod bearer;
mod client;

pub use bearer::{AdminUser, AuthUser, is_admin_now};
pub use client::ClientAuth;
