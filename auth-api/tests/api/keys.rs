//! Signing keys: JWKS, rotation, and surviving restarts.

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
