//! WebSocket upgrades through the proxy: the handshake is a request like any
//! other (the guard checked the session, the token is attached, the origin
//! must be ours: a cross-site page may open a socket with the browser's
//! cookies, and no CORS rule stops it), then frames are relayed both ways.
//!
//! A socket lives longer than its access token, and nothing re-checks it:
//! the app sees the identity of the handshake for the socket's life. What
//! does end it is the session ending — signed out, revoked by an admin, a
//! password change elsewhere — or its user's roles changing: the revocation
//! feed wakes every relay of that session, which closes both sides with
//! 1008 (policy violation). No idle timeout is applied: the app's pings
//! pass through, and it decides how long a quiet socket may live.

use std::{sync::Arc, time::Duration};

use actix_web::{
    FromRequest,
    body::BoxBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{self, HeaderMap},
    web,
};
use actix_ws::{CloseCode, CloseReason, Message};
use awc::ws::Frame;
use futures::{SinkExt, StreamExt};

use crate::{
    error::FrontendError,
    routes::{Kind, Upstream},
    session::{SignedIn, revocations::RevokedSessions},
    state::FrontendState,
};

/// Largest frame relayed either way.
const MAX_FRAME: usize = 1024 * 1024;

/// Headers of the handshake itself: each side of the relay writes its own.
const HANDSHAKE: &[&str] = &[
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-accept",
];

pub async fn relay(
    req: ServiceRequest,
    client: &awc::Client,
    url: String,
    mut outgoing: HeaderMap,
    upstream: &Upstream,
    signed_in: Option<Arc<SignedIn>>,
    state: &FrontendState,
) -> ServiceResponse<BoxBody> {
    let json = upstream.kind == Kind::Api;
    if !req.headers().contains_key("sec-websocket-key") {
        return req
            .into_response(FrontendError::BadRequest("not a WebSocket handshake").respond(json));
    }
    for name in HANDSHAKE {
        outgoing.remove(*name);
    }
    // Listening before the handshake: a session ended while the app takes
    // its time to answer is not missed.
    let watch = signed_in.map(|s| Watch {
        session_id: s.user.session_id.clone(),
        issued_at: s.access_issued_at,
        revoked: state.revoked.clone(),
        changes: state.revoked.subscribe(),
    });
    let mut ws = client.ws(url.as_str()).max_frame_size(MAX_FRAME);
    for (name, value) in &outgoing {
        ws = ws.header(name.clone(), value.clone());
    }
    let (app_response, app_socket) = match tokio::time::timeout(upstream.timeout, ws.connect())
        .await
    {
        Ok(Ok(connected)) => connected,
        Ok(Err(e)) => {
            tracing::warn!(upstream = %upstream.path, error = %e, "upstream refused the WebSocket");
            return req.into_response(FrontendError::UpstreamUnavailable.respond(json));
        }
        Err(_) => {
            tracing::warn!(upstream = %upstream.path, "upstream WebSocket handshake timed out");
            return req.into_response(FrontendError::UpstreamTimeout.respond(json));
        }
    };

    let (http_req, mut payload) = req.into_parts();
    let body = web::Payload::from_request(&http_req, &mut payload).await;
    let (mut response, session, from_browser) =
        match body.and_then(|body| actix_ws::handle(&http_req, body)) {
            Ok(parts) => parts,
            Err(e) => {
                tracing::debug!(error = %e, "WebSocket handshake refused");
                let res = FrontendError::BadRequest("not a WebSocket handshake").respond(json);
                return ServiceResponse::new(http_req, res);
            }
        };
    if let Some(protocol) = app_response.headers().get(header::SEC_WEBSOCKET_PROTOCOL) {
        response.headers_mut().insert(header::SEC_WEBSOCKET_PROTOCOL, protocol.clone());
    }
    response.extensions_mut().insert(crate::security::headers::Proxied);
    let stopping = state.stopping();
    let from_browser = from_browser.max_frame_size(MAX_FRAME);
    actix_web::rt::spawn(pump(session, from_browser, app_socket, watch, stopping));
    ServiceResponse::new(http_req, response)
}

