//! The password and refresh-token grants, sessions' timing rules, throttling.

use awc::http::StatusCode;
use serde_json::json;
use shared::{AccessClaims, SessionView, TokenResponse};

use auth_api::clock::Clock as _;

use crate::helpers::{CLIENT_ID, CLIENT_SECRET, PASSWORD, client, read, spawn_app, spawn_app_with};

fn claims(token: &str) -> (serde_json::Value, AccessClaims) {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let mut parts = token.split('.');
    let header = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
    let payload = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
    (serde_json::from_slice(&header).unwrap(), serde_json::from_slice(&payload).unwrap())
}

#[actix_web::test]
async fn login_returns_an_eddsa_access_token_with_exactly_the_designed_claims() {
    let app = spawn_app().await;
    let user_id = app.add_user("alice", &[]).await;
    let tokens = app.login_ok("alice").await;

    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(tokens.expires_in, 300);
    assert!(tokens.remember);
    assert_eq!(tokens.user.username, "alice");
    assert_eq!(tokens.user.sub, user_id);
    let (header, claims) = claims(&tokens.access_token);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "at+jwt");
    assert!(header["kid"].is_string());
    assert_eq!(claims.iss, "http://cloakroom.test");
    assert_eq!(claims.aud, CLIENT_ID);
    assert_eq!(claims.sub, user_id);
    assert_eq!(claims.sid, tokens.session_id);
    assert_eq!(claims.roles, vec![shared::Role::User]);
    assert_eq!(claims.exp - claims.iat, 300);
    assert_eq!(claims.nbf, claims.iat);
    assert_eq!(claims.auth_time, claims.iat, "the password was proven just now");
    assert!(!claims.jti.is_empty());
    // The refresh token: base64url of its session, generation, family and secret.
    let parsed = auth_api::tokens::refresh::Presented::parse(&tokens.refresh_token).unwrap();
    assert_eq!((parsed.session.to_string(), parsed.generation), (tokens.session_id.clone(), 0));
    assert_eq!(app.metric("logins_total{result=\"ok\"}").await, 1.0);
}

#[actix_web::test]
async fn every_login_starts_a_new_session() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let a = app.login_ok("alice").await;
    let b = app.login_ok("Alice").await;
    assert_ne!(a.session_id, b.session_id);
    assert_ne!(a.refresh_token, b.refresh_token);
    let sessions = app.get_bearer("/auth/sessions", &b.access_token).await;
    assert_eq!(sessions.body.as_array().unwrap().len(), 2);
}

#[actix_web::test]
async fn wrong_password_and_unknown_user_answer_identically() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let wrong = app.login("alice", "not the password").await;
    let unknown = app.login("mallory", "not the password").await;
    let malformed = app.login("not a valid name!", "not the password").await;
    for reply in [&wrong, &unknown, &malformed] {
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.body, json!({"error": "invalid_grant"}));
        assert_eq!(reply.content_type, "application/json");
    }
    assert_eq!(app.metric("logins_total{result=\"failed\"}").await, 3.0);
}

#[actix_web::test]
async fn client_endpoints_refuse_missing_and_wrong_client_credentials() {
    let app = spawn_app().await;
    let body = json!({"grant_type": "refresh_token", "refresh_token": "x"});
    let none = read(client().post(app.url("/auth/token")).send_json(&body).await.unwrap()).await;
    let wrong_secret = read(
        client()
            .post(app.url("/auth/token"))
            .basic_auth(CLIENT_ID, "wrong")
            .send_json(&body)
            .await
            .unwrap(),
    )
    .await;
    let wrong_id = read(
        client()
            .post(app.url("/auth/token"))
            .basic_auth("other", CLIENT_SECRET)
            .send_json(&body)
            .await
            .unwrap(),
    )
    .await;
    for reply in [none, wrong_secret, wrong_id] {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.error(), "invalid_client");
        assert!(reply.headers.get("www-authenticate").is_some());
    }
}

