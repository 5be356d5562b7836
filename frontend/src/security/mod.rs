//! Defences every response gets: the cross-site request check and the
//! security headers.

pub mod headers;
pub mod origin;
