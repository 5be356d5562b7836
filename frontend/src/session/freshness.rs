//! How close to its expiry an access token is swapped for a fresh one.

/// Refresh this many seconds before the cached token expires, so a token
/// never runs out in the middle of rendering a page, nor on its way to an
/// upstream app.
pub const REFRESH_MARGIN: i64 = 10;
