//! Second factors over HTTP: enrolment, signing in in two steps, recovery
//! codes, throttling of wrong codes, the policy for administrators, and an
//! administrator's reset. The tests play the user's authenticator app with
//! the service's own RFC 6238 code (itself checked against the RFC's
//! vectors in its unit tests) and the test clock.

use auth_api::{
    clock::Clock as _,
    mfa::totp,
    store::{FirstRefresh, NewEvent, NewSession},
    tokens::refresh::RefreshToken,
};
use awc::http::StatusCode;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use shared::{AccessClaims, Role};

use crate::helpers::{PASSWORD, Reply, TestApp, client, read, spawn_app, spawn_app_with};

const OTP_GRANT: &str = "urn:cloakroom:params:oauth:grant-type:mfa-otp";
const RECOVERY_GRANT: &str = "urn:cloakroom:params:oauth:grant-type:mfa-recovery-code";

pub(crate) struct Enrolled {
    pub secret: Vec<u8>,
    pub recovery_codes: Vec<String>,
    /// The tokens of the session that enrolled.
    access_token: String,
    refresh_token: String,
}

fn claims(token: &str) -> AccessClaims {
    let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap();
    serde_json::from_slice(&payload).unwrap()
}

/// The code the user's app shows now (`skew` steps away).
pub(crate) fn code(app: &TestApp, secret: &[u8], skew: i64) -> String {
    totp::code_at(secret, app.clock.now() / totp::STEP_SECONDS + skew)
}

/// A code of `secret` that is wrong now and in both neighbouring steps.
fn wrong_code(app: &TestApp, secret: &[u8]) -> String {
    let right: Vec<String> = (-1..=1).map(|s| code(app, secret, s)).collect();
    (0..1_000_000).map(|n| format!("{n:06}")).find(|c| !right.contains(c)).unwrap()
}

/// Signs `username` in with a password, sets up an app and confirms it.
pub(crate) async fn enrol(app: &TestApp, username: &str) -> Enrolled {
    let tokens = app.login_ok(username).await;
    let setup = app.post_bearer("/auth/mfa/totp", &tokens.access_token, &json!({})).await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
    let secret = totp::decode_base32(setup.body["secret"].as_str().unwrap()).unwrap();
    let body = json!({"code": code(app, &secret, 0)});
    let confirmed = app.post_bearer("/auth/mfa/totp/confirm", &tokens.access_token, &body).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    let recovery_codes = confirmed.body["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    Enrolled {
        secret,
        recovery_codes,
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
    }
}

/// The `mfa_token` of a password sign-in that must continue with a factor.
pub(crate) async fn pending(app: &TestApp, username: &str) -> String {
    let reply = app.login(username, PASSWORD).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    assert_eq!(reply.error(), "mfa_required");
    assert!(reply.body.get("access_token").is_none() && reply.body.get("refresh_token").is_none());
    assert_eq!(reply.body["factors"], json!(["otp", "recovery_code"]));
    assert_eq!(reply.body["expires_in"], 300);
    reply.body["mfa_token"].as_str().unwrap().to_owned()
}

pub(crate) async fn second_step(app: &TestApp, mfa_token: &str, otp: &str) -> Reply {
    let body = json!({"grant_type": OTP_GRANT, "mfa_token": mfa_token, "otp": otp});
    app.post_client("/auth/token", &body).await
}

pub(crate) async fn with_recovery_code(app: &TestApp, mfa_token: &str, code: &str) -> Reply {
    let body = json!({"grant_type": RECOVERY_GRANT, "mfa_token": mfa_token, "recovery_code": code});
    app.post_client("/auth/token", &body).await
}

