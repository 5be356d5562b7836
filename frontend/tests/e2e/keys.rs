//! Signing keys: a key cut off (`auth-api keys retire`) stops working on
//! every running frontend within two seconds, without signing anyone out.

use std::time::{Duration, Instant};

use auth_api::{
    cli::{Command, KeysCommand, run_admin_command},
    passwords::policy::PasswordPolicy,
};
use awc::http::StatusCode;
use frontend::session::cookie::Opened;

use crate::harness::{Browser, Stack, spawn};

fn access_token(stack: &Stack, browser: &Browser) -> String {
    match stack.front.codec.open(&browser.cookie().expect("signed in")) {
        Opened::Valid { cookie, .. } => cookie.access_token,
        other => panic!("{other:?}"),
    }
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[actix_web::test]
async fn a_retired_key_is_refused_within_two_seconds_and_its_sessions_refresh_to_the_new_key() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let alice = stack.browser();
    alice.sign_in_ok("alice").await;
    assert_eq!(alice.get("/profile").await.status, StatusCode::OK);
    let old_token = access_token(&stack, &alice);
    let old_kid = kid_of(&old_token);

    // What `auth-api keys retire KID` runs, on its own connection to the
    // database, as the separate CLI process would.
    let retire = Command::Keys(KeysCommand::Retire { kid: old_kid.clone() });
    let said =
        run_admin_command(&stack.auth_settings.database_url, PasswordPolicy::default(), retire)
            .await
            .unwrap();
    assert!(said.contains("it was the current key"), "{said}");
    let retired = Instant::now();

    // Within 2 s the frontend stops trusting the cached token: the page
    // still renders signed in, with a fresh token of the new key.
    loop {
        let page = alice.get("/profile").await;
        assert_eq!(page.status, StatusCode::OK, "alice stays signed in: {}", page.body);
        assert!(page.body.contains("alice"));
        let token = access_token(&stack, &alice);
        if kid_of(&token) != old_kid {
            break;
        }
        assert!(retired.elapsed() < Duration::from_secs(2), "old key still trusted after 2 s");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("the frontend dropped the retired key after {:?}", retired.elapsed());

    // The auth-api refuses the old token too.
    let userinfo = |token: String| {
        awc::Client::default()
            .get(format!("{}/auth/userinfo", stack.auth_base))
            .bearer_auth(token)
            .send()
    };
    loop {
        let status = userinfo(old_token.clone()).await.unwrap().status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(retired.elapsed() < Duration::from_secs(2), "the auth-api accepts it: {status}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let fresh = access_token(&stack, &alice);
    assert_eq!(userinfo(fresh).await.unwrap().status(), StatusCode::OK);
}