/// `AUTH_CLIENT_SECRETS` during a rotation: the new secret and the old one
/// both open the client endpoints; once the old one is removed it is refused,
/// and the sessions signed in through it go on.
#[actix_web::test]
async fn every_listed_client_secret_opens_and_a_removed_one_is_refused() {
    const NEW: &str = "new-client-secret-0123456789abcdef";
    let both = format!("{NEW},{CLIENT_SECRET}");
    let app = spawn_app_with(|s| {
        s.client_secrets = auth_api::domain::ClientSecrets::parse(&both).unwrap();
    })
    .await;
    app.add_user("alice", &[]).await;
    let grant = |url: String, secret: &'static str| async move {
        let body = json!({"grant_type": "password", "username": "alice", "password": PASSWORD});
        read(client().post(url).basic_auth(CLIENT_ID, secret).send_json(&body).await.unwrap()).await
    };
    let through_old = grant(app.url("/auth/token"), CLIENT_SECRET).await;
    assert_eq!(through_old.status, StatusCode::OK, "{}", through_old.body);
    assert_eq!(grant(app.url("/auth/token"), NEW).await.status, StatusCode::OK);

    let mut app = app;
    app.settings.client_secrets = auth_api::domain::ClientSecrets::parse(NEW).unwrap();
    let app = app.restart().await;
    let refused = grant(app.url("/auth/token"), CLIENT_SECRET).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.error(), "invalid_client");
    assert_eq!(grant(app.url("/auth/token"), NEW).await.status, StatusCode::OK);
    // The session does not belong to a secret: the new one refreshes it.
    let refresh_token = through_old.body["refresh_token"].as_str().unwrap();
    let refreshed = read(
        client()
            .post(app.url("/auth/token"))
            .basic_auth(CLIENT_ID, NEW)
            .send_json(&json!({"grant_type": "refresh_token", "refresh_token": refresh_token}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
}

#[actix_web::test]
async fn refresh_rotates_the_token_and_updates_last_seen() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let first = app.login_ok("alice").await;
    app.clock.advance(60);
    let reply = app.refresh(&first.refresh_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.headers.get("cache-control").unwrap(), "no-store");
    let second: TokenResponse = serde_json::from_value(reply.body).unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(second.session_id, first.session_id);
    assert_ne!(second.access_token, first.access_token);
    let sessions: Vec<SessionView> =
        serde_json::from_value(app.get_bearer("/auth/sessions", &second.access_token).await.body)
            .unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].last_seen_at, sessions[0].created_at + 60);
    // The successor rotates in turn.
    let third = app.refresh(&second.refresh_token).await;
    assert_eq!(third.status, StatusCode::OK);
}

