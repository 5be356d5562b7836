//! Administering users: creation with a temporary password that must be
//! changed, disabling, roles, deletion, the last administrator, and the CLI
//! twins of each.

use awc::http::StatusCode;
use serde_json::{Value, json};
use shared::{AccessClaims, Role};

use crate::helpers::{PASSWORD, TestApp, spawn_app};

const NEW_PASSWORD: &str = "vellum tortoise quarry gazebo";

fn claims(token: &str) -> AccessClaims {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap();
    serde_json::from_slice(&payload).unwrap()
}

/// An app with an administrator `root`, signed in; returns their access token.
async fn with_admin() -> (TestApp, String) {
    let app = spawn_app().await;
    app.add_user("root", &[Role::Admin]).await;
    let token = app.login_ok("root").await.access_token;
    (app, token)
}

async fn kinds_for(app: &TestApp, admin: &str, user: &str) -> Vec<(String, String)> {
    let page = app.get_bearer(&format!("/admin/audit?user={user}"), admin).await.body;
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let actor = e["actor_name"].as_str().unwrap_or_default().to_owned();
            (e["kind"].as_str().unwrap().to_owned(), actor)
        })
        .collect()
}

#[actix_web::test]
async fn a_created_user_signs_in_with_the_temporary_password_and_must_change_it_first() {
    let (app, admin) = with_admin().await;
    let created = app.post_bearer("/admin/users", &admin, &json!({"username": "Dana"})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.headers.get("cache-control").unwrap(), "no-store");
    assert_eq!(created.body["user"]["username"], "dana");
    assert_eq!(created.body["user"]["password_change_required"], true);
    let temporary = created.body["temporary_password"].as_str().unwrap().to_owned();
    assert!(temporary.len() >= 32, "{temporary}");

    let signed_in = app.login("dana", &temporary).await;
    assert_eq!(signed_in.status, StatusCode::OK);
    let token = signed_in.body["access_token"].as_str().unwrap();
    assert!(claims(token).password_change_required);
    // Changing it clears the mark: the next token is an ordinary one.
    let reply = app.change_password(token, &temporary, NEW_PASSWORD).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let refreshed = app.refresh(signed_in.body["refresh_token"].as_str().unwrap()).await;
    assert!(!claims(refreshed.body["access_token"].as_str().unwrap()).password_change_required);
    assert_eq!(app.login("dana", &temporary).await.error(), "invalid_grant");

    let taken = app.post_bearer("/admin/users", &admin, &json!({"username": "dana"})).await;
    assert_eq!((taken.status, taken.error()), (StatusCode::CONFLICT, "conflict"));
    let bad = app.post_bearer("/admin/users", &admin, &json!({"username": "no spaces"})).await;
    assert_eq!(bad.error(), "invalid_request");
    let role =
        app.post_bearer("/admin/users", &admin, &json!({"username": "x", "roles": ["root"]})).await;
    assert_eq!(role.error(), "invalid_request");
    let dana = app.login_ok_with("dana", NEW_PASSWORD).await;
    let refused = app.post_bearer("/admin/users", &dana, &json!({"username": "eve"})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        kinds_for(&app, &admin, "dana").await[..3],
        [
            ("sign_in".into(), "dana".into()),
            ("sign_in_failed".into(), String::new()),
            ("password_changed".into(), "dana".into()),
        ]
    );
    assert!(
        kinds_for(&app, &admin, "dana").await.contains(&("user_created".into(), "root".into()))
    );
}

