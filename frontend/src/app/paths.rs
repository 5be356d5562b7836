//! Paths the pages and the server both name: kept in a file that imports
//! nothing, so the error pages and the server functions can use them without
//! reaching into the app's components.

/// The hand-written stylesheet (served by the server, linked by every page
/// and every error page).
pub const STYLESHEET: &str = "/assets/cloakroom.css";

/// The site's icon, where browsers look for it unasked (`assets::favicon`).
pub const FAVICON: &str = "/favicon.ico";

/// Where signing out lands: the home page, saying whether the auth-api
/// confirmed the end of the session or only this browser forgot it.
pub fn signed_out_path(ended: bool) -> &'static str {
    if ended { "/?signed_out=1" } else { "/?signed_out=local" }
}