/// The session a relay serves, and where to hear that it ended.
struct Watch {
    session_id: String,
    /// The handshake token's `iat`: a role change after it makes the
    /// socket's identity stale, and it is closed like an ended session.
    issued_at: i64,
    revoked: Arc<RevokedSessions>,
    changes: tokio::sync::watch::Receiver<u64>,
}

impl Watch {
    fn still_good(&self) -> bool {
        !self.revoked.is_stale(&self.session_id, self.issued_at)
    }
}

/// How long one frame may wait for the other side to take it: a peer that
/// stops reading must not hold the relay (and its revocation check) still.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

async fn pump<A>(
    mut browser: actix_ws::Session,
    mut from_browser: actix_ws::MessageStream,
    app: A,
    mut watch: Option<Watch>,
    stopping: impl std::future::Future<Output = ()>,
) where
    A: futures::Stream<Item = Result<Frame, awc::error::WsProtocolError>>
        + futures::Sink<Message>
        + Unpin
        + 'static,
{
    let (mut to_app, mut from_app) = app.split();
    let policy =
        || Some(CloseReason { code: CloseCode::Policy, description: Some("session ended".into()) });
    let mut ended = watch.as_ref().is_some_and(|w| !w.still_good());
    let mut away = false;
    let mut stopping = std::pin::pin!(stopping);
    while !ended && !away {
        tokio::select! {
            // The server is stopping: both ends hear so now (1001 "going
            // away", and reconnect elsewhere), not at the grace's end.
            () = &mut stopping => away = true,
            msg = from_browser.recv() => match msg {
                Some(Ok(Message::Nop)) => {}
                Some(Ok(msg)) => {
                    let closing = matches!(msg, Message::Close(_));
                    let sent = tokio::time::timeout(SEND_TIMEOUT, to_app.send(msg)).await;
                    if !matches!(sent, Ok(Ok(()))) || closing {
                        break;
                    }
                }
                _ => {
                    let _ = tokio::time::timeout(SEND_TIMEOUT, to_app.send(Message::Close(None))).await;
                    break;
                }
            },
            frame = from_app.next() => {
                let delivery = async {
                    match frame {
                        Some(Ok(Frame::Text(bytes))) => match String::from_utf8(bytes.to_vec()) {
                            Ok(text) => browser.text(text).await.is_ok(),
                            Err(_) => false,
                        },
                        Some(Ok(Frame::Binary(bytes))) => browser.binary(bytes).await.is_ok(),
                        Some(Ok(Frame::Continuation(item))) => browser.continuation(item).await.is_ok(),
                        Some(Ok(Frame::Ping(bytes))) => browser.ping(&bytes).await.is_ok(),
                        Some(Ok(Frame::Pong(bytes))) => browser.pong(&bytes).await.is_ok(),
                        Some(Ok(Frame::Close(reason))) => {
                            let _ = browser.clone().close(reason).await;
                            false
                        }
                        Some(Err(_)) | None => false,
                    }
                };
                if !tokio::time::timeout(SEND_TIMEOUT, delivery).await.unwrap_or(false) {
                    break;
                }
            },
            changed = async {
                match watch.as_mut() {
                    Some(w) => w.changes.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            } => {
                ended = !changed || watch.as_ref().is_some_and(|w| !w.still_good());
            }
        }
    }
    if ended {
        tracing::info!("closing a proxied WebSocket: its session ended or its roles changed");
        let _ = tokio::time::timeout(SEND_TIMEOUT, to_app.send(Message::Close(policy()))).await;
        let _ = browser.close(policy()).await;
    } else if away {
        let away = || {
            Some(CloseReason { code: CloseCode::Away, description: Some("server stopping".into()) })
        };
        let _ = tokio::time::timeout(SEND_TIMEOUT, to_app.send(Message::Close(away()))).await;
        let _ = browser.close(away()).await;
    } else {
        let _ = browser.close(None).await;
    }
}
