//! The notes service against a real auth-api: real tokens, real JWKS.

mod support;

use awc::http::StatusCode;
use serde_json::{Value, json};
use support::{
    ACCESS_TTL, AUDIENCE, CLIENT_ID, ISSUER, auth_api, auth_api_on, client, free_port, notes,
    notes_with, reassembled, segment, with_sub,
};

/// The 401 of RFC 6750 with our JSON body; returns `error_description`.
#[track_caller]
fn assert_invalid_token(reply: &support::Reply) -> String {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    let challenge = reply.header("www-authenticate").expect("WWW-Authenticate");
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains(r#"error="invalid_token""#), "{challenge}");
    assert_eq!(reply.body["error"], "invalid_token");
    reply.body["error_description"].as_str().expect("error_description").to_owned()
}

fn ids(list: &Value) -> Vec<&str> {
    list["notes"].as_array().expect("notes").iter().map(|n| n["id"].as_str().unwrap()).collect()
}

#[actix_web::test]
async fn a_users_notes_round_trip_newest_first() {
    let auth = auth_api().await;
    auth.add_user("alice").await;
    let notes = notes(&auth).await;
    let token = auth.token("alice").await;

    let empty = notes.list(&token).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.body, json!({"notes": []}));
    assert_eq!(empty.header("cache-control"), Some("no-store"));

    let first = notes.create(&token, &json!({"text": "  buy milk\n"})).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["text"], "buy milk", "trimmed");
    assert_eq!(first.body["created_at"], auth.now());
    let second = notes.create(&token, &json!({"text": "call Bob"})).await;
    assert_eq!(second.status, StatusCode::CREATED);

    let list = notes.list(&token).await;
    assert_eq!(list.body["notes"], json!([second.body, first.body]), "newest first");

    let first_id = first.body["id"].as_str().unwrap();
    let gone = notes.delete(&token, first_id).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_eq!(ids(&notes.list(&token).await.body), [second.body["id"].as_str().unwrap()]);
    assert_eq!(notes.delete(&token, first_id).await.status, StatusCode::NOT_FOUND, "deleted once");

    // The notes are the user's, not the token's: a new sign-in sees them.
    let later = auth.token("alice").await;
    assert_eq!(notes.list(&later).await.body["notes"], json!([second.body]));
}

#[actix_web::test]
async fn another_user_never_sees_or_deletes_them() {
    let auth = auth_api().await;
    auth.add_user("alice").await;
    auth.add_user("bob").await;
    let notes = notes(&auth).await;
    let alice = auth.token("alice").await;
    let bob = auth.token("bob").await;
    let note = notes.create(&alice, &json!({"text": "alice's secret"})).await;
    let id = note.body["id"].as_str().unwrap();

    assert_eq!(notes.list(&bob).await.body, json!({"notes": []}));
    let theirs = notes.delete(&bob, id).await;
    let nobodys = notes.delete(&bob, &uuid_like()).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert_eq!((theirs.status, &theirs.body), (nobodys.status, &nobodys.body), "indistinguishable");
    assert_eq!(ids(&notes.list(&alice).await.body), [id], "still there");
}

fn uuid_like() -> String {
    "5f0c3c1e-8a55-4d0b-9a3e-2f7d6f1b9c40".into()
}

#[actix_web::test]
async fn missing_garbage_and_forged_tokens_get_401_with_a_bearer_challenge() {
    let auth = auth_api().await;
    let alice_id = auth.add_user("alice").await;
    let bob_id = auth.add_user("bob").await;
    let notes = notes(&auth).await;
    let alice = auth.token("alice").await;
    notes.create(&alice, &json!({"text": "mine"})).await;
    let url = notes.url("/notes-api/notes");

    let none = notes.send(client().get(&url)).await;
    assert_eq!(assert_invalid_token(&none), "no bearer token");
    let basic = notes.send(client().get(&url).basic_auth(CLIENT_ID, "secret")).await;
    assert_eq!(assert_invalid_token(&basic), "no bearer token");
    let garbage = notes.list("garbage").await;
    assert_eq!(assert_invalid_token(&garbage), "malformed token");

    // Alice's token rewritten to claim Bob's id: the signature gives it away.
    let forged = notes.list(&with_sub(&alice, &bob_id)).await;
    assert_eq!(assert_invalid_token(&forged), "bad signature, issuer or audience");
    // Unsigned (`alg: none`) and HMAC headers are refused before any key is looked up.
    for alg in ["none", "HS256"] {
        let mut header = segment(&alice, 0);
        header["alg"] = json!(alg);
        let token = reassembled(&alice, &header, &segment(&alice, 1));
        assert_eq!(assert_invalid_token(&notes.list(&token).await), "malformed token", "{alg}");
    }
    // Another type of JWT signed by the same key (say an ID token) is not an access token.
    let mut header = segment(&alice, 0);
    header["typ"] = json!("JWT");
    let token = reassembled(&alice, &header, &segment(&alice, 1));
    assert_eq!(assert_invalid_token(&notes.list(&token).await), "malformed token");

    // None of it touched Alice's notes, and her real token still works.
    let list = notes.list(&alice).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["notes"][0]["text"], "mine");
    assert_ne!(alice_id, bob_id);
}

