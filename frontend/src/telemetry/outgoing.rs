//! Out: every call of our HTTP clients a client span, its context sent as
//! `traceparent`.

use std::{future::Future, pin::Pin};

use actix_http::RequestHeadType;
use actix_web::dev::{Service, forward_ready};
use awc::{ConnectRequest, ConnectResponse, error::SendRequestError};
use tracing::Instrument;

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
