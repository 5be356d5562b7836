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

/// The feed's epoch, cursor and `keys` of an answer.
fn position(reply: &crate::helpers::Reply) -> (String, i64, String) {
    let field =
        |name: &str| reply.body[name].as_str().unwrap_or_else(|| panic!("{name}")).to_owned();
    (field("epoch"), field("cursor").parse().unwrap(), field("keys"))
}

#[actix_web::test]
async fn every_start_renews_the_epoch_and_a_poll_of_another_epoch_answers_at_once() {
    let app = spawn_app().await;
    let (epoch, cursor, keys) = position(&app.get_client("/auth/revocations").await);
    assert_eq!(epoch.len(), 32, "128 random bits, hex");

    let started = std::time::Instant::now();
    let path = format!("/auth/revocations?after={cursor}&epoch=0123abcd&keys={keys}&wait=30");
    let reply = app.get_client(&path).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "answered at once");
    assert_eq!(position(&reply).0, epoch, "the answer names the feed's own epoch");

    // A restored database keeps its backup's epoch: starting on it renews it.
    let app = app.restart().await;
    let (renewed, ..) = position(&app.get_client("/auth/revocations").await);
    assert_ne!(renewed, epoch);
}

#[actix_web::test]
async fn a_cursor_beyond_the_head_is_answered_at_once_with_the_head() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let tokens = app.login_ok("alice").await;
    app.post_client("/auth/revoke", &serde_json::json!({"token": tokens.refresh_token})).await;
    let (epoch, head, keys) = position(&app.get_client("/auth/revocations").await);
    assert!(head > 0);

    // A cursor from a history with more rows than this one (the database was
    // restored from an older backup) must not wait for ids it already has.
    let started = std::time::Instant::now();
    let ahead = head + 5;
    let path = format!("/auth/revocations?after={ahead}&epoch={epoch}&keys={keys}&wait=30");
    let reply = app.get_client(&path).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "answered at once");
    assert_eq!(position(&reply).1, head, "the head, behind the reader's cursor: start over");
}

#[actix_web::test]
async fn pruning_keeps_the_head_of_the_feed() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    for _ in 0..2 {
        let tokens = app.login_ok("alice").await;
        app.post_client("/auth/revoke", &serde_json::json!({"token": tokens.refresh_token})).await;
    }
    let (epoch, head, keys) = position(&app.get_client("/auth/revocations").await);

    // Long after every `until`: both rows are dead, yet the newest stays.
    app.clock.advance(24 * 3600);
    let now = app.state.now();
    app.state.store.prune(now, now, 900, now - 90 * 24 * 3600).await.unwrap();
    let path = format!("/auth/revocations?after={head}&epoch={epoch}&keys={keys}&wait=0");
    let reply = app.get_client(&path).await;
    assert_eq!(position(&reply).1, head, "a reader at the head is not told to start over");
    let all = app.get_client("/auth/revocations").await;
    assert_eq!(all.body["revoked"].as_array().unwrap().len(), 0, "nothing dead is served");
    assert_eq!(position(&all).1, head);
}

#[actix_web::test]
async fn a_full_page_says_there_is_more_and_the_next_poll_brings_the_rest() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]).await;
    app.login_ok("alice").await;
    // Each role change marks alice's live session stale: one feed row each.
    let now = app.state.now();
    let live = app.state.policy().liveness(now);
    for _ in 0..1001 {
        let roles = [shared::Role::User];
        app.state.store.set_roles(&alice, &roles, live, now + 600).await.unwrap();
    }
    let first = app.get_client("/auth/revocations?wait=0").await;
    assert_eq!(first.body["more"], true, "1,001 rows, pages of 1,000");
    assert_eq!(first.body["revoked"].as_array().unwrap().len(), 1000);
    let (epoch, cursor, keys) = position(&first);
    let path = format!("/auth/revocations?after={cursor}&epoch={epoch}&keys={keys}&wait=30");
    let started = std::time::Instant::now();
    let rest = app.get_client(&path).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "answered at once");
    assert_eq!(rest.body["revoked"].as_array().unwrap().len(), 1);
    assert_eq!(rest.body.get("more"), None, "caught up");
}
