//! The proxy: requests to an upstream route (`routes::upstreams`), after the
//! guard has decided who the browser is and let them through, go on to the
//! app with the user's access token attached.
//!
//! A request flows: `security::origin` has checked its origin, its
//! declared size against the route's `max_body_bytes` and, for `api`
//! routes, `X-CSRF: 1`; the guard has refreshed the session if its token was
//! due (single-flight, so fifty parallel requests cost one refresh) and
//! refused what the route's rule refuses. Here the headers are filtered
//! ([`headers`]), the identity written, and the bodies streamed both ways —
//! never held whole, so a 1 GiB download costs the frontend a few buffers.
//! A WebSocket upgrade is relayed frame by frame ([`websocket`]).
//!
//! What goes wrong upstream has one answer each: refused or unreachable →
//! 502, no response headers within `timeout_secs` → 504, a body over
//! `max_body_bytes` → 413. Never a 500, never a hang.

pub mod call;
pub mod headers;
mod websocket;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use actix_web::{
    HttpMessage, HttpResponse,
    body::{BodyStream, BoxBody, MessageBody, SizedStream},
    dev::{ServiceRequest, ServiceResponse},
    error::PayloadError,
    http::{
        Method, StatusCode,
        header::{self, HeaderValue},
    },
    middleware::Next,
    web,
};
use futures::{Stream, StreamExt};

use crate::{
    auth_client::{AuthClient, AuthError},
    error::FrontendError,
    routes::{Kind, Route, Upstream},
    security::{
        headers::{Proxied, forbids_storing},
        origin::is_websocket,
    },
    session::{
        AuthState, CookieSlot, CookieUpdate, SignedIn,
        freshness::REFRESH_MARGIN,
        guard::{see_other, sign_in_then},
    },
    state::FrontendState,
};

/// Connections to upstream apps, pooled per worker (awc clients are not
/// `Send`). Redirects are the browser's business, and so is compression:
/// bodies pass as the app encoded them.
pub struct UpstreamClient(awc::Client);

