//! Rotating `MFA_ENCRYPTION_KEY` with no outage: the new key first and the
//! old one after it, every second factor keeps working; `auth-api mfa rekey`
//! moves every authenticator app to the new key; `auth-api mfa status` says
//! beforehand which recovery codes still need the old key; once it is
//! dropped the apps work and only those codes fail. Values from before key
//! ids keep working, and a key that is no longer listed is a defined error.

use std::process::Output;

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use auth_api::mfa::key::{MfaKey, MfaKeys, SealedBy};
use awc::http::StatusCode;
use base64::{Engine, engine::general_purpose::STANDARD};
use hkdf::Hkdf;
use sha2::Sha256;
use sqlx::Connection;

use crate::{
    helpers::{TestApp, binary, spawn_app},
    mfa::{code, enrol, pending, second_step, with_recovery_code},
};

/// The test settings' key (`tests/support/settings.rs`), and the next one.
const OLD: [u8; 32] = [7; 32];
const NEW: [u8; 32] = [8; 32];
const UNRELATED: [u8; 32] = [9; 32];

fn keys(list: &[[u8; 32]]) -> MfaKeys {
    MfaKeys::from_keys(list.iter().map(MfaKey::from_bytes).collect())
}

fn id(key: [u8; 32]) -> String {
    MfaKey::from_bytes(&key).id().to_string()
}

/// `auth-api mfa ARGS` on the app's database with `MFA_ENCRYPTION_KEY` = `list`.
fn mfa(app: &TestApp, list: &[[u8; 32]], args: &[&str]) -> String {
    let variable: Vec<String> = list.iter().map(|k| STANDARD.encode(k)).collect();
    let Output { status, stdout, stderr } = binary()
        .arg("mfa")
        .args(args)
        .args(["--database-url", &app.db_url])
        .env("MFA_ENCRYPTION_KEY", variable.join(","))
        .output()
        .unwrap();
    let (out, err) = (String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr));
    assert!(status.success(), "mfa {args:?}: {err}");
    assert!(variable.iter().all(|k| !out.contains(k.as_str())), "no key is shown: {out}");
    out.into_owned()
}

async fn with_keys(mut app: TestApp, list: &[[u8; 32]]) -> TestApp {
    app.settings.mfa.keys = keys(list);
    app.restart().await
}

/// Signs `username` in with the app's code of the next step.
async fn otp_sign_in(app: &TestApp, username: &str, secret: &[u8]) -> StatusCode {
    app.clock.advance(30);
    let mfa_token = pending(app, username).await;
    second_step(app, &mfa_token, &code(app, secret, 0)).await.status
}

async fn recovery_sign_in(
    app: &TestApp,
    username: &str,
    recovery_code: &str,
) -> (StatusCode, String) {
    let mfa_token = pending(app, username).await;
    let reply = with_recovery_code(app, &mfa_token, recovery_code).await;
    (reply.status, reply.error().to_owned())
}

async fn sealed_by(app: &TestApp, user_id: &str) -> SealedBy {
    let stored = app.state.store.totp_of(user_id).await.unwrap().unwrap();
    app.settings.mfa.keys.sealed_by(&stored.secret_sealed)
}

#[actix_web::test]
async fn the_mfa_key_rotates_with_no_outage_and_rekey_moves_every_app_to_the_new_key() {
    let app = spawn_app().await;
    let alice_id = app.add_user("alice", &[]).await;
    let bob_id = app.add_user("bob", &[]).await;
    let alice = enrol(&app, "alice").await;
    let bob = enrol(&app, "bob").await;

    // 1. The new key first, the old after it: everything made before works.
    let app = with_keys(app, &[NEW, OLD]).await;
    assert_eq!(otp_sign_in(&app, "alice", &alice.secret).await, StatusCode::OK);
    let used = recovery_sign_in(&app, "bob", &bob.recovery_codes[0]).await;
    assert_eq!(used.0, StatusCode::OK, "a code made under the old key");
    let carol_id = app.add_user("carol", &[]).await;
    let carol = enrol(&app, "carol").await;
    assert_eq!(sealed_by(&app, &carol_id).await, SealedBy::Current, "new ones: the new key");

    let before = mfa(&app, &[NEW, OLD], &["status"]);
    assert!(before.contains(&format!("current key: {}", id(NEW))), "{before}");
    assert!(before.contains("1 under the current key, 2 to re-seal"), "{before}");
    let under_old = format!("older key {} (listed): 19 code(s) of 2 user(s)", id(OLD));
    assert!(before.contains(&under_old), "the count an operator needs: {before}");
    assert!(before.contains("current key: 10 code(s) of 1 user(s)"), "{before}");
    assert!(before.contains("older keys are still needed"), "{before}");

    // 2. Re-seal, a user per transaction; running it again changes nothing.
    let rekeyed = mfa(&app, &[NEW, OLD], &["rekey", "--batch", "1"]);
    assert!(
        rekeyed.contains(&format!("re-sealed 2 authenticator-app key(s) under key {}", id(NEW)))
    );
    assert!(rekeyed.contains("3 under the current key, 0 to re-seal"), "{rekeyed}");
    assert!(rekeyed.contains(&under_old), "recovery codes cannot move: {rekeyed}");
    for user in [&alice_id, &bob_id, &carol_id] {
        assert_eq!(sealed_by(&app, user).await, SealedBy::Current);
    }
    assert!(mfa(&app, &[NEW, OLD], &["rekey"]).contains("re-sealed 0 "));
    assert_eq!(otp_sign_in(&app, "bob", &bob.secret).await, StatusCode::OK, "re-sealed, opens");

    // 3. The old key dropped: every app works, and only the codes the status
    //    counted above fail, as wrong codes do (never a 500).
    let app = with_keys(app, &[NEW]).await;
    for (name, secret) in [("alice", &alice.secret), ("bob", &bob.secret), ("carol", &carol.secret)]
    {
        assert_eq!(otp_sign_in(&app, name, secret).await, StatusCode::OK, "{name}");
    }
    let (status, error) = recovery_sign_in(&app, "alice", &alice.recovery_codes[0]).await;
    assert_eq!((status, error.as_str()), (StatusCode::BAD_REQUEST, "invalid_grant"));
    assert_eq!(recovery_sign_in(&app, "carol", &carol.recovery_codes[0]).await.0, StatusCode::OK);
    let after = mfa(&app, &[NEW], &["status"]);
    let dead = format!("key {}, no longer listed: these codes no longer work: 19 code(s)", id(OLD));
    assert!(after.contains(&dead), "{after}");
}

