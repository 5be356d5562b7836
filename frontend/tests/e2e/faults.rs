//! Faults between the frontend and the auth-api: an answer that never
//! arrives, after the auth-api has acted on its request.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};

use awc::http::StatusCode;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::harness::{Browser, spawn};

/// A TCP proxy in front of the auth-api that, while armed, forwards each
/// refresh grant and then drops the connection instead of returning the
/// answer: the auth-api rotated the token, the frontend never heard.
struct LosingProxy {
    base: String,
    armed: Arc<AtomicBool>,
    lost: Arc<AtomicUsize>,
}

impl LosingProxy {
    async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let target = target.trim_start_matches("http://").to_owned();
        let (armed, lost) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
        let (a, l) = (armed.clone(), lost.clone());
        actix_web::rt::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (target, armed, lost) = (target.clone(), a.clone(), l.clone());
                actix_web::rt::spawn(async move {
                    let _ = relay(client, &target, &armed, &lost).await;
                });
            }
        });
        Self { base, armed, lost }
    }
}

/// One request per connection (it is sent on with `Connection: close`, so
/// the answer ends where the auth-api closes).
async fn relay(
    mut client: TcpStream,
    target: &str,
    armed: &AtomicBool,
    lost: &AtomicUsize,
) -> std::io::Result<()> {
    let mut request = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        let n = client.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&buf[..n]);
        if let Some(i) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&request[..head_end]).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0usize);
    while request.len() < head_end + length {
        let n = client.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&buf[..n]);
    }
    let body = String::from_utf8_lossy(&request[head_end..]).into_owned();
    let kept: Vec<&str> = head
        .trim_end()
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    let mut upstream = TcpStream::connect(target).await?;
    upstream
        .write_all(format!("{}\r\nConnection: close\r\n\r\n", kept.join("\r\n")).as_bytes())
        .await?;
    upstream.write_all(&request[head_end..]).await?;
    let mut answer = Vec::new();
    upstream.read_to_end(&mut answer).await?;
    let refresh = head.starts_with("POST /auth/token ") && body.contains("refresh_token");
    if refresh && armed.load(Ordering::SeqCst) {
        // Acted on, never answered.
        lost.fetch_add(1, Ordering::SeqCst);
        return Ok(());
    }
    client.write_all(&answer).await?;
    client.shutdown().await
}

#[actix_web::test]
async fn a_refresh_whose_answer_was_lost_is_retried_later_without_signing_anyone_out() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let proxy = LosingProxy::start(&stack.auth_base).await;
    let mut settings = stack.front_settings.clone();
    settings.auth_api_url = proxy.base.clone();
    let (base, _handle) = stack.another_frontend_with(settings).await;
    let browser = Browser::new(&base);
    browser.sign_in_ok("alice").await;

    // The access token expires; the refresh goes through, its answer is lost.
    stack.clock.advance(301);
    proxy.armed.store(true, Ordering::SeqCst);
    let page = browser.get("/profile").await;
    assert_eq!(proxy.lost.load(Ordering::SeqCst), 1, "the auth-api rotated the token");
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE, "{}", page.body);
    assert!(browser.cookie().is_some(), "the browser keeps its cookie, with the old token");
    proxy.armed.store(false, Ordering::SeqCst);

    // 30 s later (the old grace window forgave 10), the old token is a retry.
    stack.clock.advance(30);
    let page = browser.get("/profile").await;
    assert_eq!(page.status, StatusCode::OK, "still signed in: {}", page.body);
    assert!(page.body.contains("alice"));
    assert_eq!(stack.auth_metric("refresh_reuse_detections_total").await, 0.0);
    assert_eq!(stack.auth_metric(r#"refreshes_total{result="retry"}"#).await, 1.0);
    let filter = auth_api::store::EventFilter {
        kind: Some("refresh_reuse".into()),
        limit: 10,
        ..Default::default()
    };
    let events = stack.auth_state.store.audit_events(&filter).await.unwrap();
    assert!(events.is_empty(), "no security event: {events:?}");
    // The retry is on the user's record, for them to see (DESIGN.md: a
    // retry cannot be told from a copy replayed by someone keeping up).
    let filter = auth_api::store::EventFilter {
        kind: Some("refresh_retried".into()),
        limit: 10,
        ..Default::default()
    };
    let retries = stack.auth_state.store.audit_events(&filter).await.unwrap();
    assert_eq!(retries.len(), 1, "{retries:?}");
    assert_eq!(retries[0].detail.as_deref(), Some("30 s after the rotation"));
    // And the session goes on rotating.
    stack.clock.advance(301);
    assert_eq!(browser.get("/profile").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn a_copied_cookie_used_after_the_session_moved_on_ends_the_session() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let owner = stack.browser();
    owner.sign_in_ok("alice").await;
    let thief = stack.browser();
    thief.set_cookie(&owner.cookie().unwrap());

    // The owner's session refreshes twice: the copy is two generations old.
    for _ in 0..2 {
        stack.clock.advance(301);
        assert_eq!(owner.get("/profile").await.status, StatusCode::OK);
    }
    stack.clock.advance(1);
    let page = thief.get("/profile").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "the copy is refused");
    assert_eq!(stack.auth_metric("refresh_reuse_detections_total").await, 1.0);
    // Everyone holding any token of the session is out, the owner included.
    owner.signed_out_within("/profile", std::time::Duration::from_secs(2)).await;
}
