//! Passkeys over HTTP, with a software authenticator that does what a
//! platform authenticator does (P-256 key, `none` attestation, user
//! verified, a signature counter): registration, signing in with a passkey
//! alone and as the second factor after a password, and the refusals —
//! another origin, another user's ceremony, a replayed answer, a counter
//! that goes back, a disabled user.

use std::collections::BTreeMap;

use awc::http::StatusCode;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use p256::ecdsa::{Signature, SigningKey, signature::Signer};
use serde_cbor_2::Value as Cbor;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{PASSWORD, Reply, TestApp, spawn_app};

const ORIGIN: &str = "https://app.example.com";
const PASSKEY_GRANT: &str = "urn:cloakroom:params:oauth:grant-type:passkey";
const MFA_PASSKEY_GRANT: &str = "urn:cloakroom:params:oauth:grant-type:mfa-passkey";

/// One authenticator holding one credential, once made.
struct Authenticator {
    key: SigningKey,
    credential_id: Vec<u8>,
    user_handle: Vec<u8>,
    counter: u32,
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).unwrap();
    bytes
}

fn client_data(kind: &str, challenge: &str, origin: &str) -> Vec<u8> {
    json!({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": false})
        .to_string()
        .into_bytes()
}

/// `authenticatorData`: the relying party's hash, flags (user present and
/// verified, plus `extra`), the counter, then `attested` if any.
fn authenticator_data(rp_id: &str, extra: u8, counter: u32, attested: &[u8]) -> Vec<u8> {
    let mut data = Sha256::digest(rp_id.as_bytes()).to_vec();
    data.push(0x01 | 0x04 | extra);
    data.extend_from_slice(&counter.to_be_bytes());
    data.extend_from_slice(attested);
    data
}

impl Authenticator {
    /// Answers registration `options` (`{"publicKey":…}`) as `origin`.
    fn register(options: &Value, origin: &str) -> (Self, Value) {
        let key = SigningKey::from_slice(&random::<32>()).unwrap();
        let credential_id = random::<16>().to_vec();
        let public = options["publicKey"].clone();
        let rp_id = public["rp"]["id"].as_str().unwrap();
        let user_handle = B64.decode(public["user"]["id"].as_str().unwrap()).unwrap();
        let point = key.verifying_key().to_sec1_point(false);
        let xy = &point.as_bytes()[1..];
        let cose = Cbor::Map(BTreeMap::from([
            (Cbor::Integer(1), Cbor::Integer(2)),
            (Cbor::Integer(3), Cbor::Integer(-7)),
            (Cbor::Integer(-1), Cbor::Integer(1)),
            (Cbor::Integer(-2), Cbor::Bytes(xy[..32].to_vec())),
            (Cbor::Integer(-3), Cbor::Bytes(xy[32..].to_vec())),
        ]));
        let mut attested = vec![0u8; 16]; // AAGUID
        attested.extend_from_slice(&(credential_id.len() as u16).to_be_bytes());
        attested.extend_from_slice(&credential_id);
        attested.extend_from_slice(&serde_cbor_2::to_vec(&cose).unwrap());
        let auth_data = authenticator_data(rp_id, 0x40, 0, &attested);
        let attestation = Cbor::Map(BTreeMap::from([
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), Cbor::Map(BTreeMap::new())),
            (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
        ]));
        let challenge = public["challenge"].as_str().unwrap();
        let id = B64.encode(&credential_id);
        let answer = json!({
            "id": id, "rawId": id, "type": "public-key",
            "response": {
                "clientDataJSON": B64.encode(client_data("webauthn.create", challenge, origin)),
                "attestationObject": B64.encode(serde_cbor_2::to_vec(&attestation).unwrap()),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        });
        (Self { key, credential_id, user_handle, counter: 0 }, answer)
    }

    /// Answers authentication `options` as `origin`, counting one use.
    fn assert(&mut self, options: &Value, origin: &str) -> Value {
        self.counter += 1;
        self.assert_with_counter(options, origin, self.counter)
    }

    fn assert_with_counter(&self, options: &Value, origin: &str, counter: u32) -> Value {
        let public = &options["publicKey"];
        let rp_id = public["rpId"].as_str().unwrap();
        let challenge = public["challenge"].as_str().unwrap();
        let auth_data = authenticator_data(rp_id, 0, counter, &[]);
        let client_data = client_data("webauthn.get", challenge, origin);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature: Signature = self.key.sign(&signed);
        let id = B64.encode(&self.credential_id);
        json!({
            "id": id, "rawId": id, "type": "public-key",
            "response": {
                "authenticatorData": B64.encode(auth_data),
                "clientDataJSON": B64.encode(client_data),
                "signature": B64.encode(signature.to_der().as_bytes()),
                "userHandle": B64.encode(&self.user_handle),
            },
            "clientExtensionResults": {},
        })
    }
}

fn options_of(reply: &Reply) -> Value {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    serde_json::from_str(reply.body["options"].as_str().unwrap()).unwrap()
}

fn amr(token: &str) -> Vec<String> {
    let payload = B64.decode(token.split('.').nth(1).unwrap()).unwrap();
    serde_json::from_slice::<shared::AccessClaims>(&payload).unwrap().amr
}

/// Registers a passkey named `name` for the session `token`.
async fn register(app: &TestApp, token: &str, name: &str) -> (Authenticator, Reply) {
    let start = app.post_bearer("/auth/passkeys/options", token, &json!({"origin": ORIGIN})).await;
    let options = options_of(&start);
    let selection = &options["publicKey"]["authenticatorSelection"];
    assert_eq!(selection["residentKey"], "required", "a discoverable credential");
    assert_eq!(selection["userVerification"], "required");
    let (authenticator, answer) = Authenticator::register(&options, ORIGIN);
    let body =
        json!({"ceremony": start.body["ceremony"], "name": name, "credential": answer.to_string()});
    (authenticator, app.post_bearer("/auth/passkeys", token, &body).await)
}

/// Signs in with the passkey alone.
async fn passkey_sign_in(app: &TestApp, authenticator: &mut Authenticator) -> Reply {
    let start = app.post_client("/auth/passkey/options", &json!({"origin": ORIGIN})).await;
    let options = options_of(&start);
    assert!(options.get("mediation").is_none(), "the ordinary prompt, not autofill");
    let answer = authenticator.assert(&options, ORIGIN);
    let body = json!({"grant_type": PASSKEY_GRANT, "ceremony": start.body["ceremony"],
                      "credential": answer.to_string(), "ip": "203.0.113.7"});
    app.post_client("/auth/token", &body).await
}

#[actix_web::test]
async fn a_registered_passkey_signs_in_alone_and_as_the_second_factor() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let tokens = app.login_ok("alice").await;
    let other = app.login_ok("alice").await;
    let (mut authenticator, registered) = register(&app, &tokens.access_token, "Laptop").await;
    assert_eq!(registered.status, StatusCode::CREATED, "{}", registered.body);
    assert_eq!(registered.body["recovery_codes"].as_array().unwrap().len(), 10, "first factor");
    assert_eq!(registered.body["passkey"]["name"], "Laptop");
    assert_eq!(app.refresh(&other.refresh_token).await.error(), "invalid_grant", "others ended");
    let refreshed = app.refresh(&tokens.refresh_token).await;
    assert_eq!(amr(refreshed.body["access_token"].as_str().unwrap()), ["pwd", "hwk"]);

    // Alone: `amr` ["hwk"], a second factor in itself.
    let alone = passkey_sign_in(&app, &mut authenticator).await;
    assert_eq!(alone.status, StatusCode::OK, "{}", alone.body);
    let token = alone.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(amr(&token), ["hwk"]);
    let status = app.get_bearer("/auth/mfa", &token).await.body;
    assert!(status["passkeys"][0]["last_used_at"].is_i64(), "{status}");

    // After the password: offered, and finishing the pending sign-in.
    let first = app.login("alice", PASSWORD).await;
    assert_eq!(first.body["factors"], json!(["passkey", "recovery_code"]));
    let mfa_token = first.body["mfa_token"].as_str().unwrap();
    let start = app
        .post_client("/auth/passkey/options", &json!({"origin": ORIGIN, "mfa_token": mfa_token}))
        .await;
    let options = options_of(&start);
    let allowed = options["publicKey"]["allowCredentials"].as_array().unwrap();
    assert_eq!(allowed.len(), 1, "this user's passkeys");
    let answer = authenticator.assert(&options, ORIGIN);
    let body = json!({"grant_type": MFA_PASSKEY_GRANT, "mfa_token": mfa_token,
                      "ceremony": start.body["ceremony"], "credential": answer.to_string()});
    let reply = app.post_client("/auth/token", &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(amr(reply.body["access_token"].as_str().unwrap()), ["pwd", "hwk"]);
    // The same answer again: its ceremony is used up.
    let again = app.post_client("/auth/token", &body).await;
    assert_eq!(again.error(), "expired_token");
}

#[actix_web::test]
async fn answers_for_another_origin_or_ceremony_or_with_a_counter_gone_back_are_refused() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let tokens = app.login_ok("alice").await;
    let (mut authenticator, registered) = register(&app, &tokens.access_token, "Key").await;
    assert_eq!(registered.status, StatusCode::CREATED);

    // A phishing site's origin.
    let start = app.post_client("/auth/passkey/options", &json!({"origin": ORIGIN})).await;
    let options = options_of(&start);
    let phished = authenticator.assert(&options, "https://app.example.com.evil.example");
    let body = json!({"grant_type": PASSKEY_GRANT, "ceremony": start.body["ceremony"],
                      "credential": phished.to_string()});
    assert_eq!(app.post_client("/auth/token", &body).await.error(), "invalid_grant");
    // A ceremony answers once, even refused.
    let honest = authenticator.assert(&options, ORIGIN);
    let body = json!({"grant_type": PASSKEY_GRANT, "ceremony": start.body["ceremony"],
                      "credential": honest.to_string()});
    assert_eq!(app.post_client("/auth/token", &body).await.error(), "expired_token");

    // A counter that went back: a cloned authenticator.
    assert_eq!(passkey_sign_in(&app, &mut authenticator).await.status, StatusCode::OK);
    let start = app.post_client("/auth/passkey/options", &json!({"origin": ORIGIN})).await;
    let cloned = authenticator.assert_with_counter(&options_of(&start), ORIGIN, 1);
    let body = json!({"grant_type": PASSKEY_GRANT, "ceremony": start.body["ceremony"],
                      "credential": cloned.to_string()});
    assert_eq!(app.post_client("/auth/token", &body).await.error(), "invalid_grant");

    // Browsers refuse WebAuthn on an IP address; so does the auth-api.
    let ip =
        app.post_client("/auth/passkey/options", &json!({"origin": "http://127.0.0.1:3000"})).await;
    assert_eq!((ip.status, ip.error()), (StatusCode::BAD_REQUEST, "invalid_request"));
    assert!(ip.body["error_description"].as_str().unwrap().contains("domain name"));
}

#[actix_web::test]
async fn one_users_registration_or_passkey_is_no_use_to_another() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    app.add_user("bob", &[]).await;
    let alice = app.login_ok("alice").await.access_token;
    let bob = app.login_ok("bob").await.access_token;
    // Bob cannot finish a registration Alice began.
    let start = app.post_bearer("/auth/passkeys/options", &alice, &json!({"origin": ORIGIN})).await;
    let (_, answer) = Authenticator::register(&options_of(&start), ORIGIN);
    let body =
        json!({"ceremony": start.body["ceremony"], "name": "x", "credential": answer.to_string()});
    let stolen = app.post_bearer("/auth/passkeys", &bob, &body).await;
    assert_eq!(stolen.status, StatusCode::BAD_REQUEST, "{}", stolen.body);

    // Bob's passkey does not finish Alice's pending sign-in.
    let (mut bobs, registered) = register(&app, &bob, "Bob's").await;
    assert_eq!(registered.status, StatusCode::CREATED);
    let (_, registered) = register(&app, &alice, "Alice's").await;
    assert_eq!(registered.status, StatusCode::CREATED);
    let pending = app.login("alice", PASSWORD).await.body["mfa_token"].clone();
    let start = app
        .post_client("/auth/passkey/options", &json!({"origin": ORIGIN, "mfa_token": pending}))
        .await;
    let answer = bobs.assert(&options_of(&start), ORIGIN);
    let body = json!({"grant_type": MFA_PASSKEY_GRANT, "mfa_token": pending,
                      "ceremony": start.body["ceremony"], "credential": answer.to_string()});
    assert_eq!(app.post_client("/auth/token", &body).await.error(), "invalid_grant");
}

