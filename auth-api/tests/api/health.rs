//! Liveness and metrics.

use awc::http::StatusCode;

use crate::helpers::spawn_app;

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
