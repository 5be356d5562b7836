//! A frontend told to stop (SIGTERM) finishes what it is serving: the real
//! `frontend` binary, with 20 requests in flight to a slow upstream app.

use std::time::{Duration, Instant};

use awc::http::StatusCode;

use crate::{cluster::start_frontend_with, harness::spawn, upstream::TestApp};

#[actix_web::test]
async fn sigterm_lets_20_requests_in_flight_finish_then_exits_0() {
    let app = TestApp::start().await;
    let stack = spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let upstreams = dir.path().join("upstreams.toml");
    std::fs::write(
        &upstreams,
        format!(
            "[[upstream]]\npath = \"/app\"\nurl = \"{}\"\naccess = \"public\"\nkind = \"page\"\n\
             timeout_secs = 30\n",
            app.url
        ),
    )
    .unwrap();
    let keys = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [3u8; 64]);
    let variables = [("UPSTREAMS", upstreams.to_str().unwrap()), ("SHUTDOWN_GRACE", "20")];
    let (mut frontend, base) =
        start_frontend_with("frontend", &stack.auth_base, &keys, dir.path(), &variables).await;

    // Each answer takes the app 5 s (`/slow`).
    let client = awc::Client::builder().timeout(Duration::from_secs(30)).finish();
    let requests: Vec<_> = (0..20)
        .map(|_| {
            let request = client.get(format!("{base}/app/slow")).send();
            actix_web::rt::spawn(async move { request.await.map(|res| res.status()) })
        })
        .collect();
    let started = Instant::now();
    while app.seen().len() < 20 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} reached the app",
            app.seen().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    frontend.terminate();
    for request in requests {
        let status = request.await.unwrap().unwrap_or_else(|e| {
            panic!("a request in flight was cut off: {e}\n{}", frontend.output())
        });
        assert_eq!(status, StatusCode::OK);
    }
    let exit = frontend.exit_status(Duration::from_secs(15)).await;
    assert_eq!(exit.and_then(|s| s.code()), Some(0), "{}", frontend.output());
}