async fn status(app: &TestApp, token: &str) -> Value {
    let reply = app.get_bearer("/auth/mfa", token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

async fn delete_with(app: &TestApp, path: &str, token: &str, body: &Value) -> Reply {
    read(client().delete(app.url(path)).bearer_auth(token).send_json(body).await.unwrap()).await
}

#[actix_web::test]
async fn an_app_is_switched_on_only_by_a_current_code_and_its_key_is_not_shown_again() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let token = app.login_ok("alice").await.access_token;
    assert_eq!(status(&app, &token).await["totp_enabled_at"], Value::Null);

    let setup = app.post_bearer("/auth/mfa/totp", &token, &json!({})).await;
    assert_eq!(setup.headers.get("cache-control").unwrap(), "no-store");
    let text = setup.body["secret"].as_str().unwrap();
    assert_eq!(text.len(), 32, "160 bits of base32, no padding: {text}");
    let uri = setup.body["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Cloakroom%3Aalice?secret="), "{uri}");
    assert!(uri.contains("issuer=Cloakroom"), "{uri}");
    let secret = totp::decode_base32(text).unwrap();
    // Asked again before confirming (a reload): the same key, not a new one.
    let again = app.post_bearer("/auth/mfa/totp", &token, &json!({})).await;
    assert_eq!(again.body["secret"], text);

    let wrong = app
        .post_bearer("/auth/mfa/totp/confirm", &token, &json!({"code": wrong_code(&app, &secret)}))
        .await;
    assert_eq!((wrong.status, wrong.error()), (StatusCode::FORBIDDEN, "invalid_grant"));
    assert_eq!(status(&app, &token).await["totp_enabled_at"], Value::Null, "still off");

    let body = json!({"code": code(&app, &secret, 0)});
    let confirmed = app.post_bearer("/auth/mfa/totp/confirm", &token, &body).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    assert_eq!(confirmed.body["codes"].as_array().unwrap().len(), 10);
    let now = status(&app, &token).await;
    assert_eq!(now["totp_enabled_at"], app.clock.now());
    assert_eq!(now["recovery_codes_left"], 10);

    // Switched on: the key is never handed out again.
    let after = app.post_bearer("/auth/mfa/totp", &token, &json!({})).await;
    assert_eq!(after.status, StatusCode::CONFLICT);
    assert!(!after.body.to_string().contains(text));
}

#[actix_web::test]
async fn the_key_is_stored_sealed_and_bound_to_its_user() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]).await;
    let enrolled = enrol(&app, "alice").await;
    let stored = app.state.store.totp_of(&alice).await.unwrap().unwrap();
    let text = totp::base32(&enrolled.secret);
    assert!(!stored.secret_sealed.windows(20).any(|w| w == enrolled.secret.as_slice()));
    assert!(!String::from_utf8_lossy(&stored.secret_sealed).contains(&text));
    let keys = &app.settings.mfa.keys;
    assert_eq!(keys.open(&alice, &stored.secret_sealed).ok(), Some(enrolled.secret));
    assert!(keys.open("someone-else", &stored.secret_sealed).is_err());
}

