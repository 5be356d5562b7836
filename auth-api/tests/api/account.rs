//! A user's own account: password change and policy, and the audit log as
//! the user and an administrator read it.

use awc::http::StatusCode;
use serde_json::{Value, json};
use shared::Role;

use crate::helpers::{PASSWORD, TestApp, spawn_app};

const NEW_PASSWORD: &str = "vellum tortoise quarry gazebo";

/// The `kind`s of a page of events, newest first.
fn kinds(page: &Value) -> Vec<String> {
    page["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().into()).collect()
}

async fn events_of(app: &TestApp, token: &str) -> Value {
    let reply = app.get_bearer("/auth/events", token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

#[actix_web::test]
async fn a_password_change_ends_every_other_session_and_keeps_this_one() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let here = app.login_ok("alice").await;
    let elsewhere = app.login_ok("alice").await;

    let reply = app.change_password(&here.access_token, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);

    // The other browser is out, at once: its token is refused and its
    // session is on the revocation feed.
    assert_eq!(app.refresh(&elsewhere.refresh_token).await.error(), "invalid_grant");
    assert_eq!(
        app.get_bearer("/auth/userinfo", &elsewhere.access_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let feed = app.get_client("/auth/revocations").await;
    let entries: Vec<(&str, bool)> = feed.body["revoked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["sid"].as_str().unwrap(), r["stale_before"].is_number()))
        .collect();
    // The other session ended; this one's tokens are stale (refresh them).
    assert_eq!(entries, [(here.session_id.as_str(), true), (elsewhere.session_id.as_str(), false)]);
    // This one continues, re-authenticated just now.
    let refreshed = app.refresh(&here.refresh_token).await;
    assert_eq!(refreshed.status, StatusCode::OK);
    assert_eq!(app.login("alice", PASSWORD).await.error(), "invalid_grant");
    assert_eq!(app.login("alice", NEW_PASSWORD).await.status, StatusCode::OK);

    let token = refreshed.body["access_token"].as_str().unwrap();
    let events = events_of(&app, token).await;
    assert_eq!(kinds(&events)[..3], ["sign_in", "sign_in_failed", "password_changed"]);
    let changed = &events["events"][2];
    assert_eq!(changed["actor_name"], "alice");
    assert_eq!(changed["session_id"], here.session_id.as_str());
    assert_eq!(changed["ip"], "203.0.113.7");
    assert_eq!(changed["detail"], "1 other session(s) ended");
}

#[actix_web::test]
async fn a_wrong_current_password_is_refused_throttled_and_keeps_the_session() {
    let app = spawn_app().await;
    app.add_user("alice", &[]).await;
    let tokens = app.login_ok("alice").await;
    // Strangers guessing at her username do not stop her changing it: a
    // session's own attempts are judged on its own failures.
    for _ in 0..5 {
        assert_eq!(app.login("alice", "a stranger's guess").await.status, StatusCode::BAD_REQUEST);
    }
    assert_eq!(app.login("alice", PASSWORD).await.status, StatusCode::TOO_MANY_REQUESTS);
    let reply = app.change_password(&tokens.access_token, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);

    // Guessing through a stolen session is throttled all the same: its own
    // ten, then the username's five.
    let mut first_refusal = None;
    for i in 0..20 {
        let reply = app.change_password(&tokens.access_token, "not my password", PASSWORD).await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(reply.headers.contains_key("retry-after"));
            first_refusal = Some(i);
            break;
        }
        assert_eq!((reply.status, reply.error()), (StatusCode::FORBIDDEN, "invalid_grant"));
    }
    assert_eq!(first_refusal, Some(15), "10 for the session, then 5 for the username");
    // The session itself is fine, and the password unchanged.
    assert_eq!(app.get_bearer("/auth/userinfo", &tokens.access_token).await.status, StatusCode::OK);
    let events = events_of(&app, &tokens.access_token).await;
    assert_eq!(kinds(&events).iter().filter(|k| *k == "password_change_failed").count(), 15);
}

#[actix_web::test]
async fn the_policy_refuses_weak_new_passwords_and_says_why() {
    let app = spawn_app().await;
    app.add_user("dana", &[]).await;
    let tokens = app.login_ok("dana").await;
    for (weak, why) in [
        ("password1234", "common"),
        ("aaaaaaaaaaaa", "Repeats"),
        ("dana12345678", "username"),
        ("kx8#Qm2!vZr", "at least 12 characters"),
        ("", "cannot be empty"),
    ] {
        let reply = app.change_password(&tokens.access_token, PASSWORD, weak).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{weak:?}");
        assert_eq!(reply.error(), "weak_password", "{weak:?}");
        let description = reply.body["error_description"].as_str().unwrap();
        assert!(description.contains(why), "{weak:?}: {description}");
    }
    let long = "x".repeat(1025);
    let reply = app.change_password(&tokens.access_token, PASSWORD, &long).await;
    assert_eq!(reply.error(), "weak_password");
    // Refusals cost no throttling budget and change nothing.
    assert_eq!(app.login("dana", PASSWORD).await.status, StatusCode::OK);

    let check = |password: &'static str| {
        let app = &app;
        async move {
            let body = json!({"password": password, "username": "dana"});
            app.post_client("/auth/password/check", &body).await
        }
    };
    let weak = check("dana12345678").await;
    assert_eq!(weak.status, StatusCode::OK);
    assert_eq!(weak.body["acceptable"], false);
    assert!(weak.body["message"].as_str().unwrap().contains("username"));
    let strong = check(NEW_PASSWORD).await;
    assert_eq!(
        (strong.body["acceptable"].clone(), strong.body["score"].clone()),
        (json!(true), json!(4))
    );
    assert_eq!(strong.body["message"], Value::Null);
}

#[actix_web::test]
async fn the_audit_log_records_who_did_what_and_only_admins_read_everyone_s() {
    let app = spawn_app().await;
    app.add_user("root", &[Role::Admin]).await;
    app.add_user("alice", &[]).await;
    let admin = app.login_ok("root").await;
    let alice = app.login_ok("alice").await;
    assert_eq!(app.login("alice", "wrong password").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.login("nobody-here", "hunter2 secret").await.status, StatusCode::BAD_REQUEST);
    let path = format!("/admin/users/{}/sessions", alice.user.sub);
    assert_eq!(app.delete_bearer(&path, &admin.access_token).await.status, StatusCode::OK);

    // Alice sees her own events only; not the administrator's sign-in.
    let second = app.login_ok("alice").await;
    let own = events_of(&app, &second.access_token).await;
    assert_eq!(
        kinds(&own),
        ["sign_in", "session_ended", "sign_in_failed", "sign_in", "user_created"]
    );
    assert_eq!(own["events"][1]["actor_name"], "root", "the acting admin is named");
    assert_eq!(own["events"][1]["detail"], "admin: 1 session(s)");

    // Not an admin: 403.
    let reply = app.get_bearer("/admin/audit", &second.access_token).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);

    let audit = |query: &str| {
        let (app, token) = (&app, admin.access_token.clone());
        let path = format!("/admin/audit{query}");
        async move { app.get_bearer(&path, &token).await }
    };
    let all = audit("").await;
    assert_eq!(all.status, StatusCode::OK);
    let unknown = all.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "sign_in_failed" && e["user_id"].is_null())
        .expect("the unknown user's failure is recorded");
    assert_eq!(unknown["username"], Value::Null, "a name that is no user's is never written");
    assert_eq!(unknown["detail"], "bad_credentials; unknown user");
    assert!(!all.body.to_string().contains("hunter2"), "no password anywhere");
    assert!(!all.body.to_string().contains(&alice.refresh_token), "no token anywhere");

    let failures = audit("?user=alice&type=sign_in_failed").await;
    assert_eq!(kinds(&failures.body), ["sign_in_failed"]);
    assert_eq!(failures.body["events"][0]["detail"], "bad_credentials");
    // Pages: two at a time, following `next_before` to the end.
    let (mut seen, mut query) = (0, "?limit=2".to_owned());
    loop {
        let page = audit(&query).await.body;
        seen += page["events"].as_array().unwrap().len();
        match page["next_before"].as_i64() {
            Some(before) => query = format!("?limit=2&before={before}"),
            None => break,
        }
    }
    assert_eq!(seen, all.body["events"].as_array().unwrap().len());

    assert_eq!(audit("?type=nonsense").await.error(), "invalid_request");
    assert_eq!(audit("?limit=0").await.error(), "invalid_request");
    assert_eq!(audit("?limit=201").await.error(), "invalid_request");
}
