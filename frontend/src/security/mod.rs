//! Defences every response gets: the cross-site request check and the
//! security headers; where a browser may be sent after signing in; and who
//! the client is, by address, behind proxies.

pub mod client;
pub mod headers;
pub mod next;
pub mod origin;
