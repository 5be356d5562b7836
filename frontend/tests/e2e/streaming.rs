//! Bodies stream through the proxy, never held whole: measured on the real
//! `frontend` binary in its own process, whose resident memory is its own
//! (in this test binary, every other test's servers would count too).

use std::time::Duration;

use actix_web::{body::SizedStream, web::Bytes};
use awc::http::{Method, StatusCode};
use futures::StreamExt;
use shared::Role;

use crate::{
    cluster::start_frontend_with,
    harness::{Browser, spawn},
    upstream::TestApp,
};

const GIB: u64 = 1024 * 1024 * 1024;
const UPLOAD: u64 = 100 * 1024 * 1024;
/// What the whole transfer may add to the frontend's resident memory.
const GROWTH_LIMIT: u64 = 64 * 1024 * 1024;

/// The process's resident set, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[actix_web::test]
async fn a_gigabyte_down_and_100_mib_up_pass_in_bounded_memory() {
    let app = TestApp::start().await;
    let stack = spawn().await;
    stack.add_user("alice", &[Role::User]).await;
    let dir = tempfile::tempdir().unwrap();
    let upstreams = dir.path().join("upstreams.toml");
    std::fs::write(
        &upstreams,
        format!(
            "[[upstream]]\npath = \"/files\"\nurl = \"{}\"\naccess = \"signed-in\"\nkind = \"page\"\n\
             max_body_bytes = {}\ntimeout_secs = 30\n",
            app.url,
            2 * UPLOAD
        ),
    )
    .unwrap();
    let keys = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [9u8; 64]);
    let (frontend, base) = start_frontend_with(
        "frontend",
        &stack.auth_base,
        &keys,
        dir.path(),
        &[("UPSTREAMS", upstreams.to_str().unwrap())],
    )
    .await;
    let browser = Browser::new(&base);
    browser.sign_in_ok("alice").await;
    // Warm up: the first proxied request opens the pool and its buffers.
    assert_eq!(browser.get("/files/bytes/1048576").await.status, StatusCode::OK);
    let baseline = rss(frontend.pid());

    let pid = frontend.pid();
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let sampler = actix_web::rt::spawn(async move {
        let mut peak = 0;
        loop {
            peak = peak.max(rss(pid));
            tokio::select! {
                _ = &mut stopped => return peak,
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    });

    let mut res = browser
        .request(Method::GET, &format!("/files/bytes/{GIB}"))
        .send()
        .await
        .expect("the download starts");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers().get("content-length"), None, "streamed, not buffered");
    let mut received = 0u64;
    while let Some(chunk) = res.next().await {
        received += chunk.expect("the body streams to the end").len() as u64;
    }
    assert_eq!(received, GIB);

    let chunk = Bytes::from(vec![b'u'; 256 * 1024]);
    let chunks = futures::stream::iter(
        (0..UPLOAD / chunk.len() as u64).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
    );
    let upload = browser
        .request(Method::POST, "/files/count")
        .insert_header(("origin", base.as_str()))
        .send_body(SizedStream::new(UPLOAD, chunks));
    let page = browser.finish(upload.await).await;
    assert_eq!((page.status, page.body.as_str()), (StatusCode::OK, UPLOAD.to_string().as_str()));

    let _ = stop.send(());
    let peak = sampler.await.unwrap();
    let growth = peak.saturating_sub(baseline);
    println!(
        "frontend resident memory: {} MiB before, {} MiB at most while streaming 1 GiB down and 100 MiB up",
        baseline >> 20,
        peak >> 20
    );
    assert!(growth < GROWTH_LIMIT, "grew by {} MiB", growth >> 20);
    drop(frontend);
}
