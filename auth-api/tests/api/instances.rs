//! Several auth-api instances on one PostgreSQL database, as a deployment
//! runs them: refresh races between instances, shared signing keys, the
//! revocation feed across instances, shared login throttling. Skipped (with
//! the reason printed) without `TEST_POSTGRES_URL`; required in CI.

use std::time::{Duration, Instant};

use auth_api::{clock::ManualClock, tokens::keys};
use awc::http::StatusCode;
use serde_json::json;
use shared::TokenResponse;
use sqlx::Connection;

use crate::helpers::{PASSWORD, POSTGRES_VAR, TestApp, TestDb, binary, spawn_app_on};

/// Two instances on a fresh PostgreSQL database and one clock.
async fn two_instances() -> Option<(TestApp, TestApp, TestDb)> {
    let db = TestDb::postgres().await?;
    let clock = ManualClock::starting_now();
    let a = spawn_app_on(&db, &clock, |_| {}).await;
    let b = spawn_app_on(&db, &clock, |_| {}).await;
    Some((a, b, db))
}

fn kids(jwks: &serde_json::Value) -> Vec<String> {
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().into()).collect()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// The feed's cursor on `app` now.
async fn cursor(app: &TestApp) -> String {
    app.get_client("/auth/revocations").await.body["cursor"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn two_instances_given_one_refresh_token_at_once_mint_one_successor() {
    let Some((a, b, _db)) = two_instances().await else { return };
    a.add_user("alice", &[]).await;
    let tokens = a.login_ok("alice").await;

    // Ten requests with the same token, half to each instance, all at once.
    let requests = (0..10).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        app.refresh(&tokens.refresh_token)
    });
    let replies = futures::future::join_all(requests).await;
    let mut successors = Vec::new();
    for reply in replies {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let response: TokenResponse = serde_json::from_value(reply.body).unwrap();
        assert_eq!(response.session_id, tokens.session_id);
        successors.push(response.refresh_token);
    }
    successors.dedup();
    assert_eq!(successors.len(), 1, "every racer gets the one successor");
    assert_ne!(successors[0], tokens.refresh_token);
    let sample = r#"refreshes_total{result="rotated"}"#;
    assert_eq!(a.metric(sample).await + b.metric(sample).await, 1.0, "one rotation in all");
    let sample = r#"refreshes_total{result="retry"}"#;
    assert_eq!(a.metric(sample).await + b.metric(sample).await, 9.0);

    // Nobody was taken for a thief: the session lives on and the successor works.
    let feed = b.get_client("/auth/revocations").await;
    assert_eq!(feed.body["revoked"].as_array().unwrap().len(), 0);
    let next = b.refresh(&successors[0]).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);
    assert_ne!(next.body["refresh_token"].as_str().unwrap(), successors[0]);
}

#[actix_web::test]
async fn instances_starting_together_on_a_new_database_share_one_signing_key() {
    let Some(db) = TestDb::postgres().await else { return };
    let clock = ManualClock::starting_now();
    let (a, b) = tokio::join!(spawn_app_on(&db, &clock, |_| {}), spawn_app_on(&db, &clock, |_| {}));
    let jwks_a = a.get("/.well-known/jwks.json").await.body;
    let jwks_b = b.get("/.well-known/jwks.json").await.body;
    assert_eq!(kids(&jwks_a).len(), 1, "{jwks_a}");
    assert_eq!(jwks_a, jwks_b);
}

