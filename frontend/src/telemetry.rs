//! Where a trace enters and leaves the frontend (logs and the exporter are
//! set up by `shared::telemetry`, the same on both servers).
//!
//! In: a browser's `traceparent` is not ours to follow. A client that picks
//! its own trace id could graft its requests onto someone else's trace,
//! make ours easy to find and correlate, or have every request sampled; so
//! the trace headers (`traceparent`, `tracestate`, `baggage`) are removed
//! before the request span is made, unless `TRACE_FROM_PROXIES` is on and
//! the peer is one of `TRUSTED_PROXIES` (a proxy that writes the header
//! itself), whose trace we continue. Out: every call through our HTTP
//! clients (the auth-api, upstream apps, their WebSockets) is a client span
//! whose context is sent as `traceparent`, replacing any header the request
//! already had.

use std::{future::Future, pin::Pin};

use actix_http::RequestHeadType;
use actix_web::{
    Error,
    body::MessageBody,
    dev::{Service, ServiceRequest, ServiceResponse, forward_ready},
    middleware::Next,
    web,
};
use awc::{ConnectRequest, ConnectResponse, error::SendRequestError};
use shared::telemetry::TRACE_HEADERS;
use tracing::Instrument;

use crate::state::FrontendState;

/// Outermost middleware: forgets the trace context an untrusted peer sent.
pub async fn trust_trace_context(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let carries = TRACE_HEADERS.iter().any(|h| req.headers().contains_key(*h));
    if carries && !followed(&req) {
        for header in TRACE_HEADERS {
            req.headers_mut().remove(header);
        }
    }
    next.call(req).await
}

fn followed(req: &ServiceRequest) -> bool {
    let Some(state) = req.app_data::<web::Data<FrontendState>>() else { return false };
    if !state.settings.trace_from_proxies {
        return false;
    }
    let Some(peer) = req.peer_addr().map(|a| a.ip().to_canonical()) else { return false };
    state.settings.trusted_proxies.iter().any(|net| net.contains(&peer))
}

/// An `awc` middleware: each call a client span, its context on the wire.
pub struct TraceCalls;

impl<S> awc::middleware::Transform<S, ConnectRequest> for TraceCalls
where
    S: Service<ConnectRequest, Response = ConnectResponse, Error = SendRequestError> + 'static,
{
    type Transform = TracedCalls<S>;

    fn new_transform(self, service: S) -> Self::Transform {
        TracedCalls { service }
    }
}

pub struct TracedCalls<S> {
    service: S,
}

impl<S> Service<ConnectRequest> for TracedCalls<S>
where
    S: Service<ConnectRequest, Response = ConnectResponse, Error = SendRequestError> + 'static,
{
    type Response = ConnectResponse;
    type Error = SendRequestError;
    type Future = Pin<Box<dyn Future<Output = Result<ConnectResponse, SendRequestError>>>>;

    forward_ready!(service);

    fn call(&self, mut req: ConnectRequest) -> Self::Future {
        let head: &actix_http::RequestHead = match &req {
            ConnectRequest::Client(head, ..) => head.as_ref(),
            ConnectRequest::Tunnel(head, _) => head,
        };
        // The path only: a query string may hold what a log must not.
        let (method, path) = (head.method.as_str().to_owned(), head.uri.path().to_owned());
        let host = head.uri.authority().map(|a| a.to_string()).unwrap_or_default();
        let span = tracing::info_span!(
            "HTTP client",
            otel.name = %format!("{method} {path}"),
            otel.kind = "client",
            http.request.method = %method,
            url.path = %path,
            server.address = %host,
            http.response.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        match &mut req {
            ConnectRequest::Client(RequestHeadType::Owned(head), ..) => {
                shared::telemetry::inject(&span, &mut head.headers);
            }
            // A shared head (a frozen request) takes extra headers beside
            // it, which win over the head's own.
            ConnectRequest::Client(RequestHeadType::Rc(_, extra), ..) => {
                shared::telemetry::inject(&span, extra.get_or_insert_with(Default::default));
            }
            ConnectRequest::Tunnel(head, _) => shared::telemetry::inject(&span, &mut head.headers),
        }
        let call = self.service.call(req);
        Box::pin(
            async move {
                let res = call.await;
                let span = tracing::Span::current();
                match &res {
                    Ok(res) => {
                        let status = match res {
                            ConnectResponse::Client(res) => res.status(),
                            ConnectResponse::Tunnel(head, _) => head.status,
                        };
                        span.record("http.response.status_code", status.as_u16());
                        if status.is_server_error() {
                            span.record("otel.status_code", "ERROR");
                        }
                    }
                    // Refused, timed out, cut off: a failed call, in the trace too.
                    Err(_) => {
                        span.record("otel.status_code", "ERROR");
                    }
                }
                res
            }
            .instrument(span),
        )
    }
}
