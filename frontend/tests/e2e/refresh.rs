//! Access tokens: used from the cookie while valid (no auth-api call),
//! swapped once when expired, even for many concurrent requests.

use awc::http::StatusCode;

use crate::harness::spawn;

#[actix_web::test]
async fn steady_state_page_views_make_no_auth_api_calls() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let browser = stack.browser();
    browser.sign_in_ok("alice").await;
    let before = stack.token_calls().await;
    for _ in 0..100 {
        assert_eq!(browser.get("/profile").await.status, StatusCode::OK);
    }
    assert_eq!(
        stack.token_calls().await - before,
        0.0,
        "100 protected page views, 0 calls to /auth/token"
    );
}

#[actix_web::test]
async fn an_expired_access_token_is_refreshed_transparently() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let browser = stack.browser();
    browser.sign_in_ok("alice").await;
    let before = browser.cookie().unwrap();
    stack.clock.advance(301);
    let page = browser.get("/profile").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("alice"));
    let rotated = page.session_cookie().expect("the rotated cookie is set");
    assert_ne!(rotated.value(), before);
    assert_eq!(stack.auth_metric(r#"refreshes_total{result="rotated"}"#).await, 1.0);
    // And the new token is used from then on.
    let calls = stack.token_calls().await;
    assert_eq!(browser.get("/sessions").await.status, StatusCode::OK);
    assert_eq!(stack.token_calls().await, calls);
}

#[actix_web::test]
async fn fifty_concurrent_requests_on_an_expired_token_share_one_refresh() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let browser = stack.browser();
    browser.sign_in_ok("alice").await;
    stack.clock.advance(301);
    let before = stack.token_calls().await;
    let pages = futures::future::join_all((0..50).map(|_| browser.get("/profile"))).await;
    for page in &pages {
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("alice"));
    }
    assert_eq!(stack.token_calls().await - before, 1.0, "exactly one /auth/token call");
    assert_eq!(stack.auth_metric("refresh_reuse_detections_total").await, 0.0);
    assert_eq!(browser.get("/profile").await.status, StatusCode::OK, "still signed in");
}