#[actix_web::test]
async fn a_key_rotated_through_one_instance_is_served_by_the_other_after_its_reload() {
    let Some((a, b, _db)) = two_instances().await else { return };
    a.add_user("alice", &[]).await;
    let before = a.login_ok("alice").await;
    let old_kid = kid_of(&before.access_token);

    let new_kid = a.state.store.rotate_signing_key(keys::generate(), a.state.now()).await.unwrap();
    // What B's housekeeping does every few seconds, done now.
    b.state.keys.reload(&b.state.store, b.state.now()).await.unwrap();

    assert_eq!(kids(&b.get("/.well-known/jwks.json").await.body), [new_kid.clone(), old_kid]);
    let after = b.login_ok("alice").await;
    assert_eq!(kid_of(&after.access_token), new_kid, "B signs with the new key");
    assert_eq!(b.get_bearer("/auth/userinfo", &before.access_token).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn a_token_signed_with_a_key_the_other_instance_has_not_loaded_yet_is_accepted() {
    let Some((a, b, _db)) = two_instances().await else { return };
    a.add_user("alice", &[]).await;
    // A reloads at once (it rotated); B only at its periodic reload, every
    // 5 s, which may fall between the rotation and the check on a loaded
    // machine: then rotate again (the first rotation nearly always finds B behind).
    let mut attempts = 0;
    let (tokens, new_kid) = loop {
        attempts += 1;
        assert!(attempts <= 5, "B reloaded its keys before every one of 5 checks");
        let new_kid =
            a.state.store.rotate_signing_key(keys::generate(), a.state.now()).await.unwrap();
        a.state.keys.reload(&a.state.store, a.state.now()).await.unwrap();
        let tokens = a.login_ok("alice").await;
        assert_eq!(kid_of(&tokens.access_token), new_kid);
        if !b.state.keys.snapshot().verifiers.contains_key(&new_kid) {
            break (tokens, new_kid);
        }
    };

    // Several at once: one reloads, the others wait for its keys.
    let (one, two, three) = tokio::join!(
        b.get_bearer("/auth/userinfo", &tokens.access_token),
        b.get_bearer("/auth/userinfo", &tokens.access_token),
        b.get_bearer("/auth/userinfo", &tokens.access_token),
    );
    for res in [one, two, three] {
        assert_eq!(res.status, StatusCode::OK, "B reloads on the unknown kid: {}", res.body);
    }
    assert!(b.state.keys.snapshot().verifiers.contains_key(&new_kid));
}

/// Ends a session with `end`, while a long-poll waits on `poller`; returns
/// the poll's answer and how long after the end it came.
async fn poll_across(
    poller: &TestApp,
    cursor: &str,
    end: impl std::future::Future<Output = ()>,
) -> (crate::helpers::Reply, Duration) {
    let path = format!("/auth/revocations?after={cursor}&wait=10");
    let poll = poller.get_client(&path);
    let ended_at = async {
        // Nothing shows when a poll has reached its wait; a head start makes
        // that all but certain. Were it not there yet, it would answer at its
        // first read: still in time, so this cannot make the test flaky.
        tokio::time::sleep(Duration::from_millis(200)).await;
        end.await;
        Instant::now()
    };
    let (reply, ended_at) = tokio::join!(poll, ended_at);
    (reply, ended_at.elapsed())
}

#[actix_web::test]
async fn a_session_ended_on_one_instance_wakes_a_long_poll_on_the_other_within_a_second() {
    let Some((a, b, _db)) = two_instances().await else { return };
    a.add_user("alice", &[]).await;
    let tokens = a.login_ok("alice").await;
    let cursor = cursor(&b).await;
    let started = Instant::now();
    let (reply, latency) = poll_across(&b, &cursor, async {
        a.post_client("/auth/revoke", &json!({"token": tokens.refresh_token})).await;
    })
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["revoked"][0]["sid"], tokens.session_id);
    // B's periodic re-read is 5 s; only the announcement answers this soon.
    assert!(latency < Duration::from_secs(1), "answered {latency:?} after the end");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[actix_web::test]
async fn a_session_ended_by_the_cli_wakes_a_long_poll_within_a_second() {
    let Some((a, _b, db)) = two_instances().await else { return };
    a.add_user("alice", &[]).await;
    let tokens = a.login_ok("alice").await;
    let cursor = cursor(&a).await;
    let (reply, latency) = poll_across(&a, &cursor, async {
        let out = binary()
            .args(["sessions", "revoke-user", "alice", "--database-url", &db.url])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    })
    .await;
    assert_eq!(reply.body["revoked"][0]["sid"], tokens.session_id);
    assert!(latency < Duration::from_secs(1), "answered {latency:?} after the end");
}

#[actix_web::test]
async fn failed_logins_are_counted_across_instances() {
    let Some((a, b, _db)) = two_instances().await else { return };
    a.add_user("alice", &[]).await;
    // The limit is 5 per username; alternating instances, neither sees more than 3.
    for i in 0..5 {
        let app = if i % 2 == 0 { &a } else { &b };
        let reply = app.login("alice", "wrong password").await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "attempt {i}: {}", reply.body);
    }
    for app in [&a, &b] {
        let reply = app.login("alice", PASSWORD).await;
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{}", reply.body);
        assert!(reply.headers.contains_key("retry-after"));
    }
}

/// The server processes of database `name` that are listening for announcements.
async fn listeners(admin: &mut sqlx::PgConnection, name: &str) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'",
    )
    .bind(name)
    .fetch_all(admin)
    .await
    .unwrap()
}