impl UpstreamClient {
    pub fn new(tls: &crate::tls::ClientTls) -> Self {
        let connector = awc::Connector::new().rustls_0_23(tls.config()).timeout(CONNECT_TIMEOUT);
        Self(
            awc::Client::builder()
                .connector(connector)
                .disable_redirects()
                .no_default_headers()
                // Each request sets its route's own (`timeout_secs`).
                .disable_timeout()
                .wrap(crate::telemetry::outgoing::TraceCalls)
                .finish(),
        )
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Forwards requests to upstream routes, which the guard (outside this
/// middleware) has let through; everything else goes on to our own routes.
pub async fn dispatch(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let route = req.extensions().get::<Route>().cloned();
    let Some((path, upstream)) = route.and_then(|r| Some((r.path, r.upstream?))) else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let state =
        req.app_data::<web::Data<FrontendState>>().cloned().expect("FrontendState is registered");
    // TRACE would echo the request, token included, back to the browser;
    // CONNECT would make us a tunnel. Neither is an app's business.
    if matches!(*req.method(), Method::TRACE | Method::CONNECT) {
        let json = upstream.kind == Kind::Api;
        return Ok(req.into_response(FrontendError::MethodNotAllowed.respond(json)));
    }
    let signed_in = match req.extensions().get::<AuthState>() {
        Some(AuthState::SignedIn(s)) => Some(s.clone()),
        _ => None,
    };
    let json = upstream.kind == Kind::Api;
    let identity = match signed_in {
        None => None,
        // The app gets a token with time left to use it. Only a token kept
        // while the auth-api is down can be this close to expiry.
        Some(s) if s.access_expires_at - state.now() < REFRESH_MARGIN => {
            return Ok(req.into_response(FrontendError::AuthUnavailable.respond(json)));
        }
        Some(s) => {
            let client =
                req.app_data::<web::Data<AuthClient>>().cloned().expect("AuthClient is registered");
            let now = state.now();
            let session = &s.user.session_id;
            match state
                .upstream_tokens
                .token_for(&client, session, &s.access_token, &upstream.audience, now)
                .await
            {
                Ok(token) => Some((s, token)),
                // The session ended between the guard's look and ours. The
                // cookie goes, or the sign-in page (which sends a signed-in
                // browser on to `next`) would send it straight back here.
                Err(AuthError::InvalidGrant) => {
                    if let Some(slot) = req.extensions().get::<CookieSlot>() {
                        slot.set(CookieUpdate::Clear);
                    }
                    if upstream.access == crate::routes::Access::Public {
                        return Ok(forward(req, &path, &upstream, None, &state).await);
                    }
                    let refusal = if json {
                        FrontendError::SignedOut.into_json()
                    } else {
                        see_other(&sign_in_then(&path))
                    };
                    return Ok(req.into_response(refusal));
                }
                Err(e) => {
                    tracing::warn!(error = %e, upstream = %upstream.path, "no token for the upstream");
                    return Ok(req.into_response(FrontendError::AuthUnavailable.respond(json)));
                }
            }
        }
    };
    Ok(forward(req, &path, &upstream, identity, &state).await)
}

/// Sends `req` on to `upstream` at `path` (the canonical form of its path,
/// `routes::path`), as `signed_in` (who, and their token for this app) if
/// anyone.
pub async fn forward(
    req: ServiceRequest,
    path: &str,
    upstream: &Upstream,
    signed_in: Option<(Arc<SignedIn>, String)>,
    state: &FrontendState,
) -> ServiceResponse<BoxBody> {
    let peer = req.peer_addr().map(|a| a.ip());
    let trusted = &state.settings.trusted_proxies;
    let forwarded = headers::Forwarded::new(req.headers(), peer, trusted, &state.public_origin);
    let identity = signed_in.as_ref().map(|(s, token)| (&**s, token.as_str()));
    let outgoing = headers::to_upstream(req.headers(), identity, &forwarded);
    let signed_in = signed_in.map(|(s, _)| s);
    let url = match req.query_string() {
        "" => format!("{}{path}", upstream.url),
        query => format!("{}{path}?{query}", upstream.url),
    };
    let Some(client) = req.app_data::<web::Data<UpstreamClient>>().cloned() else {
        return req.into_response(FrontendError::UpstreamUnavailable.respond(false));
    };
    if is_websocket(&req) {
        return websocket::relay(req, &client.0, url, outgoing, upstream, signed_in, state).await;
    }

    let json = upstream.kind == Kind::Api;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
    let head = req.method() == Method::HEAD;

    // No client-side timeout: awc's would count the upload too, and a
    // large body from a slow browser is not the app being slow. The clock
    // starts once the body is sent (below).
    let mut outgoing_req = client.0.request(req.method().clone(), &url).no_decompress();
    *outgoing_req.headers_mut() = outgoing;
    let (http_req, payload) = req.into_parts();
    let too_large = Arc::new(AtomicBool::new(false));
    let (sent_all, body_sent) = tokio::sync::oneshot::channel();
    let body = limited(payload, upstream.max_body_bytes, too_large.clone(), sent_all);
    let sending = match (declared, chunked) {
        (Some(n), _) if n > 0 => outgoing_req.send_body(SizedStream::new(n, body)),
        (_, true) => outgoing_req.send_body(BodyStream::new(body)),
        _ => {
            // No body: the clock starts now.
            drop(body);
            outgoing_req.send()
        }
    };
    let head_deadline = async {
        // Sent whole, or (dropped) never to be sent: either way, from here
        // the app has `timeout` to answer.
        let _ = body_sent.await;
        tokio::time::sleep(upstream.timeout).await;
    };
    let started = std::time::Instant::now();
    let sent = tokio::select! {
        sent = sending => sent,
        () = head_deadline => Err(awc::error::SendRequestError::Timeout),
    };
    let response = match sent {
        Ok(upstream_res) => relay_response(upstream_res, upstream, head, signed_in.is_some()),
        Err(_) if too_large.load(Ordering::Relaxed) => FrontendError::PayloadTooLarge.respond(json),
        Err(awc::error::SendRequestError::Timeout) => {
            tracing::warn!(upstream = %upstream.path, "upstream did not answer in time");
            FrontendError::UpstreamTimeout.respond(json)
        }
        Err(e) => {
            tracing::warn!(upstream = %upstream.path, error = %e, "upstream unavailable");
            FrontendError::UpstreamUnavailable.respond(json)
        }
    };
    state.metrics.upstream(&upstream.path, response.status().as_u16(), started.elapsed());
    ServiceResponse::new(http_req, response)
}

/// The app's answer, streamed through.
fn relay_response<S>(
    res: awc::ClientResponse<S>,
    upstream: &Upstream,
    head: bool,
    signed_in: bool,
) -> HttpResponse
where
    S: Stream<Item = Result<web::Bytes, PayloadError>> + Unpin + 'static,
{
    let status = res.status();
    let length = res
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut out = HttpResponse::build(status);
    for (name, value) in headers::from_upstream(res.headers(), &upstream.path) {
        out.append_header((name, value));
    }
    // Personal content: no shared cache may keep it, whatever the app said,
    // unless it already forbids storing it at all.
    if signed_in && !forbids_storing(res.headers()) {
        out.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("private, no-store")));
    }
    out.extensions_mut().insert(Proxied);
    let no_body = head
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if no_body {
        if let (true, Some(n)) = (head, length) {
            out.insert_header((header::CONTENT_LENGTH, n));
        }
        return out.finish();
    }
    let body = idle_limited(res, upstream.timeout);
    match length {
        Some(n) => out.body(SizedStream::new(n, body)),
        None => out.body(BodyStream::new(body)),
    }
}

/// The browser's body, cut off with an error past `max` bytes (the flag
/// says why the upload failed); `sent_all` fires when it has all been read
/// (or is dropped, with the stream, when it never will be).
fn limited(
    payload: actix_web::dev::Payload,
    max: u64,
    too_large: Arc<AtomicBool>,
    sent_all: tokio::sync::oneshot::Sender<()>,
) -> impl Stream<Item = Result<web::Bytes, PayloadError>> + 'static {
    let mut seen = 0u64;
    let mut sent_all = Some(sent_all);
    let chunks = payload.map(move |chunk| {
        let chunk = chunk?;
        seen += chunk.len() as u64;
        if seen > max {
            too_large.store(true, Ordering::Relaxed);
            return Err(PayloadError::Overflow);
        }
        Ok(chunk)
    });
    // One more poll after the last chunk: the end of the body.
    chunks.chain(futures::stream::poll_fn(move |_| {
        if let Some(tx) = sent_all.take() {
            let _ = tx.send(());
        }
        std::task::Poll::Ready(None)
    }))
}

/// The app's body, ended with an error if it stalls for `idle`: a response
/// that stops halfway must not hold the browser's connection forever.
fn idle_limited<S>(
    body: S,
    idle: Duration,
) -> impl Stream<Item = Result<web::Bytes, PayloadError>> + 'static
where
    S: Stream<Item = Result<web::Bytes, PayloadError>> + Unpin + 'static,
{
    futures::stream::unfold(Some(body), move |body| async move {
        let mut body = body?;
        match tokio::time::timeout(idle, body.next()).await {
            Ok(Some(chunk)) => Some((chunk, Some(body))),
            Ok(None) => None,
            Err(_) => {
                let stalled = std::io::Error::new(std::io::ErrorKind::TimedOut, "upstream stalled");
                Some((Err(PayloadError::Io(stalled)), None))
            }
        }
    })
}
