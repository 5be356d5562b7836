//! CSRF defence: a state-changing request (any method but GET, HEAD,
//! OPTIONS) is refused with 403 unless it provably comes from our own pages.
//!
//! Browsers send `Origin` on every cross-site POST, so it is checked first and
//! must equal `PUBLIC_ORIGIN` exactly (`Origin: null`, sent by sandboxed
//! frames and some redirects, is refused). Without `Origin`, the Fetch
//! metadata header `Sec-Fetch-Site: same-origin` or a `Referer` on our origin
//! will do; with none of them, the request is refused. This covers the login
//! form too (login CSRF: signing a victim in as the attacker).
//!
//! Requests whose body is declared larger than `MAX_BODY` are refused here,
//! before anything reads them, and so are bodies of undeclared length
//! (chunked): browsers declare the length of every form and `fetch` body, and
//! a body whose size is known only once read could not be refused in time.
//! Upstream routes have their own limit (`max_body_bytes`), and their
//! chunked uploads are counted as they stream through (`proxy`).
//!
//! Routes of `kind = "api"` also need `X-CSRF: 1` on every request, and a
//! WebSocket handshake needs `Origin` to be ours exactly. The route the
//! table found goes into the request's extensions for the guard.

use actix_web::{
    Error, HttpMessage,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{Method, header},
    middleware::Next,
    web,
};

use crate::{error::FrontendError, state::FrontendState};

/// Largest request body the frontend reads; a login form is well under 1 KiB.
pub const MAX_BODY: usize = 16 * 1024;

pub async fn check_origin(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let state =
        req.app_data::<web::Data<FrontendState>>().cloned().expect("FrontendState is registered");
    let Ok(route) = state.routes.lookup(req.path()) else {
        return Ok(
            req.into_response(FrontendError::BadRequest(crate::routes::path::BAD_PATH).into_page())
        );
    };
    let json = route.is_api();
    let refuse = |req: ServiceRequest, e: FrontendError| Ok(req.into_response(e.respond(json)));

    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // An app's uploads are streamed through (and cut off past the limit
    // while they stream); only our own forms must declare their length.
    let max_body = route.upstream.as_ref().map_or(MAX_BODY as u64, |u| u.max_body_bytes);
    if declared.is_some_and(|n| n > max_body) {
        return refuse(req, FrontendError::PayloadTooLarge);
    }
    if route.upstream.is_none()
        && declared.is_none()
        && req.headers().contains_key(header::TRANSFER_ENCODING)
    {
        return refuse(req, FrontendError::LengthRequired);
    }
    let websocket = is_websocket(&req);
    // Every request to an app's API, reads included: a cross-site page can
    // make the browser send a GET with its cookies, but not this header
    // (it would need a CORS preflight, which nothing here grants). Browsers
    // cannot add headers to a WebSocket handshake; its Origin is checked
    // below instead.
    if json && !websocket && req.headers().get("x-csrf").is_none_or(|v| v != "1") {
        return refuse(req, FrontendError::CsrfHeaderRequired);
    }
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // A WebSocket handshake is a GET that opens a channel both ways, with
    // the browser's cookies, from any site that asks (cross-site WebSocket
    // hijacking): browsers always send `Origin` on it, so it must be ours.
    let allowed = if websocket {
        req.headers().get(header::ORIGIN).is_some_and(|o| o == state.public_origin.as_str())
    } else {
        !unsafe_method || same_origin(&req, &state.public_origin)
    };
    if !allowed {
        tracing::warn!(
            method = %req.method(),
            path = req.path(),
            origin = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).unwrap_or("-"),
            "cross-origin state change refused"
        );
        return refuse(req, FrontendError::CrossOrigin);
    }
    req.extensions_mut().insert(route);
    next.call(req).await.map(ServiceResponse::map_into_boxed_body)
}

/// Whether this is a WebSocket handshake.
pub fn is_websocket(req: &ServiceRequest) -> bool {
    req.method() == Method::GET
        && req
            .headers()
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

fn same_origin(req: &ServiceRequest, public_origin: &str) -> bool {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(origin) = header(header::ORIGIN) {
        return origin == public_origin;
    }
    if let Some(site) = header(header::HeaderName::from_static("sec-fetch-site")) {
        return site == "same-origin";
    }
    header(header::REFERER).is_some_and(|referer| {
        referer == public_origin
            || referer.strip_prefix(public_origin).is_some_and(|rest| rest.starts_with('/'))
    })
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    const ORIGIN: &str = "https://app.example";

    fn check(headers: &[(&str, &str)]) -> bool {
        let mut req = TestRequest::post().uri("/login");
        for (k, v) in headers {
            req = req.insert_header((*k, *v));
        }
        same_origin(&req.to_srv_request(), ORIGIN)
    }

    #[test]
    fn only_our_own_origin_may_change_state() {
        assert!(check(&[("origin", ORIGIN)]));
        assert!(!check(&[("origin", "https://evil.example")]));
        assert!(!check(&[("origin", "null")]));
        assert!(!check(&[("origin", "https://app.example.evil.example")]));
        // Origin wins over the weaker signals.
        assert!(!check(&[("origin", "https://evil.example"), ("sec-fetch-site", "same-origin")]));
        assert!(check(&[("sec-fetch-site", "same-origin")]));
        assert!(!check(&[
            ("sec-fetch-site", "cross-site"),
            ("referer", "https://app.example/login")
        ]));
        assert!(check(&[("referer", "https://app.example/login?next=/x")]));
        assert!(!check(&[("referer", "https://app.example.evil.example/login")]));
        assert!(!check(&[]));
    }
}
