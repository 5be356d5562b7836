//! Security headers on every response. Pages rendered by Leptos set their own
//! `Content-Security-Policy` carrying the per-response script nonce (see
//! `app::shell`); everything else we answer gets the strict default below.
//! An upstream app's responses ([`Proxied`]) keep the app's own policy:
//! ours would stop its scripts; only `nosniff` is added.

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

/// Marks a response as an upstream app's (`proxy`).
#[derive(Debug, Clone, Copy)]
pub struct Proxied;

/// Whether `Cache-Control` says `no-store` already (an app's own strict
/// policy, or the proxy's `private, no-store`): then it is kept as it is.
pub fn forbids_storing(headers: &header::HeaderMap) -> bool {
    headers
        .get_all(header::CACHE_CONTROL)
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|d| d.trim().eq_ignore_ascii_case("no-store")))
}

pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut res = next.call(req).await?;
    let proxied = res.response().extensions().contains::<Proxied>();
    let h = res.headers_mut();
    if proxied {
        if !h.contains_key(header::X_CONTENT_TYPE_OPTIONS) {
            h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        }
        return Ok(res);
    }
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
