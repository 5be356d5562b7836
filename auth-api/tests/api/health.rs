//! Liveness and metrics.

use awc::http::StatusCode;

use crate::helpers::{Served, client, spawn_app};

#[actix_web::test]
async fn healthz_checks_the_database() {
    let app = spawn_app().await;
    let ok = app.get("/healthz").await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body["status"], "ok");
    // With the database gone, the service says so instead of pretending.
    app.state.store.close().await;
    let down = app.get("/healthz").await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(down.error(), "temporarily_unavailable");
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