#[actix_web::test]
async fn instances_recover_when_the_database_drops_their_connections() {
    let Some((a, b, db)) = two_instances().await else { return };
    a.add_user("alice", &[]).await;
    let tokens = a.login_ok("alice").await;
    let mut admin =
        sqlx::PgConnection::connect(&std::env::var(POSTGRES_VAR).unwrap()).await.unwrap();
    let name = db.url.rsplit_once('/').unwrap().1.split('?').next().unwrap().to_owned();
    let before = listeners(&mut admin, &name).await;
    assert_eq!(before.len(), 2, "each instance listens on its own connection");

    // What a database restart or a network blip does to every connection.
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&name)
        .execute(&mut admin)
        .await
        .unwrap();

    // Ready when both instances listen again, on new connections.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = listeners(&mut admin, &name).await;
        if now.iter().filter(|pid| !before.contains(pid)).count() == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the listeners did not come back: {now:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Requests work again (the pools replace dead connections), and an end
    // on A still reaches a poll on B at once.
    let cursor = cursor(&b).await;
    let (reply, latency) = poll_across(&b, &cursor, async {
        let reply = a.post_client("/auth/revoke", &json!({"token": tokens.refresh_token})).await;
        assert_eq!(reply.status, StatusCode::OK);
    })
    .await;
    assert_eq!(reply.body["revoked"][0]["sid"], tokens.session_id);
    assert!(latency < Duration::from_secs(1), "answered {latency:?} after the end");
}

#[actix_web::test]
async fn readyz_on_postgresql_answers_503_once_the_store_is_closed() {
    let Some((a, _b, _db)) = two_instances().await else { return };
    crate::health::readyz_becomes(&a, StatusCode::OK).await;
    // Closing the pool also ends the listener, which holds one of its connections.
    a.state.store.close().await;
    let down = crate::health::readyz_becomes(&a, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(down.body["status"], "unavailable");
}

#[actix_web::test]
async fn an_authenticator_code_used_through_one_instance_is_refused_through_the_other() {
    use crate::mfa::{code, enrol, pending, second_step};
    let Some((a, b, _db)) = two_instances().await else { return };
    a.add_user("alice", &[]).await;
    let enrolled = enrol(&a, "alice").await;
    a.clock.advance(auth_api::mfa::totp::STEP_SECONDS);
    let now = code(&a, &enrolled.secret, 0);
    let through_a = pending(&a, "alice").await;
    let through_b = pending(&b, "alice").await;
    assert_eq!(second_step(&a, &through_a, &now).await.status, StatusCode::OK);
    let replayed = second_step(&b, &through_b, &now).await;
    assert_eq!((replayed.status, replayed.error()), (StatusCode::BAD_REQUEST, "invalid_grant"));
    // A pending sign-in opened through one instance is finished through the other.
    let next = code(&a, &enrolled.secret, 1);
    assert_eq!(second_step(&a, &through_b, &next).await.status, StatusCode::OK);
}