#[actix_web::test]
async fn a_password_alone_no_longer_signs_in_and_each_code_works_once() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let enrolled = enrol(&app, "alice").await;
    assert_eq!(claims(&enrolled.access_token).amr, vec!["pwd"]);

    let mfa_token = pending(&app, "alice").await;
    // The code that confirmed the app is used up.
    let replay = second_step(&app, &mfa_token, &code(&app, &enrolled.secret, 0)).await;
    assert_eq!((replay.status, replay.error()), (StatusCode::BAD_REQUEST, "invalid_grant"));

    app.clock.advance(totp::STEP_SECONDS);
    let current = code(&app, &enrolled.secret, 0);
    let reply = second_step(&app, &mfa_token, &current).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let signed_in = claims(reply.body["access_token"].as_str().unwrap());
    assert_eq!(signed_in.amr, vec!["pwd", "otp"]);
    assert!(!signed_in.mfa_setup_required);
    // The pending sign-in is used up too.
    let used = second_step(&app, &mfa_token, &current).await;
    assert_eq!(used.error(), "expired_token");

    // A second sign-in within the same 30 seconds cannot reuse the code.
    let next = pending(&app, "alice").await;
    let reused = second_step(&app, &next, &current).await;
    assert_eq!((reused.status, reused.error()), (StatusCode::BAD_REQUEST, "invalid_grant"));
    // One step of drift is forgiven: the app's next code works.
    let network = app.state.store.failure_count("net:203.0.113.7").await.unwrap().failures;
    let reply = second_step(&app, &next, &code(&app, &enrolled.secret, 1)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let after = app.state.store.failure_count("net:203.0.113.7").await.unwrap().failures;
    assert_eq!(after, network, "a right code spends none of the network's budget");
    // And a refresh keeps what the session proved.
    let refreshed = app.refresh(reply.body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(claims(refreshed.body["access_token"].as_str().unwrap()).amr, vec!["pwd", "otp"]);
}

#[actix_web::test]
async fn a_recovery_code_works_once_and_the_count_goes_down() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]).await;
    let enrolled = enrol(&app, "alice").await;
    let first = &enrolled.recovery_codes[0];
    assert_eq!(first.len(), 11, "xxxxx-xxxxx: {first}");

    let mfa_token = pending(&app, "alice").await;
    // Typed loosely: upper case, no dash.
    let typed = first.replace('-', "").to_uppercase();
    let reply = with_recovery_code(&app, &mfa_token, &typed).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let token = reply.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&token).amr, vec!["pwd", "otp"]);
    assert_eq!(status(&app, &token).await["recovery_codes_left"], 9);

    let again = pending(&app, "alice").await;
    let reused = with_recovery_code(&app, &again, first).await;
    assert_eq!((reused.status, reused.error()), (StatusCode::BAD_REQUEST, "invalid_grant"));
    let other = with_recovery_code(&app, &again, &enrolled.recovery_codes[1]).await;
    assert_eq!(other.status, StatusCode::OK);

    let events = app.get_bearer("/auth/events", &token).await.body["events"].clone();
    let kinds: Vec<&str> =
        events.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"recovery_code_used"), "{kinds:?}");
    assert!(kinds.contains(&"second_factor_failed"), "{kinds:?}");
    let used = events.as_array().unwrap().iter().find(|e| e["kind"] == "recovery_code_used");
    assert_eq!(used.unwrap()["detail"], "8 left");
    let log = events.to_string();
    for code in &enrolled.recovery_codes {
        assert!(!log.contains(code.as_str()), "no recovery code in the log");
    }
    assert!(app.state.store.recovery_codes_left(&alice).await.unwrap() == 8);
}

#[actix_web::test]
async fn five_wrong_codes_discard_the_pending_sign_in() {
    let app = spawn_app_with(|s| s.throttle.max_failures_per_user = 100).await;
    app.add_user("alice", &[]).await;
    let enrolled = enrol(&app, "alice").await;
    app.clock.advance(totp::STEP_SECONDS * 2);
    let mfa_token = pending(&app, "alice").await;
    let wrong = wrong_code(&app, &enrolled.secret);
    for attempt in 1..=4 {
        let reply = second_step(&app, &mfa_token, &wrong).await;
        assert_eq!((reply.status, reply.error()), (StatusCode::BAD_REQUEST, "invalid_grant"));
        assert!(reply.body.get("access_token").is_none(), "attempt {attempt}");
    }
    let fifth = second_step(&app, &mfa_token, &wrong).await;
    assert_eq!((fifth.status, fifth.error()), (StatusCode::BAD_REQUEST, "expired_token"));
    let right = second_step(&app, &mfa_token, &code(&app, &enrolled.secret, 0)).await;
    assert_eq!(right.error(), "expired_token", "discarded: even the right code is too late");
    // The password again, and the right code: in.
    let fresh = pending(&app, "alice").await;
    assert_eq!(second_step(&app, &fresh, &code(&app, &enrolled.secret, 0)).await.status, 200);
}

#[actix_web::test]
async fn wrong_codes_count_against_the_users_budget_across_pending_sign_ins() {
    // Five failures per user and window, as for passwords.
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let enrolled = enrol(&app, "alice").await;
    app.clock.advance(totp::STEP_SECONDS * 2);
    let wrong = wrong_code(&app, &enrolled.secret);
    let first = pending(&app, "alice").await;
    for _ in 0..3 {
        assert_eq!(second_step(&app, &first, &wrong).await.error(), "invalid_grant");
    }
    let second = pending(&app, "alice").await;
    for _ in 0..2 {
        assert_eq!(second_step(&app, &second, &wrong).await.error(), "invalid_grant");
    }
    // Five wrong codes in all: a new pending sign-in gains the attacker nothing.
    let throttled = second_step(&app, &second, &code(&app, &enrolled.secret, 0)).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS, "{}", throttled.body);
    assert!(throttled.headers.get("retry-after").is_some());
}

