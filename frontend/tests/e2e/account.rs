//! The account pages over HTTP, as a browser without JavaScript uses them:
//! changing a password (and what that does to the other devices), the
//! policy's answers, and the audit log for the user and for an admin.

use std::time::Duration;

use awc::http::StatusCode;
use shared::Role;

use crate::harness::{Browser, PASSWORD, Stack, spawn};

const NEW_PASSWORD: &str = "vellum tortoise quarry gazebo";

async fn change(browser: &Browser, current: &str, new: &str) -> crate::harness::Page {
    browser.post("/account/password", &[("current_password", current), ("new_password", new)]).await
}

async fn signed_in(stack: &Stack, name: &str) -> Browser {
    let browser = stack.browser();
    browser.sign_in_ok(name).await;
    browser
}

#[actix_web::test]
async fn changing_the_password_signs_out_every_other_device_within_two_seconds() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let laptop = signed_in(&stack, "alice").await;
    let phone = signed_in(&stack, "alice").await;
    assert_eq!(phone.get("/profile").await.status, StatusCode::OK);

    let page = laptop.get("/account/password").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Current password") && page.body.contains("New password"));

    let done = change(&laptop, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), Some("/account/password?changed=1"));
    phone.signed_out_within("/profile", Duration::from_secs(2)).await;
    let page = laptop.get("/account/password?changed=1").await;
    assert!(page.body.contains("Every other device has been signed out"), "{}", page.body);
    // This browser stays, and its account page tells what happened.
    let account = laptop.get("/account").await;
    assert_eq!(account.status, StatusCode::OK);
    assert!(account.body.contains("Password changed"), "{}", account.body);
    assert!(account.body.contains("1 other session(s) ended"));
    // The new password is the one that works.
    assert_eq!(stack.browser().sign_in("alice", PASSWORD).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(stack.browser().sign_in("alice", NEW_PASSWORD).await.status, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn a_wrong_current_password_or_a_weak_new_one_is_refused_with_the_reason() {
    let stack = spawn().await;
    stack.add_user("dana", &[]).await;
    let browser = signed_in(&stack, "dana").await;

    let wrong = change(&browser, "not my password", NEW_PASSWORD).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(wrong.body.contains("current password is not correct"), "{}", wrong.body);
    assert!(wrong.body.contains("New password"), "the form is shown again");

    for (weak, why) in [
        ("password1234", "common password"),
        ("aaaaaaaaaaaa", "Repeats like"),
        ("dana12345678", "username"),
        ("kx8#Qm2!vZr", "at least 12 characters"),
    ] {
        let page = change(&browser, PASSWORD, weak).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{weak}");
        assert!(page.body.contains(why), "{weak}: {}", page.body);
    }
    let empty = change(&browser, "", NEW_PASSWORD).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    // None of it ended the session or changed the password.
    assert_eq!(browser.get("/account").await.status, StatusCode::OK);
    assert_eq!(stack.browser().sign_in("dana", PASSWORD).await.status, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn account_pages_need_a_session_and_the_audit_log_an_admin() {
    let stack = spawn().await;
    stack.add_user("root", &[Role::Admin]).await;
    stack.add_user("alice", &[]).await;
    let nobody = stack.browser();
    for path in ["/account", "/account/password"] {
        let page = nobody.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert!(page.location().unwrap().starts_with("/login?next=%2Faccount"), "{path}");
    }
    let refused = nobody.post("/account/password", &[("current_password", PASSWORD)]).await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER, "no form is judged signed out");

    let alice = signed_in(&stack, "alice").await;
    assert_eq!(alice.get("/admin/audit").await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        stack.browser().sign_in("alice", "wrong password").await.status,
        StatusCode::BAD_REQUEST
    );

    let root = signed_in(&stack, "root").await;
    let audit = root.get("/admin/audit").await;
    assert_eq!(audit.status, StatusCode::OK);
    for text in ["Audit log", "Signed in", "Sign-in refused", "Account created", "alice", "root"] {
        assert!(audit.body.contains(text), "{text} missing:\n{}", audit.body);
    }
    let failures = root.get("/admin/audit?user=alice&type=sign_in_failed").await;
    assert_eq!(failures.status, StatusCode::OK);
    assert_eq!(
        failures.body.matches("data-kind=\"sign_in_failed\"").count(),
        1,
        "{}",
        failures.body
    );
    assert!(!failures.body.contains("data-kind=\"sign_in\""), "filtered by type");
    let bogus = root.get("/admin/audit?type=bogus").await;
    assert_eq!(bogus.status, StatusCode::BAD_REQUEST);
    assert!(bogus.body.contains("There is no event type"));
}
