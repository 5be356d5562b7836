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

use actix_web::{
    Error,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{Method, header},
    middleware::Next,
    web,
};

use crate::{error::FrontendError, startup::FrontendState};

/// Largest request body the frontend reads; a login form is well under 1 KiB.
pub const MAX_BODY: usize = 16 * 1024;

pub async fn check_origin(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return Ok(req.into_response(FrontendError::PayloadTooLarge.into_page()));
    }
    if declared.is_none() && req.headers().contains_key(header::TRANSFER_ENCODING) {
        return Ok(req.into_response(FrontendError::LengthRequired.into_page()));
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        let state =
            req.app_data::<web::Data<FrontendState>>().expect("FrontendState is registered");
        if !same_origin(&req, &state.public_origin) {
            tracing::warn!(
                method = %req.method(),
                path = req.path(),
                origin = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).unwrap_or("-"),
                "cross-origin state change refused"
            );
            return Ok(req.into_response(FrontendError::CrossOrigin.into_page()));
        }
    }
    next.call(req).await.map(ServiceResponse::map_into_boxed_body)
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