#[actix_web::test]
async fn a_disabled_user_is_signed_out_at_once_and_refused_like_a_wrong_password() {
    let (app, admin) = with_admin().await;
    let alice_id = app.add_user("alice", &[]).await;
    let alice = app.login_ok("alice").await;
    let path = format!("/admin/users/{alice_id}");

    let reply = app.patch_bearer(&path, &admin, &json!({"disabled": true})).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    assert_eq!(app.refresh(&alice.refresh_token).await.error(), "invalid_grant");
    let feed = app.get_client("/auth/revocations").await;
    assert!(feed.body.to_string().contains(&alice.session_id), "published: {}", feed.body);
    // The right password gets exactly the wrong password's answer.
    let right = app.login("alice", PASSWORD).await;
    let wrong = app.login("alice", "not the password").await;
    assert_eq!((right.status, &right.body), (wrong.status, &wrong.body));
    let users = app.get_bearer("/admin/users", &admin).await.body;
    let row = users.as_array().unwrap().iter().find(|u| u["username"] == "alice").unwrap();
    assert_eq!(row["disabled"], true);

    let reply = app.patch_bearer(&path, &admin, &json!({"disabled": false})).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(app.login("alice", PASSWORD).await.status, StatusCode::OK);
    let events = kinds_for(&app, &admin, "alice").await;
    assert_eq!(
        events[..3],
        [
            ("sign_in".into(), "alice".into()),
            ("user_enabled".into(), "root".into()),
            ("sign_in_failed".into(), String::new()),
        ]
    );
    let page = app.get_bearer("/admin/audit?user=alice&type=sign_in_failed", &admin).await.body;
    let details: Vec<&str> =
        page["events"].as_array().unwrap().iter().map(|e| e["detail"].as_str().unwrap()).collect();
    assert_eq!(details, ["bad_credentials", "disabled"]);
    assert_eq!(app.patch_bearer(&path, &admin, &json!({})).await.error(), "invalid_request");
    let missing = app.patch_bearer("/admin/users/nobody", &admin, &json!({"disabled": true})).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn a_removed_role_stops_working_at_once_and_the_sessions_are_told_to_refresh() {
    let (app, admin) = with_admin().await;
    let bob_id = app.add_user("bob", &[Role::Admin]).await;
    let bob = app.login_ok("bob").await;
    assert_eq!(app.get_bearer("/admin/users", &bob.access_token).await.status, StatusCode::OK);

    let path = format!("/admin/users/{bob_id}");
    let reply = app.patch_bearer(&path, &admin, &json!({"roles": []})).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    // His token still says admin; the auth-api asks the database.
    assert!(claims(&bob.access_token).roles.contains(&Role::Admin));
    assert_eq!(
        app.get_bearer("/admin/users", &bob.access_token).await.status,
        StatusCode::FORBIDDEN
    );
    // The feed tells frontends his tokens are stale, not that he is out.
    let feed = app.get_client("/auth/revocations").await.body;
    let entry =
        feed["revoked"].as_array().unwrap().iter().find(|r| r["sid"] == bob.session_id.as_str());
    let entry = entry.expect("bob's session is on the feed");
    assert_eq!(entry["stale_before"], app.state.now());
    let refreshed = app.refresh(&bob.refresh_token).await;
    assert_eq!(claims(refreshed.body["access_token"].as_str().unwrap()).roles, [Role::User]);
    let events = kinds_for(&app, &admin, "bob").await;
    assert_eq!(events[0], ("roles_changed".into(), "root".into()));
    let detail = app.get_bearer("/admin/audit?user=bob&type=roles_changed", &admin).await.body;
    assert_eq!(detail["events"][0]["detail"], "user,admin -> user");
}

#[actix_web::test]
async fn the_last_active_admin_cannot_be_disabled_demoted_or_deleted() {
    let (app, admin) = with_admin().await;
    let root_id = claims(&admin).sub;
    let path = format!("/admin/users/{root_id}");
    for reply in [
        app.patch_bearer(&path, &admin, &json!({"disabled": true})).await,
        app.patch_bearer(&path, &admin, &json!({"roles": ["user"]})).await,
        app.delete_bearer(&path, &admin).await,
    ] {
        assert_eq!((reply.status, reply.error()), (StatusCode::CONFLICT, "conflict"));
        assert!(
            reply.body["error_description"].as_str().unwrap().contains("last active administrator")
        );
    }
    assert_eq!(app.get_bearer("/admin/users", &admin).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn a_deleted_user_is_gone_their_sessions_ended_and_their_history_kept() {
    let (app, admin) = with_admin().await;
    let carol_id = app.add_user("carol", &[]).await;
    let carol = app.login_ok("carol").await;
    let reply = app.delete_bearer(&format!("/admin/users/{carol_id}"), &admin).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    assert_eq!(app.refresh(&carol.refresh_token).await.error(), "invalid_grant");
    assert_eq!(
        app.get_bearer("/auth/userinfo", &carol.access_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.login("carol", PASSWORD).await.error(), "invalid_grant");
    let users = app.get_bearer("/admin/users", &admin).await.body;
    assert!(!users.to_string().contains("carol"));
    let events = kinds_for(&app, &admin, "carol").await;
    assert_eq!(
        events[..2],
        [("user_deleted".into(), "root".into()), ("sign_in".into(), "carol".into())]
    );
    let again = app.delete_bearer(&format!("/admin/users/{carol_id}"), &admin).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    // A name that is no user's any more is recorded without it.
    let failed = app.get_bearer("/admin/audit?type=sign_in_failed", &admin).await.body;
    assert_eq!(failed["events"][0]["username"], Value::Null);
}

#[actix_web::test]
async fn sensitive_actions_need_the_password_again_after_ten_minutes_in_the_same_session() {
    let (app, _) = with_admin().await;
    let bob_id = app.add_user("bob", &[]).await;
    let root = app.login_ok("root").await;
    let path = format!("/admin/users/{bob_id}");
    app.clock.advance(601);
    // The access token is still valid (refreshed as a frontend would), but
    // the password was proven too long ago.
    let token = app.refresh(&root.refresh_token).await;
    let (access, refresh) = (
        token.body["access_token"].as_str().unwrap().to_owned(),
        token.body["refresh_token"].as_str().unwrap().to_owned(),
    );
    for reply in [
        app.patch_bearer(&path, &access, &json!({"disabled": true})).await,
        app.patch_bearer(&path, &access, &json!({"roles": ["admin"]})).await,
        app.delete_bearer(&path, &access).await,
        app.delete_bearer(&format!("{path}/sessions"), &access).await,
        app.post_bearer("/admin/users", &access, &json!({"username": "eve", "roles": ["admin"]}))
            .await,
    ] {
        assert_eq!((reply.status, reply.error()), (StatusCode::FORBIDDEN, "reauth_required"));
    }
    // Reading, and creating an ordinary user, need nothing more.
    assert_eq!(app.get_bearer("/admin/users", &access).await.status, StatusCode::OK);
    let plain = app.post_bearer("/admin/users", &access, &json!({"username": "fred"})).await;
    assert_eq!(plain.status, StatusCode::CREATED);

    let wrong = app.post_bearer("/auth/reauth", &access, &json!({"password": "not it"})).await;
    assert_eq!((wrong.status, wrong.error()), (StatusCode::FORBIDDEN, "invalid_grant"));
    let right = app.post_bearer("/auth/reauth", &access, &json!({"password": PASSWORD})).await;
    assert_eq!(right.status, StatusCode::NO_CONTENT, "{}", right.body);
    // The same session goes on, and its next token says when.
    let next = app.refresh(&refresh).await;
    let claims = claims(next.body["access_token"].as_str().unwrap());
    assert_eq!(claims.sid, root.session_id);
    assert_eq!(claims.auth_time, app.state.now());
    let done = app.patch_bearer(&path, &access, &json!({"disabled": true})).await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.body);
    let events = kinds_for(&app, &access, "root").await;
    assert_eq!(events[0], ("reauthenticated".into(), "root".into()));
    assert_eq!(events[1], ("sign_in_failed".into(), "root".into()));
}