#[actix_web::test]
async fn an_expired_token_gets_401_and_nobody_sleeps() {
    let auth = auth_api().await;
    auth.add_user("alice").await;
    let notes = notes(&auth).await;
    let token = auth.token("alice").await;

    auth.clock.advance(ACCESS_TTL - 1);
    assert_eq!(notes.list(&token).await.status, StatusCode::OK, "a second left");
    // Past `exp` and the 5 s leeway for clock differences between machines.
    auth.clock.advance(1 + shared::verify::LEEWAY);
    assert_eq!(assert_invalid_token(&notes.list(&token).await), "expired token");
}

#[actix_web::test]
async fn tokens_for_another_audience_or_from_another_issuer_get_401() {
    let auth = auth_api().await;
    auth.add_user("alice").await;
    let token = auth.token("alice").await;

    // The same auth-api and keys; only what this service expects differs.
    let other_app = notes_with(&auth.base, ISSUER, "another-frontend", auth.clock.clone()).await;
    let refused = other_app.list(&token).await;
    assert_eq!(assert_invalid_token(&refused), "bad signature, issuer or audience");
    let other_issuer =
        notes_with(&auth.base, "https://auth.elsewhere.test", AUDIENCE, auth.clock.clone()).await;
    assert_invalid_token(&other_issuer.list(&token).await);

    let right = notes(&auth).await;
    assert_eq!(right.list(&token).await.status, StatusCode::OK);
    // The session's own token (audience: the frontend, which the auth-api
    // honours) is not one the notes app takes.
    let session = auth.session_token("alice").await;
    let refused = right.list(&session).await;
    assert_eq!(assert_invalid_token(&refused), "bad signature, issuer or audience");
}

