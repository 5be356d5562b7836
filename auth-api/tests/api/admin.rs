//! Administrator routes and who may use them.

use awc::http::StatusCode;
use shared::{AdminUserView, Role};

use crate::helpers::spawn_app;

#[actix_web::test]
async fn non_admins_get_403_on_admin_routes() {
    let app = spawn_app().await;
    let bob_id = app.add_user("bob", &[]).await;
    let alice = app
        .login_ok({
            app.add_user("alice", &[]).await;
            "alice"
        })
        .await;
    let list = app.get_bearer("/admin/users", &alice.access_token).await;
    assert_eq!(list.status, StatusCode::FORBIDDEN);
    assert_eq!(list.error(), "forbidden");
    let end =
        app.delete_bearer(&format!("/admin/users/{bob_id}/sessions"), &alice.access_token).await;
    assert_eq!(end.status, StatusCode::FORBIDDEN);
    let anonymous = app.get("/admin/users").await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn admins_list_users_with_session_counts_and_sign_users_out_everywhere() {
    let app = spawn_app().await;
    let alice_id = app.add_user("alice", &[]).await;
    app.add_user("root", &[Role::Admin]).await;
    let a1 = app.login_ok("alice").await;
    let a2 = app.login_ok("alice").await;
    let admin = app.login_ok("root").await;

    let reply = app.get_bearer("/admin/users", &admin.access_token).await;
    assert_eq!(reply.status, StatusCode::OK);
    let users: Vec<AdminUserView> = serde_json::from_value(reply.body).unwrap();
    let alice = users.iter().find(|u| u.username == "alice").unwrap();
    assert_eq!(alice.session_count, 2);
    assert_eq!(alice.roles, vec![Role::User]);
    let root = users.iter().find(|u| u.username == "root").unwrap();
    assert_eq!(root.roles, vec![Role::User, Role::Admin]);

    let ended =
        app.delete_bearer(&format!("/admin/users/{alice_id}/sessions"), &admin.access_token).await;
    assert_eq!(ended.status, StatusCode::OK);
    assert_eq!(ended.body["ended"], 2);
    for t in [&a1, &a2] {
        assert_eq!(app.refresh(&t.refresh_token).await.error(), "invalid_grant");
        assert_eq!(
            app.get_bearer("/auth/userinfo", &t.access_token).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let missing = app.delete_bearer("/admin/users/nobody/sessions", &admin.access_token).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    // The admin's own session is untouched.
    assert_eq!(app.get_bearer("/auth/userinfo", &admin.access_token).await.status, StatusCode::OK);
}
