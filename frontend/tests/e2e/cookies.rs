//! The session cookie as the browser sees it, and what happens when it is
//! tampered with, sealed with another key, or replayed.

use awc::http::StatusCode;
use base64::Engine;
use cookie::Key;

use crate::harness::{Options, PASSWORD, spawn, spawn_with};

#[actix_web::test]
async fn the_cookie_has_the_designed_flags_and_reveals_nothing() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let browser = stack.browser();
    let page = browser.sign_in("alice", PASSWORD).await;
    let cookie = page.session_cookie().unwrap();
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.same_site(), Some(cookie::SameSite::Lax));
    assert_eq!(cookie.path(), Some("/"));
    assert_eq!(cookie.domain(), None);
    assert_eq!(cookie.max_age(), None, "without remember me it is a browser-session cookie");
    let names: Vec<String> = page.set_cookies().iter().map(|c| c.name().to_owned()).collect();
    assert_eq!(names.len(), 2, "the session cookie and the device cookie: {names:?}");
    let device = page.set_cookies().into_iter().find(|c| c.name() == "cloakroom-device").unwrap();
    assert_eq!(device.http_only(), Some(true));
    assert_eq!(device.same_site(), Some(cookie::SameSite::Strict));
    assert_eq!(device.max_age(), Some(cookie::time::Duration::days(365)));
    assert!(!device.value().contains("alice"), "sealed");
    let value = cookie.value();
    assert!(value.len() < 2048, "{} bytes", value.len());
    assert!(!value.contains("eyJ"), "no JWT in the clear");
    assert!(!value.contains("alice"));
    // Decoding the value yields only ciphertext.
    let raw = base64::engine::general_purpose::STANDARD.decode(value).unwrap_or_default();
    assert!(!String::from_utf8_lossy(&raw).contains("alice"));

    let remembered = stack.browser();
    let page = remembered.sign_in_remembered("alice", PASSWORD).await;
    let max_age = page.session_cookie().unwrap().max_age().unwrap();
    // REMEMBER_ABSOLUTE_TTL of the harness: 30 days, not the 24 h of a browser session.
    assert_eq!(max_age.whole_seconds(), 30 * 24 * 3600, "remember me lasts the session's lifetime");
}

#[actix_web::test]
async fn tampered_and_foreign_cookies_are_cleared_and_the_request_is_signed_out() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let browser = stack.browser();
    browser.sign_in_ok("alice").await;
    let good = browser.cookie().unwrap();

    let mut tampered = good.clone().into_bytes();
    let i = tampered.len() / 2;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    browser.set_cookie(&String::from_utf8(tampered).unwrap());
    let page = browser.get("/profile").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.session_cookie().unwrap().max_age(), Some(cookie::time::Duration::ZERO));

    // A cookie sealed by a frontend with different keys.
    let (other, _h) = stack.another_frontend(vec![Key::generate()]).await;
    let elsewhere = stack.browser().at(&other);
    elsewhere.sign_in_ok("alice").await;
    browser.set_cookie(&elsewhere.cookie().unwrap());
    let page = browser.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Sign in"));
    assert_eq!(page.session_cookie().unwrap().max_age(), Some(cookie::time::Duration::ZERO));
    assert!(browser.cookie().is_none());
}

#[actix_web::test]
async fn a_cookie_sealed_with_an_old_key_is_accepted_and_resealed() {
    let old = Key::generate();
    let new = Key::generate();
    let stack = spawn_with(Options { cookie_keys: vec![old.clone()], ..Options::default() }).await;
    stack.add_user("alice", &[]).await;
    let before = stack.browser();
    before.sign_in_ok("alice").await;
    // The same deployment after a key rotation: new key first, old key kept.
    let (rotated, _h) = stack.another_frontend(vec![new.clone(), old]).await;
    let after = before.at(&rotated);
    let page = after.get("/profile").await;
    assert_eq!(page.status, StatusCode::OK, "rotating keys signs no one out");
    let resealed = page.session_cookie().expect("re-sealed with the new key");
    assert_ne!(resealed.value(), before.cookie().unwrap());
    // Only the new key is needed from now on.
    let (only_new, _h2) = stack.another_frontend(vec![new]).await;
    assert_eq!(after.at(&only_new).get("/profile").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn replaying_a_saved_cookie_after_sign_out_is_signed_out() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let browser = stack.browser();
    browser.sign_in_ok("alice").await;
    let saved = browser.cookie().unwrap();
    assert_eq!(browser.sign_out().await.status, StatusCode::SEE_OTHER);
    // The thief's copy: its cached access token still verifies, but the
    // session has ended and the revocation feed says so.
    let thief = stack.browser();
    thief.set_cookie(&saved);
    let mut refused = false;
    for _ in 0..40 {
        let page = thief.get("/profile").await;
        if page.status == StatusCode::SEE_OTHER {
            refused = true;
            break;
        }
        thief.set_cookie(&saved);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(refused, "a replayed cookie of an ended session must be refused within 2 s");
}
