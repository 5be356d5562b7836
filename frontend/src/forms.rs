//! Forms that must work without JavaScript and answer with the right status:
//! middleware in front of a page's Leptos render handles the POST. Success
//! answers `303` before anything renders; failure lets the same page render
//! with a notice (the page reads it through a server function) under the
//! status that says what went wrong (400, 403, 429, 503).

use actix_web::{
    Error, HttpMessage,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{StatusCode, header},
    middleware::Next,
};

/// Renders the page behind `next` with `notice` in the request's extensions,
/// under `status` (and `Retry-After` when given).
pub async fn render_with_notice<T: Clone + 'static>(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    notice: T,
    status: StatusCode,
    retry_after: Option<u64>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    req.extensions_mut().insert(notice);
    let mut res = next.call(req).await?.map_into_boxed_body();
    *res.response_mut().status_mut() = status;
    if let Some(seconds) = retry_after {
        res.headers_mut().insert(header::RETRY_AFTER, seconds.into());
    }
    Ok(res)
}
