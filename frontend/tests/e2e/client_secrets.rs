//! Rotating the client secret (`AUTH_CLIENT_SECRETS`) with no outage: the
//! auth-api accepts every listed secret, a frontend sends its first.

use auth_api::domain::ClientSecrets;
use awc::http::StatusCode;

use crate::harness::{Browser, CLIENT_SECRET, PASSWORD, spawn};

const NEW: &str = "e2e-new-client-secret-0123456789";

#[actix_web::test]
async fn the_client_secret_rotates_with_no_outage_and_a_removed_one_is_refused() {
    let mut stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let rotated = format!("{NEW},{CLIENT_SECRET}");

    // 1. The auth-api lists the new secret first; the frontend still sends
    //    the old one: sign-ins and refreshes go on.
    stack.auth_settings.client_secrets = ClientSecrets::parse(&rotated).unwrap();
    stack.restart_auth_api().await;
    let through_old = stack.browser();
    through_old.sign_in_ok("alice").await;
    let stays_on_old = stack.browser();
    stays_on_old.sign_in_ok("alice").await;
    stack.clock.advance(301);
    assert_eq!(through_old.get("/profile").await.status, StatusCode::OK, "refreshed");

    // 2. A frontend given the rotated list sends the new secret; the cookie
    //    moves to it (same cookie keys) and its refreshes work too.
    stack.front_settings.client_secret =
        frontend::config::client_secret(Some(&rotated), None).unwrap();
    assert_eq!(stack.front_settings.client_secret.expose(), NEW);
    let keys = stack.front_settings.cookie_keys.all().to_vec();
    let (new_front, _handle) = stack.another_frontend(keys).await;
    let moved = through_old.at(&new_front);
    stack.clock.advance(301);
    assert_eq!(moved.get("/profile").await.status, StatusCode::OK, "refreshed with the new one");
    Browser::new(&new_front).sign_in_ok("alice").await;

    // 3. The old secret leaves the auth-api: a frontend still sending it
    //    gets the defined answer (503 "temporarily unavailable", nobody is
    //    signed out); the one sending the new secret goes on.
    stack.auth_settings.client_secrets = ClientSecrets::parse(NEW).unwrap();
    stack.restart_auth_api().await;
    let refused = stack.browser().sign_in("alice", PASSWORD).await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.body.contains("temporarily unavailable"), "{}", refused.body);
    let page = stays_on_old.get("/profile").await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE, "its refresh is refused");
    assert!(stays_on_old.cookie().is_some(), "a refused client signs no one out");
    assert_eq!(moved.get("/profile").await.status, StatusCode::OK);
    Browser::new(&new_front).sign_in_ok("alice").await;
}
