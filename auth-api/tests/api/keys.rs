//! Signing keys: JWKS, rotation, and surviving restarts.

use std::time::Duration;

use awc::http::StatusCode;
use shared::TokenResponse;

use crate::helpers::spawn_app;

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[actix_web::test]
async fn jwks_publishes_the_current_ed25519_key() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let tokens = app.login_ok("alice").await;
    let jwks = app.get("/.well-known/jwks.json").await;
    assert_eq!(jwks.status, StatusCode::OK);
    let keys = jwks.body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "OKP");
    assert_eq!(keys[0]["crv"], "Ed25519");
    assert_eq!(keys[0]["alg"], "EdDSA");
    assert_eq!(keys[0]["kid"], kid_of(&tokens.access_token));
    assert!(keys[0].get("d").is_none(), "JWKS must never carry the private key");
}

#[actix_web::test]
async fn key_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let before = app.login_ok("alice").await;
    let old_kid = kid_of(&before.access_token);

    // Rotate through the real CLI against the same database.
    let out = crate::helpers::binary()
        .args(["keys", "rotate", "--database-url", &app.db_url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Instances pick it up on their periodic reload; do that reload now.
    app.state.keys.reload(&app.state.store, app.state.now()).await.unwrap();

    let after = app.login_ok("alice").await;
    let new_kid = kid_of(&after.access_token);
    assert_ne!(new_kid, old_kid);
    assert_eq!(app.get_bearer("/auth/userinfo", &before.access_token).await.status, StatusCode::OK);
    assert_eq!(app.get_bearer("/auth/userinfo", &after.access_token).await.status, StatusCode::OK);
    let kids: Vec<String> = app.get("/.well-known/jwks.json").await.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kids, vec![new_kid.clone(), old_kid.clone()]);

    // Once every token of the old key has expired (TTL plus the minute of skew
    // margin; the CLI stamped the retirement with the real clock, a little
    // after this test's clock started), the old key is withdrawn.
    app.clock.advance(300 + 60 + 30);
    app.state.keys.reload(&app.state.store, app.state.now()).await.unwrap();
    let kids: Vec<String> = app.get("/.well-known/jwks.json").await.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kids, vec![new_kid]);
}

#[actix_web::test]
async fn a_restart_on_the_same_database_keeps_sessions_keys_and_issued_tokens() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let tokens = app.login_ok("alice").await;
    let jwks_before = app.get("/.well-known/jwks.json").await.body;

    let app = app.restart().await;
    assert_eq!(app.get("/.well-known/jwks.json").await.body, jwks_before);
    assert_eq!(app.get_bearer("/auth/userinfo", &tokens.access_token).await.status, StatusCode::OK);
    let refreshed = app.refresh(&tokens.refresh_token).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    let refreshed: TokenResponse = serde_json::from_value(refreshed.body).unwrap();
    assert_eq!(refreshed.session_id, tokens.session_id);
}

fn cli(args: &[&str]) -> (bool, String) {
    let out = crate::helpers::binary().args(args).output().unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

async fn published(app: &crate::helpers::TestApp) -> Vec<String> {
    app.get("/.well-known/jwks.json").await.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn retiring_the_current_key_cuts_it_off_within_two_seconds_and_a_new_key_signs() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let before = app.login_ok("alice").await;
    let old_kid = kid_of(&before.access_token);
    let feed = app.get_client("/auth/revocations").await.body;
    let (epoch, cursor, keys) = (&feed["epoch"], &feed["cursor"], &feed["keys"]);
    let (epoch, cursor, keys) =
        (epoch.as_str().unwrap(), cursor.as_str().unwrap(), keys.as_str().unwrap());
    let poll = format!("/auth/revocations?after={cursor}&epoch={epoch}&keys={keys}&wait=30");
    let waiting = app.get_client(&poll);

    let (ok, out) = cli(&["keys", "retire", &old_kid, "--database-url", &app.db_url]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("signing key {old_kid} retired")), "{out}");
    assert!(out.contains("it was the current key: new key"), "{out}");
    let retired_at = std::time::Instant::now();

    // The waiting poll answers (a running auth-api's periodic re-read) and
    // names the key; running frontends drop it from that answer.
    let news = waiting.await;
    assert!(retired_at.elapsed() < Duration::from_secs(2), "{:?}", retired_at.elapsed());
    assert_eq!(news.body["retired_keys"], serde_json::json!([old_kid]));
    assert_ne!(news.body["keys"], keys);
    // No longer published, nor accepted by this auth-api, within 2 s.
    loop {
        let refused = app.get_bearer("/auth/userinfo", &before.access_token).await.status
            == StatusCode::UNAUTHORIZED;
        if refused && !published(&app).await.contains(&old_kid) {
            break;
        }
        assert!(retired_at.elapsed() < Duration::from_secs(2), "still accepted after 2 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The session lives on: its refresh token gets a token of the new key.
    let refreshed = app.refresh(&before.refresh_token).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    let refreshed: TokenResponse = serde_json::from_value(refreshed.body).unwrap();
    let new_kid = kid_of(&refreshed.access_token);
    assert_ne!(new_kid, old_kid);
    assert_eq!(published(&app).await, vec![new_kid.clone()]);
    assert_eq!(
        app.get_bearer("/auth/userinfo", &refreshed.access_token).await.status,
        StatusCode::OK
    );

    // Recorded; a second retirement or an unknown kid is refused, exit code 2.
    let events =
        crate::helpers::binary().args(["audit", "--database-url", &app.db_url]).output().unwrap();
    let events = String::from_utf8_lossy(&events.stdout).into_owned();
    assert!(
        events.contains(&format!("key_retired\t\tcli\t\t\t{old_kid}; new current key {new_kid}")),
        "{events}"
    );
    for kid in [old_kid.as_str(), "no-such-kid"] {
        let out = crate::helpers::binary()
            .args(["keys", "retire", kid, "--database-url", &app.db_url])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{kid}");
    }
}

#[actix_web::test]
async fn retiring_a_rotated_out_key_leaves_the_current_one_signing() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let old_kid = kid_of(&app.login_ok("alice").await.access_token);
    let (ok, out) = cli(&["keys", "rotate", "--database-url", &app.db_url]);
    assert!(ok, "{out}");
    app.state.keys.reload(&app.state.store, app.state.now()).await.unwrap();
    let current = kid_of(&app.login_ok("alice").await.access_token);
    assert_eq!(published(&app).await, vec![current.clone(), old_kid.clone()]);

    let (ok, out) = cli(&["keys", "retire", &old_kid, "--database-url", &app.db_url]);
    assert!(ok, "{out}");
    assert!(!out.contains("it was the current key"), "{out}");
    let (ok, list) = cli(&["keys", "list", "--database-url", &app.db_url]);
    assert!(ok, "{list}");
    let states: Vec<(&str, &str)> = list
        .lines()
        .skip(1)
        .map(|l| (l.split('\t').next().unwrap(), l.rsplit('\t').next().unwrap()))
        .collect();
    assert_eq!(states.len(), 2, "{list}");
    assert!(states.contains(&(current.as_str(), "current")), "{list}");
    assert!(states.iter().any(|(k, s)| *k == old_kid && s.starts_with("retired at ")), "{list}");
    app.state.keys.reload(&app.state.store, app.state.now()).await.unwrap();
    assert_eq!(published(&app).await, vec![current.clone()]);
    assert_eq!(kid_of(&app.login_ok("alice").await.access_token), current);
}
