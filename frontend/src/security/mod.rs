//! Defences every response gets: the cross-site request check and the
//! security headers; and who the client is, by address, behind proxies.

pub mod client;
pub mod headers;
pub mod origin;
