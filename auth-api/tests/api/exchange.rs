//! Token exchange (RFC 8693): a session's access token traded for one an
//! upstream app can verify, and that the auth-api itself refuses.

use awc::http::StatusCode;
use jsonwebtoken::{DecodingKey, jwk::JwkSet};
use serde_json::{Value, json};
use shared::{
    ACCESS_TOKEN_URN, AccessClaims, ExchangedToken, Role,
    verify::{Expected, LEEWAY, verify_access_token},
};

use crate::helpers::{CLIENT_ID, CLIENT_SECRET, Reply, TestApp, client, read, spawn_app};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const NOTES: &str = "notes-api";

fn exchange_body(subject_token: &str, audience: &str) -> Value {
    json!({"grant_type": EXCHANGE, "subject_token": subject_token,
           "subject_token_type": ACCESS_TOKEN_URN, "audience": audience})
}

async fn exchange(app: &TestApp, subject_token: &str, audience: &str) -> Reply {
    app.post_client("/auth/token", &exchange_body(subject_token, audience)).await
}

async fn exchange_ok(app: &TestApp, subject_token: &str, audience: &str) -> ExchangedToken {
    let reply = exchange(app, subject_token, audience).await;
    assert_eq!(reply.status, StatusCode::OK, "exchange: {}", reply.body);
    serde_json::from_value(reply.body).expect("exchanged token")
}

/// Verifies `token` as an upstream would: with the published JWKS, for `audience`.
async fn verify_as_upstream(app: &TestApp, token: &str, audience: &str) -> AccessClaims {
    let jwks: JwkSet =
        serde_json::from_value(app.get("/.well-known/jwks.json").await.body).unwrap();
    let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let jwk = jwks.find(&kid).expect("the token's key is published");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let expected = Expected { issuer: &app.settings.issuer, audience };
    verify_access_token(token, |_| Some(&key), expected, app.state.now()).expect("verifies")
}

/// Decodes the claims of one of the auth-api's own tokens.
async fn own_claims(app: &TestApp, token: &str) -> AccessClaims {
    verify_as_upstream(app, token, CLIENT_ID).await
}

#[actix_web::test]
async fn an_access_token_is_exchanged_for_one_with_the_upstreams_audience_and_the_same_claims() {
    let app = spawn_app().await;
    app.add_user("root", &[Role::Admin]).await;
    let tokens = app.login_ok("root").await;
    // Some of the subject token's life is gone: the new one gets only the rest.
    app.clock.advance(100);

    let reply = exchange(&app, &tokens.access_token, NOTES).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.headers.get("cache-control").unwrap(), "no-store");
    assert_eq!(reply.headers.get("pragma").unwrap(), "no-cache");
    let exchanged: ExchangedToken = serde_json::from_value(reply.body).unwrap();
    assert_eq!(exchanged.issued_token_type, ACCESS_TOKEN_URN);
    assert_eq!(exchanged.token_type, "Bearer");
    assert_eq!(exchanged.expires_in, 200);

    let subject = own_claims(&app, &tokens.access_token).await;
    let claims = verify_as_upstream(&app, &exchanged.access_token, NOTES).await;
    assert_eq!(claims.aud, NOTES);
    assert_eq!(claims.iss, subject.iss);
    assert_eq!(claims.exp, subject.exp, "never longer-lived than the subject token");
    assert_eq!((claims.iat, claims.nbf), (app.state.now(), app.state.now()));
    assert_ne!(claims.jti, subject.jti);
    let same = |c: &AccessClaims| {
        (c.sub.clone(), c.sid.clone(), c.username.clone(), c.roles.clone(), c.auth_time)
    };
    assert_eq!(same(&claims), same(&subject));
    assert_eq!(claims.amr, subject.amr);
    assert_eq!(claims.password_change_required, subject.password_change_required);
    assert_eq!(claims.mfa_setup_required, subject.mfa_setup_required);
    assert_eq!(app.metric("token_exchanges_total{result=\"ok\"}").await, 1.0);
}

