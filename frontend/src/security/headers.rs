//! Security headers on every response. Pages rendered by Leptos set their own
//! `Content-Security-Policy` carrying the per-response script nonce (see
//! `app::shell`); everything else gets the strict default below.

use actix_web::{
    Error,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{self, HeaderName, HeaderValue},
    middleware::Next,
};

/// For responses without scripts: nothing may run, frame us or be framed.
pub const DEFAULT_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The policy for a page whose only scripts carry `nonce`: the hydration
/// loader and its wasm (which needs `'wasm-unsafe-eval'` to compile).
pub fn page_csp(nonce: &str) -> String {
    format!(
        "default-src 'none'; script-src 'nonce-{nonce}' 'strict-dynamic' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
         base-uri 'none'"
    )
}

pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut res = next.call(req).await?;
    let h = res.headers_mut();
    let defaults = [
        (header::CONTENT_SECURITY_POLICY, DEFAULT_CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // Not `no-referrer`: with it, browsers send `Origin: null` on form
        // posts and the origin check could not tell our forms from others.
        (header::REFERRER_POLICY, "same-origin"),
        (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
        (HeaderName::from_static("permissions-policy"), "camera=(), microphone=(), geolocation=()"),
    ];
    for (name, value) in defaults {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
    Ok(res)
}