#[actix_web::test]
async fn the_previous_token_gets_the_same_successor_racing_or_much_later() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let first = app.login_ok("alice").await;
    // Two racing requests with the same token: both succeed, one successor.
    let (a, b) =
        futures_join(app.refresh(&first.refresh_token), app.refresh(&first.refresh_token)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(b.status, StatusCode::OK, "{}", b.body);
    assert_eq!(a.body["refresh_token"], b.body["refresh_token"]);
    // An answer lost on its way: the client retries with the token it has,
    // long after (the old rule forgave 10 s), and gets that same successor.
    app.clock.advance(1800);
    let late = app.refresh(&first.refresh_token).await;
    assert_eq!(late.status, StatusCode::OK);
    assert_eq!(late.body["refresh_token"], a.body["refresh_token"]);
    assert_eq!(app.metric("refresh_reuse_detections_total").await, 0.0);
    assert_eq!(app.metric(r#"refreshes_total{result="retry"}"#).await, 2.0);
    // The successor still rotates, once.
    let next = app.refresh(a.body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(next.status, StatusCode::OK);
    assert_ne!(next.body["refresh_token"], a.body["refresh_token"]);
}

async fn futures_join<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    tokio::join!(a, b)
}

#[actix_web::test]
async fn a_token_whose_successor_was_used_ends_the_session() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let first = app.login_ok("alice").await;
    // A copy of `first` is kept; the session moves on: `second` is used.
    let second: TokenResponse =
        serde_json::from_value(app.refresh(&first.refresh_token).await.body).unwrap();
    let third: TokenResponse =
        serde_json::from_value(app.refresh(&second.refresh_token).await.body).unwrap();

    let reuse = app.refresh(&first.refresh_token).await;
    assert_eq!(reuse.status, StatusCode::BAD_REQUEST);
    assert_eq!(reuse.error(), "invalid_grant");
    // The whole session is dead: the newest token and its access token too.
    let newest = app.refresh(&third.refresh_token).await;
    assert_eq!(newest.status, StatusCode::BAD_REQUEST);
    assert_eq!(newest.error(), "invalid_grant");
    let info = app.get_bearer("/auth/userinfo", &third.access_token).await;
    assert_eq!(info.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.metric("refresh_reuse_detections_total").await, 1.0);
    // And it is announced on the revocation feed, and audited.
    let feed = app.get_client("/auth/revocations").await;
    assert_eq!(feed.body["revoked"][0]["sid"], first.session_id);
    let filter = auth_api::store::EventFilter {
        kind: Some("refresh_reuse".into()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(app.state.store.audit_events(&filter).await.unwrap().len(), 1);
}

/// A token for a session, made up without the session's family (anyone can
/// read a session id in an access token), is refused and changes nothing.
#[actix_web::test]
async fn a_made_up_token_for_a_real_session_changes_nothing() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let first = app.login_ok("alice").await;
    let sid = uuid::Uuid::parse_str(&first.session_id).unwrap();
    for generation_zero_guess in 0..3 {
        let (guess, _, _) = auth_api::tokens::refresh::RefreshToken::first(sid);
        let reply = app.refresh(guess.expose()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "guess {generation_zero_guess}");
        assert_eq!(reply.error(), "invalid_grant");
    }
    assert_eq!(app.metric("refresh_reuse_detections_total").await, 0.0);
    assert_eq!(app.refresh(&first.refresh_token).await.status, StatusCode::OK, "still alive");
}

/// Sessions signed in before migration 0008 hold a 43-character token that
/// names no session: it is found by hash, rotates once into the new form
/// (starting a family), and its own retry still gets that successor.
#[actix_web::test]
async fn a_token_from_before_generations_keeps_its_session() {
    use sqlx::Connection;
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]).await;
    let legacy = "bGVnYWN5LXRva2VuLWlzc3VlZC1iZWZvcmUtMDAwOC0hIQ";
    let hash = auth_api::tokens::refresh::hash(legacy);
    let sid = uuid::Uuid::new_v4().to_string();
    let now = auth_api::clock::Clock::now(&app.clock);
    // What migration 0008 leaves of such a session.
    let mut db = sqlx::SqliteConnection::connect(&app.db_url).await.unwrap();
    sqlx::query(
        "INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at, remember, refresh_hash)
         VALUES ($1, $2, $3, $3, $4, 0, $5)",
    )
    .bind(&sid)
    .bind(&alice)
    .bind(now)
    .bind(now + 3600)
    .bind(&hash[..])
    .execute(&mut db)
    .await
    .unwrap();
    sqlx::query("INSERT INTO refresh_tokens (hash, session_id, issued_at) VALUES ($1, $2, $3)")
        .bind(&hash[..])
        .bind(&sid)
        .bind(now)
        .execute(&mut db)
        .await
        .unwrap();

    let upgraded = app.refresh(legacy).await;
    assert_eq!(upgraded.status, StatusCode::OK, "{}", upgraded.body);
    assert_eq!(upgraded.body["session_id"], sid);
    let token = upgraded.body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 76, "the new form");
    let retried = app.refresh(legacy).await;
    assert_eq!(retried.body["refresh_token"], token.as_str(), "the same successor");
    assert_eq!(app.refresh(&token).await.status, StatusCode::OK);
    // Two behind now: refused; without a family it cannot be told from a
    // guess, so it ends nothing.
    assert_eq!(app.refresh(legacy).await.error(), "invalid_grant");
    assert_eq!(app.metric("refresh_reuse_detections_total").await, 0.0);
}