#[actix_web::test]
async fn an_exchanged_token_is_refused_by_the_auth_apis_own_bearer_endpoints() {
    let app = spawn_app().await;
    app.add_user("root", &[Role::Admin]).await;
    let tokens = app.login_ok("root").await;
    let exchanged = exchange_ok(&app, &tokens.access_token, NOTES).await.access_token;
    for path in ["/auth/userinfo", "/auth/sessions", "/admin/users", "/auth/mfa"] {
        let reply = app.get_bearer(path, &exchanged).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(reply.error(), "invalid_token", "{path}");
    }
    let reauth = app.post_bearer("/auth/reauth", &exchanged, &json!({"password": "x"})).await;
    assert_eq!(reauth.status, StatusCode::UNAUTHORIZED);
    // The session's own token still works there.
    assert_eq!(app.get_bearer("/auth/userinfo", &tokens.access_token).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn an_exchanged_token_cannot_be_exchanged_again() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let tokens = app.login_ok("alice").await;
    let exchanged = exchange_ok(&app, &tokens.access_token, NOTES).await.access_token;
    for audience in [NOTES, "other-api"] {
        let reply = exchange(&app, &exchanged, audience).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{audience}");
        assert_eq!(reply.body, json!({"error": "invalid_grant"}), "{audience}");
    }
}

#[actix_web::test]
async fn the_frontends_own_client_id_is_not_a_target() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let tokens = app.login_ok("alice").await;
    let reply = exchange(&app, &tokens.access_token, CLIENT_ID).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error(), "invalid_target");
    assert!(reply.body["error_description"].is_string());
    assert_eq!(app.metric("token_exchanges_total{result=\"invalid_target\"}").await, 1.0);
}

#[actix_web::test]
async fn audiences_must_be_visible_ascii_of_at_most_200_characters() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let tokens = app.login_ok("alice").await;
    for audience in ["", "notes api", "notes-api\n", "nötes", &"a".repeat(201)] {
        let reply = exchange(&app, &tokens.access_token, audience).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{audience:?}");
        assert_eq!(reply.error(), "invalid_request", "{audience:?}");
        assert!(reply.body["error_description"].is_string(), "{audience:?}");
    }
    exchange_ok(&app, &tokens.access_token, &"a".repeat(200)).await;
}

#[actix_web::test]
async fn the_subject_token_type_must_be_an_access_token() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let tokens = app.login_ok("alice").await;
    let mut wrong = exchange_body(&tokens.access_token, NOTES);
    wrong["subject_token_type"] = json!("urn:ietf:params:oauth:token-type:refresh_token");
    let mut missing = exchange_body(&tokens.access_token, NOTES);
    missing.as_object_mut().unwrap().remove("subject_token_type");
    for body in [wrong, missing] {
        let reply = app.post_client("/auth/token", &body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(reply.error(), "invalid_request", "{body}");
    }
}

#[actix_web::test]
async fn a_garbage_or_expired_subject_token_is_an_invalid_grant() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let tokens = app.login_ok("alice").await;
    let garbage = exchange(&app, "not-a-token", NOTES).await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
    assert_eq!(garbage.body, json!({"error": "invalid_grant"}));

    app.clock.advance(300 + LEEWAY + 1);
    let expired = exchange(&app, &tokens.access_token, NOTES).await;
    assert_eq!(expired.status, StatusCode::BAD_REQUEST);
    assert_eq!(expired.body, json!({"error": "invalid_grant"}));
    assert_eq!(app.metric("token_exchanges_total{result=\"invalid_grant\"}").await, 2.0);
}

#[actix_web::test]
async fn the_subject_tokens_session_must_still_be_live() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let tokens = app.login_ok("alice").await;
    exchange_ok(&app, &tokens.access_token, NOTES).await;
    let revoke = app.post_client("/auth/revoke", &json!({"token": tokens.refresh_token})).await;
    assert_eq!(revoke.status, StatusCode::OK);
    let reply = exchange(&app, &tokens.access_token, NOTES).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body, json!({"error": "invalid_grant"}));
}

#[actix_web::test]
async fn exchanges_need_the_frontends_client_credentials() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let tokens = app.login_ok("alice").await;
    let body = exchange_body(&tokens.access_token, NOTES);
    let url = app.url("/auth/token");
    let none = read(client().post(&url).send_json(&body).await.unwrap()).await;
    let wrong = client().post(&url).basic_auth(CLIENT_ID, "not-the-secret").send_json(&body);
    let wrong = read(wrong.await.unwrap()).await;
    let other = client().post(&url).basic_auth(NOTES, CLIENT_SECRET).send_json(&body);
    let other = read(other.await.unwrap()).await;
    // An upstream holding the session's token still cannot exchange it.
    let bearer = client().post(&url).bearer_auth(&tokens.access_token).send_json(&body);
    let bearer = read(bearer.await.unwrap()).await;
    for reply in [none, wrong, other, bearer] {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.error(), "invalid_client");
    }
}