#[actix_web::test]
async fn a_pending_sign_in_lasts_five_minutes_and_dies_with_a_password_change() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let enrolled = enrol(&app, "alice").await;
    let late = pending(&app, "alice").await;
    app.clock.advance(301);
    let reply = second_step(&app, &late, &code(&app, &enrolled.secret, 0)).await;
    assert_eq!(reply.error(), "expired_token");

    let mfa_token = pending(&app, "alice").await;
    // Meanwhile, the password changes (on the session that enrolled, re-signed in).
    let session =
        with_recovery_code(&app, &pending(&app, "alice").await, &enrolled.recovery_codes[0])
            .await
            .body["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
    let changed = app.change_password(&session, PASSWORD, "a whole new passphrase for alice").await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
    app.clock.advance(totp::STEP_SECONDS);
    let reply = second_step(&app, &mfa_token, &code(&app, &enrolled.secret, 0)).await;
    assert_eq!((reply.status, reply.error()), (StatusCode::BAD_REQUEST, "expired_token"));
    // Nothing was spent on it: the same code still signs in after the new password.
    let body = json!({"grant_type": "password", "username": "alice",
                      "password": "a whole new passphrase for alice", "ip": "203.0.113.7"});
    let fresh = app.post_client("/auth/token", &body).await.body["mfa_token"].clone();
    let reply = second_step(&app, fresh.as_str().unwrap(), &code(&app, &enrolled.secret, 0)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[actix_web::test]
async fn unknown_and_malformed_second_steps_are_clean_errors() {
    let app = spawn_app().await;
    let reply = second_step(&app, "no-such-token", "123456").await;
    assert_eq!((reply.status, reply.error()), (StatusCode::BAD_REQUEST, "expired_token"));
    let missing = app.post_client("/auth/token", &json!({"grant_type": OTP_GRANT})).await;
    assert_eq!((missing.status, missing.error()), (StatusCode::BAD_REQUEST, "invalid_request"));
}

#[actix_web::test]
async fn switching_off_needs_recent_authentication_and_a_current_code() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]).await;
    let enrolled = enrol(&app, "alice").await;
    app.clock.advance(app.settings.reauth_max_age + 1);
    // The session lives on; its access token is refreshed, not its auth_time.
    let refreshed = app.refresh(&enrolled.refresh_token).await;
    let token = refreshed.body["access_token"].as_str().unwrap();
    let wrong = json!({"code": wrong_code(&app, &enrolled.secret)});
    let stale = delete_with(&app, "/auth/mfa/totp", token, &wrong).await;
    assert_eq!((stale.status, stale.error()), (StatusCode::FORBIDDEN, "reauth_required"));
    let reauth = app.post_bearer("/auth/reauth", token, &json!({"password": PASSWORD})).await;
    assert_eq!(reauth.status, StatusCode::NO_CONTENT);
    let refused = delete_with(&app, "/auth/mfa/totp", token, &wrong).await;
    assert_eq!((refused.status, refused.error()), (StatusCode::FORBIDDEN, "invalid_grant"));
    let right = json!({"code": code(&app, &enrolled.secret, 0)});
    let elsewhere = session_with(&app, &alice, &["pwd", "otp"]).await;
    let off = delete_with(&app, "/auth/mfa/totp", token, &right).await;
    assert_eq!(off.status, StatusCode::NO_CONTENT, "{}", off.body);
    assert_eq!(app.get_bearer("/auth/mfa", &elsewhere).await.status, 401, "sessions elsewhere end");
    let now = status(&app, token).await;
    assert_eq!(
        (now["totp_enabled_at"].clone(), now["recovery_codes_left"].clone()),
        (Value::Null, json!(0))
    );
    assert!(!app.state.store.has_second_factor(&alice).await.unwrap());
    // A password alone signs in again.
    assert_eq!(app.login("alice", PASSWORD).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn new_recovery_codes_replace_the_old_set() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let enrolled = enrol(&app, "alice").await;
    let reply =
        app.post_bearer("/auth/mfa/recovery-codes", &enrolled.access_token, &json!({})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.headers.get("cache-control").unwrap(), "no-store");
    let fresh: Vec<String> = serde_json::from_value(reply.body["codes"].clone()).unwrap();
    assert_eq!(fresh.len(), 10);
    let old =
        with_recovery_code(&app, &pending(&app, "alice").await, &enrolled.recovery_codes[0]).await;
    assert_eq!(old.error(), "invalid_grant", "the old set died");
    let new = with_recovery_code(&app, &pending(&app, "alice").await, &fresh[0]).await;
    assert_eq!(new.status, StatusCode::OK);

    // Without a factor there is nothing for codes to stand in for.
    app.add_user("bob", &[]).await;
    let bob = app.login_ok("bob").await.access_token;
    let none = app.post_bearer("/auth/mfa/recovery-codes", &bob, &json!({})).await;
    assert_eq!(none.status, StatusCode::CONFLICT);
}