#[actix_web::test]
async fn forged_cloakroom_headers_are_ignored() {
    let auth = auth_api().await;
    let alice_id = auth.add_user("alice").await;
    auth.add_user("bob").await;
    let notes = notes(&auth).await;
    let alice = auth.token("alice").await;
    let bob = auth.token("bob").await;
    let note = notes.create(&alice, &json!({"text": "alice's"})).await;
    let id = note.body["id"].as_str().unwrap();
    let pretend_alice = |req: awc::ClientRequest| {
        req.insert_header(("X-Cloakroom-User", alice_id.as_str()))
            .insert_header(("X-Cloakroom-Username", "alice"))
            .insert_header(("X-Cloakroom-Roles", "user,admin"))
    };

    // Without a token, the headers alone are nobody.
    let anonymous = notes.send(pretend_alice(client().get(notes.url("/notes-api/notes")))).await;
    assert_invalid_token(&anonymous);
    // With Bob's token, Bob is the caller whatever the headers say.
    let as_bob = pretend_alice(client().get(notes.url("/notes-api/notes")).bearer_auth(&bob));
    assert_eq!(notes.send(as_bob).await.body, json!({"notes": []}));
    let delete = client().delete(notes.url(&format!("/notes-api/notes/{id}"))).bearer_auth(&bob);
    assert_eq!(notes.send(pretend_alice(delete)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(ids(&notes.list(&alice).await.body), [id]);
}

#[actix_web::test]
async fn bad_input_is_a_4xx_never_a_500() {
    let auth = auth_api().await;
    auth.add_user("alice").await;
    let notes = notes(&auth).await;
    let token = auth.token("alice").await;
    let url = notes.url("/notes-api/notes");

    for body in [
        json!({"text": ""}),
        json!({"text": " \n\t "}),
        json!({"text": "x".repeat(501)}),
        json!({}),
        json!({"text": 5}),
        json!({"text": null}),
    ] {
        let reply = notes.create(&token, &body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}: {}", reply.body);
        assert_eq!(reply.body["error"], "invalid_request");
        assert!(reply.body["error_description"].is_string());
    }
    let broken = notes.post_raw(Some(&token), "application/json", "{\"text\":".into()).await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST);
    let plain = notes.post_raw(Some(&token), "text/plain", "hello".into()).await;
    assert_eq!(plain.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(plain.body["error"], "unsupported_media_type");
    let huge = json!({"text": "x".repeat(20_000)}).to_string();
    let huge = notes.post_raw(Some(&token), "application/json", huge).await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(huge.body["error"], "payload_too_large");

    // Exactly 500 characters, multi-byte ones included, are fine.
    let longest = notes.create(&token, &json!({"text": "é".repeat(500)})).await;
    assert_eq!(longest.status, StatusCode::CREATED);

    for id in ["not-a-uuid", "%FF", "1"] {
        let reply = notes.delete(&token, id).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{id}");
        assert_eq!(reply.body["error"], "not_found");
    }
    let put = notes.send(client().put(&url).bearer_auth(&token)).await;
    assert_eq!(put.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(put.body["error"], "method_not_allowed");
    let elsewhere = notes.send(client().get(notes.url("/notes"))).await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
    assert_eq!(elsewhere.body["error"], "not_found");
    // A stranger learns nothing about the body's rules: the token comes first.
    let stranger = notes.post_raw(None, "text/plain", "x".into()).await;
    assert_invalid_token(&stranger);

    assert_eq!(notes.list(&token).await.body["notes"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn a_user_who_must_change_their_password_gets_403() {
    let auth = auth_api().await;
    let temporary = auth.add_user_with_temporary_password("carol").await;
    let notes = notes(&auth).await;
    let token = auth.token_with("carol", &temporary).await;
    assert_eq!(segment(&token, 1)["password_change_required"], true);

    let reply = notes.list(&token).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.body["error"], "forbidden");
}

#[actix_web::test]
async fn notes_may_start_before_the_auth_api_and_fetches_its_keys_with_the_first_token() {
    let port = free_port();
    let clock = auth_api::clock::ManualClock::starting_now();
    // Nothing listens there yet: notes starts anyway, without keys.
    let notes =
        notes_with(&format!("http://127.0.0.1:{port}"), ISSUER, AUDIENCE, clock.clone()).await;
    let auth = auth_api_on(&format!("127.0.0.1:{port}"), clock).await;
    auth.add_user("alice").await;
    let token = auth.token("alice").await;

    assert_eq!(notes.list(&token).await.status, StatusCode::OK);
    assert_eq!(notes.list(&token).await.status, StatusCode::OK);
    assert_eq!(auth.jwks_fetches().await, 1.0, "one fetch, then the keys are held");
}

#[actix_web::test]
async fn a_rotated_key_is_fetched_and_made_up_kids_do_not_flood_the_auth_api() {
    let auth = auth_api().await;
    auth.add_user("alice").await;
    let notes = notes(&auth).await;
    let old = auth.token("alice").await;
    assert_eq!(auth.jwks_fetches().await, 1.0, "fetched at start-up");

    auth.rotate_keys().await;
    let new = auth.token("alice").await;
    assert_ne!(segment(&new, 0)["kid"], segment(&old, 0)["kid"]);
    assert_eq!(notes.list(&new).await.status, StatusCode::OK, "the new key was fetched");
    assert_eq!(notes.list(&old).await.status, StatusCode::OK, "the old one is still served");
    assert_eq!(auth.jwks_fetches().await, 2.0);

    // Anyone can name a key that does not exist; within REFETCH_EVERY of
    // the last fetch, none of these makes another.
    for i in 0..10 {
        let mut header = segment(&new, 0);
        header["kid"] = json!(format!("made-up-{i}"));
        let token = reassembled(&new, &header, &segment(&new, 1));
        assert_eq!(assert_invalid_token(&notes.list(&token).await), "signed by an unknown key");
    }
    assert_eq!(auth.jwks_fetches().await, 2.0);
}
