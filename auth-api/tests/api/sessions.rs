//! Listing and ending sessions as their owner.

use awc::http::StatusCode;
use shared::{Role, SessionView};

use crate::helpers::{spawn_app, spawn_app_with};

#[actix_web::test]
async fn sessions_list_shows_device_ip_and_the_current_one() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let a = app.login_ok("alice").await;
    let b = app.login_ok("alice").await;
    let reply = app.get_bearer("/auth/sessions", &b.access_token).await;
    assert_eq!(reply.status, StatusCode::OK);
    let sessions: Vec<SessionView> = serde_json::from_value(reply.body).unwrap();
    assert_eq!(sessions.len(), 2);
    let current: Vec<_> = sessions.iter().filter(|s| s.current).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].id, b.session_id);
    let other = sessions.iter().find(|s| s.id == a.session_id).unwrap();
    assert_eq!(other.ip.as_deref(), Some("203.0.113.7"));
    assert!(other.user_agent.as_deref().unwrap().contains("Firefox"));
}

#[actix_web::test]
async fn a_user_can_end_another_of_their_own_sessions() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let laptop = app.login_ok("alice").await;
    let phone = app.login_ok("alice").await;
    let reply = app
        .delete_bearer(&format!("/auth/sessions/{}", phone.session_id), &laptop.access_token)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(app.refresh(&phone.refresh_token).await.error(), "invalid_grant");
    assert_eq!(app.refresh(&laptop.refresh_token).await.status, StatusCode::OK);
    // Ending it again: it is gone.
    let again = app
        .delete_bearer(&format!("/auth/sessions/{}", phone.session_id), &laptop.access_token)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn a_non_admin_cannot_end_another_users_session() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    app.add_user("bob", &[]).await;
    let alice = app.login_ok("alice").await;
    let bob = app.login_ok("bob").await;
    let reply =
        app.delete_bearer(&format!("/auth/sessions/{}", alice.session_id), &bob.access_token).await;
    // Indistinguishable from a session that does not exist.
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error(), "not_found");
    let missing = app.delete_bearer("/auth/sessions/no-such-session", &bob.access_token).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(app.refresh(&alice.refresh_token).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn an_admin_can_end_anyones_session() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    app.add_user("root", &[Role::Admin]).await;
    let alice = app.login_ok("alice").await;
    let admin = app.login_ok("root").await;
    let reply = app
        .delete_bearer(&format!("/auth/sessions/{}", alice.session_id), &admin.access_token)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(app.refresh(&alice.refresh_token).await.error(), "invalid_grant");
}

#[actix_web::test]
async fn a_sign_in_beyond_max_sessions_per_user_ends_the_oldest() {
    let app = spawn_app_with(|s| s.max_sessions_per_user = 2).await;
    app.add_user("alice", &[]).await;
    app.add_user("bob", &[]).await;
    let bobs = app.login_ok("bob").await;
    let oldest = app.login_ok("alice").await;
    app.clock.advance(1);
    let middle = app.login_ok("alice").await;
    app.clock.advance(1);
    let newest = app.login_ok("alice").await;

    let refused = app.refresh(&oldest.refresh_token).await;
    assert_eq!(refused.error(), "invalid_grant", "the oldest was superseded");
    for tokens in [&middle, &newest, &bobs] {
        assert_eq!(app.refresh(&tokens.refresh_token).await.status, StatusCode::OK);
    }
    // Its access token stops working at once, through the feed.
    let feed = app.get_client("/auth/revocations").await;
    let revoked: Vec<&str> =
        feed.body["revoked"].as_array().unwrap().iter().filter_map(|r| r["sid"].as_str()).collect();
    assert_eq!(revoked, [oldest.session_id.as_str()]);
    let filter = auth_api::store::EventFilter {
        kind: Some("session_ended".into()),
        limit: 10,
        ..Default::default()
    };
    let events = app.state.store.audit_events(&filter).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].session_id.as_deref(), Some(oldest.session_id.as_str()));
    assert_eq!(events[0].detail.as_deref(), Some("superseded"));
}