#[actix_web::test]
async fn administrators_must_prove_a_second_factor_when_the_policy_says_so() {
    let app = spawn_app_with(|s| s.mfa.required_roles = vec![Role::Admin]).await;
    app.add_user("root", &[Role::Admin]).await;
    app.add_user("alice", &[]).await;
    let root = app.login_ok("root").await;
    let claims_before = claims(&root.access_token);
    assert!(claims_before.mfa_setup_required, "told to set one up");
    assert!(!claims(&app.login_ok("alice").await.access_token).mfa_setup_required, "users are not");
    let refused = app.get_bearer("/admin/users", &root.access_token).await;
    assert_eq!(
        (refused.status, refused.error()),
        (StatusCode::FORBIDDEN, "insufficient_user_authentication")
    );
    assert_eq!(status(&app, &root.access_token).await["required"], true);
    // Nor may it end another user's session as an administrator.
    let alices = app.login_ok("alice").await.session_id;
    let end = app.delete_bearer(&format!("/auth/sessions/{alices}"), &root.access_token).await;
    assert_eq!(end.error(), "insufficient_user_authentication");

    // Setting one up in this session counts as proving it here.
    let setup = app.post_bearer("/auth/mfa/totp", &root.access_token, &json!({})).await;
    let secret = totp::decode_base32(setup.body["secret"].as_str().unwrap()).unwrap();
    let body = json!({"code": code(&app, &secret, 0)});
    let confirmed = app.post_bearer("/auth/mfa/totp/confirm", &root.access_token, &body).await;
    assert_eq!(confirmed.status, StatusCode::OK);
    assert_eq!(app.get_bearer("/admin/users", &root.access_token).await.status, StatusCode::OK);
    let refreshed = app.refresh(&root.refresh_token).await;
    let after = claims(refreshed.body["access_token"].as_str().unwrap());
    assert_eq!((after.amr, after.mfa_setup_required), (vec!["pwd".into(), "otp".into()], false));
}

#[actix_web::test]
async fn an_administrator_resets_a_users_factors_and_ends_their_sessions() {
    let app = spawn_app().await;
    app.add_user("root", &[Role::Admin]).await;
    let alice = app.add_user("alice", &[]).await;
    let enrolled = enrol(&app, "alice").await;
    let root = app.login_ok("root").await.refresh_token;
    let path = format!("/admin/users/{alice}/second-factors");

    app.clock.advance(app.settings.reauth_max_age + 1);
    let refreshed = app.refresh(&root).await;
    let root = refreshed.body["access_token"].as_str().unwrap().to_owned();
    let refreshed = app.refresh(&enrolled.refresh_token).await;
    let user_token = refreshed.body["access_token"].as_str().unwrap().to_owned();
    let stale = app.delete_bearer(&path, &root).await;
    assert_eq!(stale.error(), "reauth_required");
    app.post_bearer("/auth/reauth", &root, &json!({"password": PASSWORD})).await;
    let by_user = app.delete_bearer(&path, &user_token).await;
    assert_eq!(by_user.status, StatusCode::FORBIDDEN, "not for users");

    let reset = app.delete_bearer(&path, &root).await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
    assert_eq!(reset.body["ended"], 1);
    assert_eq!(app.get_bearer("/auth/mfa", &user_token).await.status, 401);
    let signed_in = app.login("alice", PASSWORD).await;
    assert_eq!(signed_in.status, StatusCode::OK, "a password alone again: {}", signed_in.body);
    let audit = app.get_bearer("/admin/audit?type=second_factors_reset", &root).await;
    assert_eq!(audit.body["events"][0]["username"], "alice");
    assert_eq!(audit.body["events"][0]["actor_name"], "root");
}

