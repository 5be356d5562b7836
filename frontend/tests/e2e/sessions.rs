//! The sessions page: seeing one's devices and ending them.

use std::time::Duration;

use awc::http::StatusCode;

use crate::harness::{PASSWORD, spawn};

#[actix_web::test]
async fn the_sessions_page_lists_devices_and_marks_this_one() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let laptop = stack.browser();
    laptop.sign_in_ok("alice").await;
    let mut phone = stack.browser();
    phone.user_agent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1".into();
    phone.sign_in_ok("alice").await;

    let page = laptop.get("/sessions").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Firefox on Linux"));
    assert!(page.body.contains("Safari on iPhone"));
    assert!(page.body.contains("127.0.0.1"));
    assert_eq!(page.body.matches("This device").count(), 1);
    assert!(page.body.contains("Sign out everywhere else"));
    assert!(page.body.contains(" UTC"), "times are shown");
}

#[actix_web::test]
async fn a_session_revoked_from_the_sessions_page_is_signed_out_within_two_seconds() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let laptop = stack.browser();
    laptop.sign_in_ok("alice").await;
    let phone = stack.browser();
    phone.sign_in_ok("alice").await;
    assert_eq!(phone.get("/profile").await.status, StatusCode::OK);

    let page = laptop.get("/sessions").await;
    let phone_sid = match stack.front.codec.open(&phone.cookie().unwrap()) {
        frontend::session::cookie::Opened::Valid { cookie, .. } => cookie.session_id,
        other => panic!("{other:?}"),
    };
    assert!(page.body.contains(&phone_sid));
    let revoked = laptop.post("/api/revoke_session", &[("id", &phone_sid)]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER, "{}", revoked.body);
    assert_eq!(revoked.location(), Some("/sessions"));
    assert!(!laptop.get("/sessions").await.body.contains(&phone_sid));

    // The phone's cached access token is still cryptographically valid; the
    // revocation feed must make this frontend refuse it anyway, fast.
    phone.signed_out_within("/profile", Duration::from_secs(2)).await;
    assert!(phone.cookie().is_none(), "the dead session's cookie is cleared");
    assert_eq!(laptop.get("/profile").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn sign_out_everywhere_else_keeps_only_this_session() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let browsers = [stack.browser(), stack.browser(), stack.browser()];
    for b in &browsers {
        b.sign_in_ok("alice").await;
    }
    let page = browsers[0].post("/api/revoke_other_sessions", &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let list = browsers[0].get("/sessions").await;
    assert_eq!(list.body.matches("data-session-id").count(), 1);
    assert!(!list.body.contains("Sign out everywhere else"));
}

#[actix_web::test]
async fn one_user_cannot_revoke_another_users_session() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    stack.add_user("bob", &[]).await;
    let alice = stack.browser();
    alice.sign_in_ok("alice").await;
    let bob = stack.browser();
    bob.sign_in_ok("bob").await;
    let alice_sid = match stack.front.codec.open(&alice.cookie().unwrap()) {
        frontend::session::cookie::Opened::Valid { cookie, .. } => cookie.session_id,
        other => panic!("{other:?}"),
    };
    let page = bob.post("/api/revoke_session", &[("id", &alice_sid)]).await;
    // Exactly like a session that does not exist: ids cannot be probed.
    assert_eq!(page.status, StatusCode::NOT_FOUND, "{}", page.body);
    let live = stack.auth_state.store.find_session(&alice_sid).await.unwrap();
    assert!(live.is_some_and(|s| s.ended_at.is_none()), "alice's session must still be live");
    assert_eq!(alice.get("/profile").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn pages_that_call_the_auth_api_render_on_every_worker() {
    // Each fresh connection lands on the next worker; a worker whose pooled
    // client has no connection to the auth-api yet must open one from inside
    // a render (this hung pages when Leptos ran resources off the worker's
    // LocalSet).
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let browser = stack.browser();
    browser.sign_in_ok("alice").await;
    for round in 0..4 {
        let fresh = browser.at(&browser.base);
        let page = fresh.get("/sessions").await;
        assert_eq!(page.status, StatusCode::OK, "round {round}: {}", page.body);
        assert!(page.body.contains("This device"), "round {round}");
    }
}

#[actix_web::test]
async fn a_session_without_remember_me_ends_after_the_idle_ttl_and_a_remembered_one_does_not() {
    // The harness's lifetimes: browser sessions 1 h idle, remembered 7 days.
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let browser_session = stack.browser();
    browser_session.sign_in_ok("alice").await;
    let remembered = stack.browser();
    let page = remembered.sign_in_remembered("alice", PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    stack.clock.advance(3601);
    let page = browser_session.get("/profile").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "idle past SESSION_IDLE_TTL");
    assert!(browser_session.cookie().is_none(), "the dead session's cookie is cleared");
    assert_eq!(remembered.get("/profile").await.status, StatusCode::OK);
}
