//! The admin page and who may see it.

use awc::http::StatusCode;
use shared::Role;

use crate::harness::spawn;

#[actix_web::test]
async fn non_admins_get_403_and_admins_see_users() {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    stack.add_user("root", &[Role::Admin]).await;
    let alice = stack.browser();
    alice.sign_in_ok("alice").await;
    let page = alice.get("/admin").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("You do not have access"));
    assert!(!page.body.contains("root"), "no admin data leaks into the 403");
    let api = alice.post("/api/admin_users", &[]).await;
    assert_eq!(api.status, StatusCode::FORBIDDEN, "{}", api.body);

    let admin = stack.browser();
    admin.sign_in_ok("root").await;
    let page = admin.get("/admin").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(r#"data-username="alice""#));
    assert!(page.body.contains(r#"data-username="root""#));
    assert!(page.body.contains("Sign out everywhere"));
    assert!(admin.get("/").await.body.contains(r#"href="/admin""#), "admins see the Admin link");
    assert!(!alice.get("/").await.body.contains(r#"href="/admin""#));
}

#[actix_web::test]
async fn an_admin_signs_a_user_out_everywhere() {
    let stack = spawn().await;
    let alice_id = stack.add_user("alice", &[]).await;
    stack.add_user("root", &[Role::Admin]).await;
    let alice = stack.browser();
    alice.sign_in_ok("alice").await;
    let admin = stack.browser();
    admin.sign_in_ok("root").await;
    let page = admin.post("/api/admin_sign_out_user", &[("user_id", &alice_id)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), Some("/admin"));
    let mut signed_out = false;
    for _ in 0..40 {
        if alice.get("/profile").await.status == StatusCode::SEE_OTHER {
            signed_out = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(signed_out);
    assert_eq!(admin.get("/admin").await.status, StatusCode::OK);
}