#[actix_web::test]
async fn a_removed_or_disabled_users_passkey_opens_nothing() {
    let app = spawn_app().await;
    app.add_user("root", &[shared::Role::Admin]).await;
    let alice_id = app.add_user("alice", &[]).await;
    let alice = app.login_ok("alice").await.access_token;
    let (mut removed, registered) = register(&app, &alice, "Old key").await;
    let id = registered.body["passkey"]["id"].as_str().unwrap().to_owned();
    let (mut kept, registered) = register(&app, &alice, "New key").await;
    assert_eq!(registered.status, StatusCode::CREATED);
    assert_eq!(registered.body["recovery_codes"], json!([]), "not the first factor");
    assert_eq!(
        app.delete_bearer(&format!("/auth/passkeys/{id}"), &alice).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(passkey_sign_in(&app, &mut removed).await.error(), "invalid_grant");
    assert_eq!(passkey_sign_in(&app, &mut kept).await.status, StatusCode::OK);

    let root = app.login_ok("root").await.access_token;
    let body = json!({"disabled": true});
    let disabled = app.patch_bearer(&format!("/admin/users/{alice_id}"), &root, &body).await;
    assert_eq!(disabled.status, StatusCode::NO_CONTENT);
    assert_eq!(passkey_sign_in(&app, &mut kept).await.error(), "invalid_grant");
}

#[actix_web::test]
async fn one_network_may_begin_only_so_many_passkey_sign_ins() {
    let app = spawn_app().await;
    let limit = auth_api::throttle::CEREMONIES_PER_NETWORK;
    let begin = |ip: &'static str| {
        let app = &app;
        async move {
            let body = json!({"origin": ORIGIN, "ip": ip});
            app.post_client("/auth/passkey/options", &body).await.status
        }
    };
    for _ in 0..limit {
        assert_eq!(begin("198.51.100.7").await, StatusCode::OK);
    }
    assert_eq!(begin("198.51.100.7").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(begin("203.0.113.9").await, StatusCode::OK, "other networks are not affected");
}

#[actix_web::test]
async fn a_ceremony_serves_the_pending_sign_in_it_was_begun_for_and_only_configured_sites() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let tokens = app.login_ok("alice").await;
    let (mut authenticator, registered) = register(&app, &tokens.access_token, "Key").await;
    assert_eq!(registered.status, StatusCode::CREATED);
    let first = app.login("alice", PASSWORD).await.body["mfa_token"].clone();
    let second = app.login("alice", PASSWORD).await.body["mfa_token"].clone();
    let start = app
        .post_client("/auth/passkey/options", &json!({"origin": ORIGIN, "mfa_token": first}))
        .await;
    let answer = authenticator.assert(&options_of(&start), ORIGIN);
    let body = json!({"grant_type": MFA_PASSKEY_GRANT, "mfa_token": second,
                      "ceremony": start.body["ceremony"], "credential": answer.to_string()});
    let crossed = app.post_client("/auth/token", &body).await;
    assert_eq!(crossed.error(), "invalid_grant", "begun for the first, not the second");

    // A site the auth-api was not told of (PUBLIC_ORIGIN) gets no ceremony.
    let elsewhere = json!({"origin": "https://other.example.com"});
    let refused = app.post_client("/auth/passkey/options", &elsewhere).await;
    assert_eq!((refused.status, refused.error()), (StatusCode::BAD_REQUEST, "invalid_request"));
    assert!(refused.body["error_description"].as_str().unwrap().contains("PUBLIC_ORIGIN"));
    let refused = app.post_bearer("/auth/passkeys/options", &tokens.access_token, &elsewhere).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
}
