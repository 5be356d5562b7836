//! What listens where: `/metrics` only on the private listeners, and no
//! plain-http auth-api across a network when cookies are `Secure`.

use std::{io::Read, path::Path, process::Stdio, sync::mpsc, time::Duration};

use awc::http::StatusCode;
use shared::Role;

use crate::{
    cluster::{clean_command, start_frontend_with},
    harness::spawn,
};

async fn get(url: String) -> (StatusCode, String) {
    let mut res = awc::Client::default().get(url).send().await.expect("an answer");
    let body = res.body().limit(1 << 20).await.expect("a body");
    (res.status(), String::from_utf8_lossy(&body).into_owned())
}

#[actix_web::test]
async fn metrics_are_served_on_the_private_listeners_only() {
    let stack = spawn().await;
    stack.add_user("alice", &[Role::User]).await;
    let browser = stack.browser();
    browser.sign_in_ok("alice").await;
    assert_eq!(browser.get("/profile").await.status, StatusCode::OK);

    // The public listeners: nothing at /metrics.
    let (status, body) = get(format!("{}/metrics", stack.front_base)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!body.contains("http_requests_total"), "{body}");
    let (status, _) = get(format!("{}/metrics", stack.auth_base)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The private ones: the counters, and nothing else.
    let (status, body) = get(format!("{}/metrics", stack.front_metrics)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains(r#"http_requests_total{route="/profile",method="GET",status="200"} 1"#),
        "{body}"
    );
    let (status, body) = get(format!("{}/metrics", stack.auth_metrics)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(r#"logins_total{result="ok"} 1"#), "{body}");
    for base in [&stack.front_metrics, &stack.auth_metrics] {
        assert_eq!(get(format!("{base}/healthz")).await.0, StatusCode::NOT_FOUND, "{base}");
        assert_eq!(get(format!("{base}/login")).await.0, StatusCode::NOT_FOUND, "{base}");
    }
}

/// The frontend binary with secure cookies and `AUTH_API_URL`; what it wrote
/// to stderr once it exited, or `None` if it was still running after 30 s.
fn refused_start(auth_api_url: &str, cwd: &Path) -> Option<(i32, String)> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace");
    let mut child = clean_command(Path::new(env!("CARGO_BIN_EXE_frontend")))
        .current_dir(cwd)
        .env("LEPTOS_CONFIG", workspace.join("Leptos.toml"))
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .env("METRICS_ADDR", "127.0.0.1:0")
        .env("AUTH_API_URL", auth_api_url)
        .env("AUTH_CLIENT_ID", "cloakroom-frontend")
        .env("AUTH_CLIENT_SECRET", "e2e-client-secret-0123456789abcdef")
        .env(
            "COOKIE_KEYS",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [3u8; 64]),
        )
        .env("COOKIE_SECURE", "true")
        .env("PUBLIC_ORIGIN", "https://app.example.com")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the frontend starts");
    let mut stderr = child.stderr.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    // Its stderr ends when it exits: a bounded wait, no polling.
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    let outcome = rx.recv_timeout(Duration::from_secs(30)).ok();
    let _ = child.kill();
    let status = child.wait().expect("reaped");
    outcome.map(|text| (status.code().unwrap_or(-1), text))
}

#[actix_web::test]
async fn secure_cookies_refuse_a_plain_http_auth_api_on_another_host_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) =
        refused_start("http://auth.internal:8080", dir.path()).expect("it refuses to start");
    assert_eq!(code, 2, "a configuration error: {stderr}");
    assert!(stderr.contains("AUTH_API_URL") && stderr.contains("AUTH_API_ALLOW_HTTP"), "{stderr}");

    // Allowed explicitly, it starts, says so, and reports its metrics listener.
    let keys = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [3u8; 64]);
    let (frontend, base) = start_frontend_with(
        "frontend",
        "http://auth.internal:9",
        &keys,
        dir.path(),
        &[
            ("COOKIE_SECURE", "true"),
            ("PUBLIC_ORIGIN", "https://app.example.com"),
            ("AUTH_API_ALLOW_HTTP", "true"),
        ],
    )
    .await;
    assert_eq!(get(format!("{base}/healthz")).await.0, StatusCode::OK);
    let log = frontend.output();
    assert!(log.contains("AUTH_API_ALLOW_HTTP"), "the start-up warning:\n{log}");
    let metrics = log
        .split("frontend metrics served at ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the metrics line:\n{log}"))
        .to_owned();
    let (status, body) = get(metrics).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(r#"route="/healthz""#), "{body}");
}