/// A sealed value as versions before key ids wrote it: format 1, no key id.
fn sealed_v1(master: &[u8; 32], user_id: &str, secret: &[u8]) -> Vec<u8> {
    let hkdf = Hkdf::<Sha256>::new(Some(b"cloakroom/mfa/v1"), master);
    let mut key = [0u8; 32];
    hkdf.expand(b"totp-secret-encryption", &mut key).unwrap();
    let nonce = [3u8; 12];
    let payload = Payload { msg: secret, aad: user_id.as_bytes() };
    let sealed = Aes256Gcm::new(&key.into()).encrypt(&Nonce::from(nonce), payload).unwrap();
    [&[1u8][..], &nonce, &sealed].concat()
}

#[actix_web::test]
async fn values_from_before_key_ids_keep_working_and_an_unlisted_key_is_a_defined_error() {
    let app = spawn_app().await;
    let alice_id = app.add_user("alice", &[]).await;
    let alice = enrol(&app, "alice").await;
    // As an older version left them: a format-1 app key, codes with no key id.
    let mut db = sqlx::SqliteConnection::connect(&app.db_url).await.unwrap();
    sqlx::query("UPDATE totp_factors SET secret_sealed = $1 WHERE user_id = $2")
        .bind(sealed_v1(&OLD, &alice_id, &alice.secret))
        .bind(&alice_id)
        .execute(&mut db)
        .await
        .unwrap();
    sqlx::query("UPDATE recovery_codes SET key_id = NULL").execute(&mut db).await.unwrap();
    db.close().await.unwrap();

    let app = with_keys(app, &[NEW, OLD]).await;
    assert_eq!(sealed_by(&app, &alice_id).await, SealedBy::Unrecorded);
    assert_eq!(otp_sign_in(&app, "alice", &alice.secret).await, StatusCode::OK);
    let used = recovery_sign_in(&app, "alice", &alice.recovery_codes[0]).await;
    assert_eq!(used.0, StatusCode::OK, "a code with no key id");
    let listed = mfa(&app, &[NEW, OLD], &["status"]);
    assert!(listed.contains("0 under the current key, 1 to re-seal"), "{listed}");
    assert!(listed.contains("made before key ids were recorded"), "{listed}");
    assert!(listed.contains("9 code(s) of 1 user(s)"), "{listed}");
    // With the one key they came from, they are recorded as its own.
    mfa(&app, &[OLD], &["status"]);
    let recorded = mfa(&app, &[NEW, OLD], &["status"]);
    assert!(recorded.contains(&format!("older key {} (listed): 9 code(s)", id(OLD))), "{recorded}");

    mfa(&app, &[NEW, OLD], &["rekey"]);
    assert_eq!(sealed_by(&app, &alice_id).await, SealedBy::Current);

    // A key that is no longer listed: a 500 whose reason is in the log (the
    // service's failure, not the user's), never a panic; the rest goes on.
    let app = with_keys(app, &[UNRELATED]).await;
    assert_eq!(otp_sign_in(&app, "alice", &alice.secret).await, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(app.login("nobody", "whatever it is").await.status, StatusCode::BAD_REQUEST);
    let lost = mfa(&app, &[UNRELATED], &["status"]);
    let why = format!("user {alice_id}: sealed under MFA_ENCRYPTION_KEY key {}", id(NEW));
    assert!(lost.contains(&why) && lost.contains("no longer lists"), "{lost}");
}