#[actix_web::test]
async fn an_operator_resets_the_second_factors_of_a_locked_out_administrator() {
    let app = spawn_app_with(|s| s.mfa.required_roles = vec![Role::Admin]).await;
    app.add_user("root", &[Role::Admin]).await;
    let enrolled = enrol(&app, "root").await;
    let db = app.db_url.as_str();
    let args = ["user", "reset-second-factors", "root", "--database-url", db];
    let (ok, out, err) = crate::cli::auth_api(&args, "");
    assert!(ok, "{err}");
    assert!(out.contains("second factors of root removed; 1 session(s) ended"), "{out}");
    assert_eq!(app.refresh(&enrolled.refresh_token).await.error(), "invalid_grant");
    // A password again, held to setting up a new factor.
    let token = app.login_ok("root").await.access_token;
    assert!(claims(&token).mfa_setup_required);
    let (ok, _, err) =
        crate::cli::auth_api(&["user", "reset-second-factors", "nobody", "--database-url", db], "");
    assert!(!ok && err.contains("no user nobody"), "{err}");
}

/// An access token for a new session of `user_id` that proved `amr` only
/// (as one opened before a factor existed would have).
async fn session_with(app: &TestApp, user_id: &str, amr: &[&str]) -> String {
    let now = app.clock.now();
    let new = NewSession {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user_id.to_owned(),
        now,
        expires_at: now + 3600,
        remember: false,
        user_agent: None,
        ip: None,
        amr: amr.iter().map(|m| (*m).to_owned()).collect(),
        live_limit: 50,
        revoked_until: now + 300,
        live: auth_api::store::Liveness {
            now,
            idle_cutoff: now - 600,
            remember_idle_cutoff: now - 600,
        },
    };
    let user = app.state.store.find_user_by_id(user_id).await.unwrap().unwrap();
    let (refresh_token, hash, family) =
        RefreshToken::first(uuid::Uuid::parse_str(&new.id).unwrap());
    let event = NewEvent { at: now, kind: "sign_in", ..NewEvent::default() };
    let first = FirstRefresh { hash: &hash, family: &family };
    app.state.store.create_session(&new, first, &user.password_hash, &event).await.unwrap();
    let reply = app.refresh(refresh_token.expose()).await;
    reply.body["access_token"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn a_session_that_proved_only_a_password_cannot_touch_existing_factors() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]).await;
    // Signed in with the stolen password before the app existed: ended by it.
    let stolen = app.login_ok("alice").await.access_token;
    let enrolled = enrol(&app, "alice").await;
    assert_eq!(app.get_bearer("/auth/mfa", &stolen).await.status, 401);

    let password_only = session_with(&app, &alice, &["pwd"]).await;
    let refused = |reply: Reply| {
        assert_eq!(
            (reply.status, reply.error()),
            (StatusCode::FORBIDDEN, "insufficient_user_authentication"),
            "{}",
            reply.body
        )
    };
    refused(app.post_bearer("/auth/mfa/recovery-codes", &password_only, &json!({})).await);
    refused(app.post_bearer("/auth/mfa/totp", &password_only, &json!({})).await);
    let body = json!({"code": code(&app, &enrolled.secret, 1)});
    refused(delete_with(&app, "/auth/mfa/totp", &password_only, &body).await);
    let origin = json!({"origin": "https://app.example"});
    refused(app.post_bearer("/auth/passkeys/options", &password_only, &origin).await);
    // It may still read what there is.
    assert_eq!(app.get_bearer("/auth/mfa", &password_only).await.status, StatusCode::OK);
    // A session that proved the app may.
    let proven = session_with(&app, &alice, &["pwd", "otp"]).await;
    let codes = app.post_bearer("/auth/mfa/recovery-codes", &proven, &json!({})).await;
    assert_eq!(codes.status, StatusCode::OK, "{}", codes.body);
}

