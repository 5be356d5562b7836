//! The long-poll revocation feed.

use awc::http::StatusCode;

use crate::helpers::{client, read, spawn_app};

#[actix_web::test]
async fn the_feed_answers_at_once_when_there_is_news_after_the_cursor() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let empty = app.get_client("/auth/revocations?wait=0").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.body["revoked"].as_array().unwrap().len(), 0);
    let cursor = empty.body["cursor"].as_str().unwrap().to_owned();

    let tokens = app.login_ok("alice").await;
    app.delete_bearer(&format!("/auth/sessions/{}", tokens.session_id), &tokens.access_token).await;
    // Even with a long wait, news is answered immediately.
    let news = app.get_client(&format!("/auth/revocations?after={cursor}&wait=30")).await;
    let revoked = news.body["revoked"].as_array().unwrap();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["sid"], tokens.session_id);
    // Held until every access token of the session has expired.
    assert!(revoked[0]["until"].as_i64().unwrap() >= app.state.now() + 300);
    let next = news.body["cursor"].as_str().unwrap();
    assert_ne!(next, cursor);

    let nothing_new = app.get_client(&format!("/auth/revocations?after={next}&wait=0")).await;
    assert_eq!(nothing_new.body["revoked"].as_array().unwrap().len(), 0);
    assert_eq!(nothing_new.body["cursor"], next);
}

#[actix_web::test]
async fn a_waiting_poll_wakes_when_a_session_ends() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let tokens = app.login_ok("alice").await;
    let cursor =
        app.get_client("/auth/revocations").await.body["cursor"].as_str().unwrap().to_owned();
    let path = format!("/auth/revocations?after={cursor}&wait=30");
    let poll = app.get_client(&path);
    let end = async {
        // Let the poll reach its wait first; the feed must not miss the end either way.
        actix_web::rt::task::yield_now().await;
        app.post_client("/auth/revoke", &serde_json::json!({"token": tokens.refresh_token})).await
    };
    let (reply, _) = tokio::join!(poll, end);
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["revoked"][0]["sid"], tokens.session_id);
}

#[actix_web::test]
async fn the_feed_needs_client_credentials_and_a_valid_cursor() {
    let app = spawn_app().await;
    let anonymous = read(client().get(app.url("/auth/revocations")).send().await.unwrap()).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.error(), "invalid_client");
    for bad in ["after=abc", "after=-1", "wait=soon"] {
        let reply = app.get_client(&format!("/auth/revocations?{bad}")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(reply.error(), "invalid_request");
    }
}
