//! Liveness, readiness, stopping, and metrics.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use awc::http::StatusCode;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};

use crate::helpers::{
    CLIENT_ID, CLIENT_SECRET, Served, TestApp, TestDb, client, spawn_app, spawn_app_with,
};

/// `/readyz` of `app` once it answers `wanted` (it answers the last of its
/// checks, made every second).
pub async fn readyz_becomes(app: &TestApp, wanted: StatusCode) -> crate::helpers::Reply {
    let started = Instant::now();
    loop {
        let reply = app.get("/readyz").await;
        if reply.status == wanted {
            return reply;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "still {}", reply.body);
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn healthz_is_liveness_and_readyz_checks_the_database() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
    assert_eq!(readyz_becomes(&app, StatusCode::OK).await.body["status"], "ready");
    // With the database gone the instance is alive but not ready: a load
    // balancer sends its requests elsewhere, an orchestrator leaves it be.
    app.state.store.close().await;
    let ready = readyz_becomes(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    let alive = app.get("/healthz").await;
    assert_eq!((alive.status, &alive.body["status"]), (StatusCode::OK, &"ok".into()));
    assert_eq!(ready.body["status"], "unavailable");
    let reasons = ready.body["reasons"].to_string();
    assert!(reasons.contains("database"), "{reasons}");
}

/// A TCP relay to `target` that can be cut (every connection through it
/// dropped, new ones closed at once) and joined again: a database that goes
/// away and comes back, for one test alone.
struct Relay {
    addr: SocketAddr,
    open: Arc<AtomicBool>,
    cuts: watch::Sender<u64>,
}

impl Relay {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let cuts = watch::channel(0).0;
        let (is_open, cut) = (open.clone(), cuts.clone());
        actix_web::rt::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !is_open.load(Ordering::SeqCst) {
                    continue;
                }
                let (target, mut cut) = (target.clone(), cut.subscribe());
                actix_web::rt::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self { addr, open, cuts }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    fn join(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

#[actix_web::test]
async fn readyz_on_postgresql_follows_the_database_away_and_back() {
    let Some(db) = TestDb::postgres().await else { return };
    // postgres://user:password@HOST:PORT/name, with HOST:PORT the relay's.
    let (head, rest) = db.url.split_once('@').unwrap();
    let (server, name) = rest.split_once('/').unwrap();
    let relay = Relay::start(server.to_owned()).await;
    let url = format!("{head}@{}/{name}", relay.addr);
    let app = spawn_app_with(|s| s.database_url = url).await;
    readyz_becomes(&app, StatusCode::OK).await;

    relay.cut();
    let away = readyz_becomes(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(away.body["reasons"].to_string().contains("database"), "{}", away.body);
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK, "alive all the while");
    relay.join();
    // The pool reconnects by itself.
    readyz_becomes(&app, StatusCode::OK).await;
}

/// SIGTERM stops the binary gracefully: 20 revocation-feed polls waiting for
/// news (each for up to 30 s, longer than the grace) are answered at once
/// rather than cut off, and the process exits 0.
#[actix_web::test]
async fn sigterm_answers_the_requests_in_flight_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/a.db", dir.path().display());
    let mut served = Served::start(&db, &[("SHUTDOWN_GRACE", "10")]);
    let metrics = served.metrics.clone().unwrap();
    let polls: Vec<_> = (0..20)
        .map(|_| {
            let url = format!("{}/auth/revocations?wait=30", served.base);
            actix_web::rt::spawn(async move {
                let request = client().get(url).basic_auth(CLIENT_ID, CLIENT_SECRET);
                let mut res = request.timeout(Duration::from_secs(60)).send().await;
                let res = res.as_mut().map_err(|e| e.to_string())?;
                let body = res.body().await.map_err(|e| e.to_string())?;
                Ok::<_, String>((res.status(), body))
            })
        })
        .collect();
    // Every poll is being handled (not merely sent) before the signal.
    let started = Instant::now();
    loop {
        let mut res = client().get(format!("{metrics}/metrics")).send().await.unwrap();
        let text = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
        if text.lines().any(|l| l == "http_requests_in_flight 20") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "polls never all in flight:\n{text}");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    served.terminate();
    for poll in polls {
        let (status, body) = poll.await.unwrap().expect("answered, not cut off");
        assert_eq!(status, StatusCode::OK);
        let feed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(feed["cursor"].is_string(), "{feed}");
    }
    let exit = served.exit_status(Duration::from_secs(20)).expect("the auth-api exits");
    assert_eq!(exit.code(), Some(0), "{}", served.log());
    assert!(served.log().contains("stopping: requests in flight may finish"), "{}", served.log());
}

#[actix_web::test]
async fn metrics_count_requests_by_route_pattern_and_status() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let tokens = app.login_ok("alice").await;
    app.refresh(&tokens.refresh_token).await;
    app.delete_bearer("/auth/sessions/some-id", &tokens.access_token).await;
    assert_eq!(
        app.metric(r#"http_requests_total{route="/auth/token",method="POST",status="200"}"#).await,
        2.0
    );
    // The pattern, not the raw path, labels the series.
    assert_eq!(
        app.metric(
            r#"http_requests_total{route="/auth/sessions/{id}",method="DELETE",status="404"}"#
        )
        .await,
        1.0
    );
    assert_eq!(app.metric(r#"refreshes_total{result="rotated"}"#).await, 1.0);
}

#[actix_web::test]
async fn metrics_are_served_on_their_own_listener_only() {
    let app = spawn_app().await;
    let public = app.get("/metrics").await;
    assert_eq!(public.status, StatusCode::NOT_FOUND, "the public listener has no /metrics");
    assert_eq!(public.error(), "not_found");

    let mut res = client().get(format!("{}/metrics", app.metrics_base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
    assert!(text.contains("revocations_total 0"), "{text}");
    // That listener serves nothing else.
    for path in ["/healthz", "/auth/token", "/.well-known/jwks.json"] {
        let res = client().get(format!("{}{path}", app.metrics_base)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[actix_web::test]
async fn the_binary_serves_metrics_privately_side_by_side_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let db = |name: &str| format!("sqlite://{}/{name}.db", dir.path().display());
    // Two instances on one machine: each its own metrics port (tests set 0).
    let one = Served::start(&db("one"), &[]);
    let two = Served::start(&db("two"), &[]);
    let (m1, m2) = (one.metrics.clone().unwrap(), two.metrics.clone().unwrap());
    assert_ne!(m1, m2);
    for served in [&one, &two] {
        let metrics = served.metrics.as_deref().unwrap();
        let mut res = client().get(format!("{metrics}/metrics")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let text = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
        assert!(text.contains("revocations_total 0"), "{text}");
        let public = client().get(format!("{}/metrics", served.base)).send().await.unwrap();
        assert_eq!(public.status(), StatusCode::NOT_FOUND);
    }
    let off = Served::start(&db("off"), &[("METRICS_ADDR", "off")]);
    assert!(off.metrics.is_none());
    assert!(off.log().contains("serves no metrics"), "{}", off.log());
}

/// `LOG_FORMAT=json`: every line the binary writes is one JSON object, and a
/// request's lines carry its request id and trace id.
#[actix_web::test]
async fn json_logs_are_one_object_per_line_with_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/a.db", dir.path().display());
    let mut served = Served::start(&db, &[("LOG_FORMAT", "json")]);
    let res = client().get(format!("{}/healthz", served.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    served.terminate();
    served.exit_status(Duration::from_secs(20)).expect("the auth-api exits");
    let log = served.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(lines.len() >= 3, "{log}");
    let finished = lines
        .iter()
        .find(|l| l["message"] == "request finished")
        .unwrap_or_else(|| panic!("no request line: {log}"));
    assert_eq!(finished["status"], 200, "{finished}");
    let request_id = finished["spans"][0]["request_id"].as_str().unwrap_or_default();
    assert_eq!(request_id.len(), 36, "{finished}");
    // The trace it belongs to: 32 hex digits, not the all-zero "no trace".
    let trace_id = finished["spans"][0]["trace_id"].as_str().unwrap_or_default();
    assert_eq!(trace_id.len(), 32, "{finished}");
    assert!(trace_id.bytes().all(|b| b.is_ascii_hexdigit()), "{finished}");
    assert_ne!(trace_id, "0".repeat(32), "{finished}");
}