#[actix_web::test]
async fn the_first_factor_ends_the_users_other_sessions() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let laptop = app.login_ok("alice").await;
    let enrolled = enrol(&app, "alice").await;
    assert_eq!(app.refresh(&laptop.refresh_token).await.error(), "invalid_grant");
    let refreshed = app.refresh(&enrolled.refresh_token).await;
    assert_eq!(refreshed.status, StatusCode::OK, "the enrolling session goes on");
    let events =
        app.get_bearer("/auth/events", &enrolled.access_token).await.body["events"].clone();
    let enabled = events.as_array().unwrap().iter().find(|e| e["kind"] == "totp_enabled");
    assert_eq!(enabled.unwrap()["detail"], "1 other session(s) ended", "{events}");
}

#[actix_web::test]
async fn a_key_being_set_up_belongs_to_the_session_that_asked() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let mine = app.login_ok("alice").await.access_token;
    let theirs = app.login_ok("alice").await.access_token;
    let setup = app.post_bearer("/auth/mfa/totp", &mine, &json!({})).await;
    let secret = totp::decode_base32(setup.body["secret"].as_str().unwrap()).unwrap();
    // Another session asking gets a new key, not this one; and cannot confirm this one.
    let other = app.post_bearer("/auth/mfa/totp", &theirs, &json!({})).await;
    assert_ne!(other.body["secret"], setup.body["secret"]);
    let body = json!({"code": code(&app, &secret, 0)});
    let refused = app.post_bearer("/auth/mfa/totp/confirm", &theirs, &body).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let stale = app.post_bearer("/auth/mfa/totp/confirm", &mine, &body).await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "replaced by the other session's setup");
}

#[actix_web::test]
async fn removing_the_app_needs_its_second_factor_and_wrong_codes_are_throttled() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let enrolled = enrol(&app, "alice").await;
    let mfa_token = pending(&app, "alice").await;
    let reply = second_step(&app, &mfa_token, &code(&app, &enrolled.secret, 1)).await;
    let token = reply.body["access_token"].as_str().unwrap().to_owned();
    let wrong = json!({"code": wrong_code(&app, &enrolled.secret)});
    // The session's own budget, then the username's (as for a password
    // re-entered in a session), then 429.
    let budget =
        app.settings.throttle.max_failures_per_device + app.settings.throttle.max_failures_per_user;
    let mut refused = 0;
    let throttled = loop {
        let reply = delete_with(&app, "/auth/mfa/totp", &token, &wrong).await;
        if reply.status != StatusCode::FORBIDDEN {
            break reply;
        }
        assert_eq!(reply.error(), "invalid_grant");
        refused += 1;
        assert!(refused <= budget, "still not throttled after {refused} wrong codes");
    };
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS, "{}", throttled.body);
    assert_eq!(refused, budget);
    let events = app.get_bearer("/auth/events?limit=200", &token).await.body["events"].clone();
    let failed = events.as_array().unwrap().iter().filter(|e| e["kind"] == "second_factor_failed");
    assert_eq!(failed.count(), refused as usize, "each wrong code is in the log");
}

#[actix_web::test]
async fn guesses_sent_all_at_once_still_meet_the_users_budget() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let enrolled = enrol(&app, "alice").await;
    app.clock.advance(totp::STEP_SECONDS * 2);
    let wrong = wrong_code(&app, &enrolled.secret);
    let mut tokens = Vec::new();
    for _ in 0..3 {
        tokens.push(pending(&app, "alice").await);
    }
    let guesses = tokens.iter().flat_map(|t| std::iter::repeat_n(t.clone(), 5)).map(|t| {
        let (app, wrong) = (&app, wrong.clone());
        async move { second_step(app, &t, &wrong).await.status }
    });
    let statuses = futures::future::join_all(guesses).await;
    let judged = statuses.iter().filter(|s| **s == StatusCode::BAD_REQUEST).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((judged, refused), (5, 10), "five checked, at most: {statuses:?}");
}

#[actix_web::test]
async fn a_user_has_at_most_three_pending_sign_ins() {
    let app = spawn_app_with(|s| s.throttle.max_failures_per_user = 100).await;
    app.add_user("alice", &[]).await;
    let enrolled = enrol(&app, "alice").await;
    let first = pending(&app, "alice").await;
    for _ in 0..3 {
        app.clock.advance(1);
        pending(&app, "alice").await;
    }
    let reply = second_step(&app, &first, &code(&app, &enrolled.secret, 1)).await;
    assert_eq!(reply.error(), "expired_token", "the oldest went");
}