#[actix_web::test]
async fn unknown_refresh_token_is_an_invalid_grant() {
    let app = spawn_app().await;
    let reply = app.refresh("bm90LWEtcmVhbC10b2tlbi1ub3QtYS1yZWFsLXRva2Vu").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error(), "invalid_grant");
}

#[actix_web::test]
async fn idle_sessions_expire_after_their_own_idle_ttl() {
    let app = spawn_app_with(|s| {
        s.session_idle_ttl = 600;
        s.remember_idle_ttl = 2_000;
    })
    .await;
    app.add_user("alice", &[]).await;
    let browser = app.login_with("alice", PASSWORD, false).await;
    let remembered = app.login_ok("alice").await;
    assert_eq!(browser.status, StatusCode::OK);
    assert_eq!(browser.body["remember"], false);
    app.clock.advance(500);
    let kept = app.refresh(browser.body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(kept.status, StatusCode::OK);
    app.clock.advance(601);
    let idle = app.refresh(kept.body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(idle.status, StatusCode::BAD_REQUEST);
    assert_eq!(idle.error(), "invalid_grant");
    // Idle 1,101 s: past the browser session's limit, within "remember me"'s.
    let kept = app.refresh(&remembered.refresh_token).await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    app.clock.advance(2_001);
    let idle = app.refresh(kept.body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(idle.error(), "invalid_grant");
}

#[actix_web::test]
async fn sessions_end_at_the_absolute_timeout_however_active_and_no_token_outlives_it() {
    let app = spawn_app_with(|s| {
        s.session_idle_ttl = 600;
        s.session_absolute_ttl = 1000;
        s.remember_absolute_ttl = 3000;
    })
    .await;
    app.add_user("alice", &[]).await;
    let first = app.login_with("alice", PASSWORD, false).await;
    let started = app.clock.now();
    assert_eq!(first.body["session_expires_at"], started + 1000);
    let remembered = app.login_ok("alice").await;
    assert_eq!(remembered.session_expires_at, started + 3000);
    let mut token = first.body["refresh_token"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        app.clock.advance(300);
        let reply = app.refresh(&token).await;
        assert_eq!(reply.status, StatusCode::OK);
        token = reply.body["refresh_token"].as_str().unwrap().to_owned();
        // The access token never outlives the session's absolute end.
        let exp = claims(reply.body["access_token"].as_str().unwrap()).1.exp;
        assert!(exp <= started + 1000, "exp {exp} after the session's end");
        assert_eq!(reply.body["expires_in"].as_i64().unwrap(), exp - app.clock.now());
    }
    app.clock.advance(101);
    let reply = app.refresh(&token).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn repeated_failures_for_one_username_are_throttled_before_hashing() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    app.add_user("bob", &[]).await;
    for _ in 0..4 {
        assert_eq!(app.login("alice", "wrong password").await.status, StatusCode::BAD_REQUEST);
    }
    // Another user's success does not reset alice's counter.
    app.login_ok("bob").await;
    assert_eq!(app.login("alice", "wrong password").await.status, StatusCode::BAD_REQUEST);
    // Now even the right password is refused, with a Retry-After.
    let throttled = app.login("alice", PASSWORD).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(throttled.error(), "rate_limited");
    let retry: u64 =
        throttled.headers.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 900, "{retry}");
    // The same for unknown users, so throttling does not reveal who exists.
    for _ in 0..5 {
        app.login("nobody", "wrong password").await;
    }
    assert_eq!(app.login("nobody", "wrong password").await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.metric("logins_total{result=\"throttled\"}").await, 2.0);
    // The window ends and alice may try again.
    app.clock.advance(901);
    app.login_ok("alice").await;
}

#[actix_web::test]
async fn a_burst_of_parallel_guesses_is_throttled_while_it_queues() {
    // Every guess passes the first check at once (no failure is recorded
    // yet); they then queue for a core. Checked again as their hash starts,
    // those behind the limit are refused: their result is never looked at.
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let guesses = (0..16).map(|_| app.login("alice", "wrong password"));
    let replies = futures::future::join_all(guesses).await;
    let answered = replies.iter().filter(|r| r.status == StatusCode::BAD_REQUEST).count();
    let refused = replies.iter().filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(
        answered + refused,
        16,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    // 5 allowed, plus those already hashing or about to (one per core) when
    // the fifth failure was recorded; without the second check all 16 are.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(answered <= 5 + 2 * cores, "{answered} of 16 guesses were answered");
}

#[actix_web::test]
async fn repeated_failures_from_one_ip_are_throttled() {
    let app = spawn_app_with(|s| s.throttle.max_failures_per_ip = 3).await;
    app.add_user("alice", &[]).await;
    for name in ["a1", "a2", "a3"] {
        assert_eq!(app.login(name, "wrong password").await.status, StatusCode::BAD_REQUEST);
    }
    let reply = app.login("alice", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    // A different IP is not affected.
    let other_ip = app
        .post_client(
            "/auth/token",
            &json!({"grant_type": "password", "username": "alice", "password": PASSWORD, "ip": "198.51.100.1"}),
        )
        .await;
    assert_eq!(other_ip.status, StatusCode::OK);
}

#[actix_web::test]
async fn oversized_passwords_are_refused_without_hashing() {
    let app = spawn_app().await;
    let reply = app.login("alice", &"x".repeat(1025)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error(), "invalid_request");
}

#[actix_web::test]
async fn revoke_ends_the_session_and_always_answers_200() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let tokens = app.login_ok("alice").await;
    let unknown = app.post_client("/auth/revoke", &json!({"token": "nope"})).await;
    assert_eq!(unknown.status, StatusCode::OK);
    let known = app.post_client("/auth/revoke", &json!({"token": tokens.refresh_token})).await;
    assert_eq!(known.status, StatusCode::OK);
    assert_eq!(app.refresh(&tokens.refresh_token).await.error(), "invalid_grant");
    assert_eq!(
        app.get_bearer("/auth/userinfo", &tokens.access_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Revoking twice is still fine.
    let again = app.post_client("/auth/revoke", &json!({"token": tokens.refresh_token})).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(app.metric("revocations_total").await, 1.0);
}

#[actix_web::test]
async fn a_trusted_device_is_judged_on_its_own_failures_only() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let with_device = |password: &'static str, device: &'static str| {
        let app = &app;
        async move {
            let body = json!({"grant_type": "password", "username": "alice", "password": password,
                              "ip": "203.0.113.7", "device": device});
            app.post_client("/auth/token", &body).await
        }
    };
    // Guessing from elsewhere locks the username for untrusted attempts...
    for _ in 0..5 {
        assert_eq!(app.login("alice", "a wrong guess").await.status, StatusCode::BAD_REQUEST);
    }
    assert_eq!(app.login("alice", PASSWORD).await.status, StatusCode::TOO_MANY_REQUESTS);
    // ...not for her own browser.
    const DEVICE: &str = "aGVyLW93bi1icm93c2VyLWlk";
    assert_eq!(with_device(PASSWORD, DEVICE).await.status, StatusCode::OK);

    // Her success cleared the username's lock; the guessing goes on.
    for _ in 0..5 {
        assert_eq!(app.login("alice", "a wrong guess").await.status, StatusCode::BAD_REQUEST);
    }
    // The device's own failures count against it alone, and past its limit
    // (10) it is trusted no more: judged as untrusted, the username's lock applies.
    for _ in 0..10 {
        assert_eq!(with_device("a wrong guess", DEVICE).await.status, StatusCode::BAD_REQUEST);
    }
    let locked = with_device(PASSWORD, DEVICE).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    // A malformed id is no device at all.
    assert_eq!(with_device(PASSWORD, "x").await.status, StatusCode::TOO_MANY_REQUESTS);
    // Another device of hers is unaffected.
    assert_eq!(with_device(PASSWORD, "YW5vdGhlci1kZXZpY2UtaWQ").await.status, StatusCode::OK);
}
