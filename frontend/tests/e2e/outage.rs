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
    assert!(fresh.cookie().is_none());

    stack.restart_auth_api().await;
    let page = stale.get("/profile").await;
    assert_eq!(page.status, StatusCode::OK, "everyone is still signed in after the restart");
}
