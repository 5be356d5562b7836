//! The auth-api going away and coming back.

use awc::http::StatusCode;

use crate::harness::spawn;

#[actix_web::test]
async fn with_the_auth_api_down_public_pages_work_and_protected_pages_fail_cleanly() {
    let mut stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let fresh = stack.browser();
    fresh.sign_in_ok("alice").await;
    let stale = stack.browser();
    stale.sign_in_ok("alice").await;

    stack.stop_auth_api().await;
    // A still-valid cached token keeps working without the auth-api.
    assert_eq!(fresh.get("/profile").await.status, StatusCode::OK);
    assert_eq!(stack.browser().get("/").await.status, StatusCode::OK);
    assert_eq!(stack.browser().get("/login").await.status, StatusCode::OK);

    // An expired one cannot be refreshed: 503, not a sign-out, never a 500.
    stack.clock.advance(301);
    let page = stale.get("/profile").await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.body.contains("temporarily unavailable"));
    assert!(stale.cookie().is_some(), "an outage must not sign anyone out");
    assert_eq!(stale.get("/").await.status, StatusCode::OK, "public pages are unaffected");

    let login = stack.browser().sign_in("alice", crate::harness::PASSWORD).await;
    assert_eq!(login.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(login.body.contains("temporarily unavailable"));

    // Sign-out still clears the cookie, and says the auth-api was not told.
    let out = fresh.sign_out().await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), Some("/?signed_out=local"));
    assert!(fresh.cookie().is_none());
    let home = fresh.get("/?signed_out=local").await;
    assert_eq!(home.status, StatusCode::OK);

    stack.restart_auth_api().await;
    let page = stale.get("/profile").await;
    assert_eq!(page.status, StatusCode::OK, "everyone is still signed in after the restart");
}

#[actix_web::test]
async fn a_frontend_started_before_the_auth_api_serves_soon_after_it_comes_up() {
    let mut stack = spawn().await;
    stack.add_user("alice", &[]).await;
    stack.stop_auth_api().await;
    // This frontend's first fetch of the signing keys fails.
    let (base, _handle) = stack.another_frontend(vec![cookie::Key::generate()]).await;
    stack.restart_auth_api().await;

    let browser = crate::harness::Browser::new(&base);
    browser.sign_in_ok("alice").await;
    // A failed key fetch is retried after half a second, not after the full
    // refetch interval: within two seconds the profile renders.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let page = browser.get("/profile").await;
        if page.status == StatusCode::OK {
            break;
        }
        assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE, "{}", page.body);
        assert!(std::time::Instant::now() < deadline, "still unavailable after 2 s");
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(browser.cookie().is_some(), "nobody was signed out while the keys were missing");
}

/// `/readyz` is `200` only while this frontend can judge sessions itself: it
/// has the signing keys and the revocation feed answers. `/healthz` says
/// only that the process serves.
#[actix_web::test]
async fn readyz_waits_for_the_keys_and_the_feed_and_healthz_does_not() {
    let mut stack = spawn().await;
    stack.stop_auth_api().await;
    let (base, _handle) = stack.another_frontend(vec![cookie::Key::generate()]).await;
    let browser = crate::harness::Browser::new(&base);
    assert_eq!(browser.get("/healthz").await.status, StatusCode::OK);
    let waiting = browser.get("/readyz").await;
    assert_eq!(waiting.status, StatusCode::SERVICE_UNAVAILABLE, "{}", waiting.body);
    let reasons: serde_json::Value = serde_json::from_str(&waiting.body).unwrap();
    let reasons = reasons["reasons"].to_string();
    assert!(reasons.contains("signing keys") && reasons.contains("revocation feed"), "{reasons}");

    stack.restart_auth_api().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let ready = browser.get("/readyz").await;
        if ready.status == StatusCode::OK {
            assert!(ready.body.contains("ready"), "{}", ready.body);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not ready 20 s on: {}", ready.body);
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
