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
    assert_eq!(entries, [(elsewhere.session_id.as_str(), false), (here.session_id.as_str(), true)]);
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
    // ten, then the username's budget, which the strangers spent (her
    // success cleared only her session's count, not theirs).
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
    assert_eq!(first_refusal, Some(10), "10 for the session, then the username's spent budget");
    // The session itself is fine, and the password unchanged.
    assert_eq!(app.get_bearer("/auth/userinfo", &tokens.access_token).await.status, StatusCode::OK);
    let events = events_of(&app, &tokens.access_token).await;
    assert_eq!(kinds(&events).iter().filter(|k| *k == "password_change_failed").count(), 10);
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

/// Every kind of security event, caused once each, is in the audit log with
/// whom it happened to and who did it.
#[actix_web::test]
async fn every_kind_of_event_is_recorded_with_its_user_and_actor() {
    let app = spawn_app().await;
    app.add_user("root", &[shared::Role::Admin]).await;
    let alice_id = app.add_user("alice", &[]).await;
    let root = app.login_ok("root").await.access_token;
    let alice = app.login_ok("alice").await; // sign_in
    assert_eq!(app.login("alice", "wrong password").await.status, StatusCode::BAD_REQUEST);
    let revoke = json!({"token": alice.refresh_token});
    app.post_client("/auth/revoke", &revoke).await; // sign_out
    let again = app.login_ok("alice").await;
    let next = app.refresh(&again.refresh_token).await;
    assert_eq!(next.status, StatusCode::OK);
    let retried = app.refresh(&again.refresh_token).await; // refresh_retried: successor unused
    assert_eq!(retried.body["refresh_token"], next.body["refresh_token"]);
    let next = app.refresh(next.body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(next.status, StatusCode::OK);
    app.refresh(&again.refresh_token).await; // refresh_reuse: its successor was used
    let third = app.login_ok("alice").await;
    app.change_password(&third.access_token, "nope", NEW_PASSWORD).await; // password_change_failed
    app.change_password(&third.access_token, PASSWORD, NEW_PASSWORD).await; // password_changed
    let path = format!("/admin/users/{alice_id}");
    app.post_bearer("/auth/reauth", &root, &json!({"password": PASSWORD})).await; // reauthenticated
    app.patch_bearer(&path, &root, &json!({"roles": ["admin"]})).await; // roles_changed
    app.patch_bearer(&path, &root, &json!({"disabled": true})).await; // user_disabled
    app.patch_bearer(&path, &root, &json!({"disabled": false})).await; // user_enabled
    let fourth = app.login_ok_with("alice", NEW_PASSWORD).await;
    let sid = claims_sid(&fourth);
    app.delete_bearer(&format!("/auth/sessions/{sid}"), &root).await; // session_ended
    app.delete_bearer(&path, &root).await; // user_deleted
    let rotated = crate::helpers::binary()
        .args(["keys", "rotate", "--database-url", app.db_url.as_str()])
        .output()
        .unwrap();
    assert!(rotated.status.success()); // keys_rotated

    let all = app.get_bearer("/admin/audit?limit=200", &root).await.body;
    let events = all["events"].as_array().unwrap();
    let find = |kind: &str| {
        events.iter().find(|e| e["kind"] == kind).unwrap_or_else(|| panic!("no {kind}: {all}"))
    };
    for (kind, user, actor) in [
        ("user_created", "alice", "cli"),
        ("sign_in", "alice", "alice"),
        ("sign_in_failed", "alice", ""),
        ("sign_out", "alice", "alice"),
        ("refresh_reuse", "alice", ""),
        ("refresh_retried", "alice", ""),
        ("password_change_failed", "alice", "alice"),
        ("password_changed", "alice", "alice"),
        ("reauthenticated", "root", "root"),
        ("roles_changed", "alice", "root"),
        ("user_disabled", "alice", "root"),
        ("user_enabled", "alice", "root"),
        ("session_ended", "alice", "root"),
        ("user_deleted", "alice", "root"),
        ("keys_rotated", "", "cli"),
    ] {
        let e = find(kind);
        assert_eq!(e["username"].as_str().unwrap_or_default(), user, "{kind}: {e}");
        assert_eq!(e["actor_name"].as_str().unwrap_or_default(), actor, "{kind}: {e}");
        assert!(e["at"].as_i64().unwrap() > 0);
    }
    assert_eq!(find("session_ended")["detail"], "admin");
    assert!(find("refresh_retried")["detail"].as_str().unwrap().ends_with("s after the rotation"));
    assert!(find("sign_in")["ip"] == "203.0.113.7" && find("sign_in")["user_agent"].is_string());
    for secret in
        [PASSWORD, NEW_PASSWORD, alice.refresh_token.as_str(), alice.access_token.as_str()]
    {
        assert!(!all.to_string().contains(secret), "a secret in the audit log");
    }
}

fn claims_sid(token: &str) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap();
    serde_json::from_slice::<shared::AccessClaims>(&payload).unwrap().sid
}
