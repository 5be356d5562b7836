//! Administering users from the admin page, over HTTP as a browser without
//! JavaScript: creation and the forced change of the temporary password,
//! disabling, roles, deletion and the last administrator.

use std::time::{Duration, Instant};

use awc::http::StatusCode;
use shared::Role;

use crate::harness::{Browser, PASSWORD, Stack, spawn};

const NEW_PASSWORD: &str = "vellum tortoise quarry gazebo";

/// The temporary password shown on the page answering the create form.
fn temporary_password(body: &str) -> String {
    let start = body.find("temporary-password\">").expect("the password is shown") + 20;
    body[start..].split('<').next().unwrap().to_owned()
}

async fn admin(stack: &Stack) -> Browser {
    stack.add_user("root", &[Role::Admin]).await;
    let root = stack.browser();
    root.sign_in_ok("root").await;
    root
}

#[actix_web::test]
async fn a_new_user_gets_a_temporary_password_and_must_change_it_before_anything_else() {
    let stack = spawn().await;
    let root = admin(&stack).await;
    let page = root.post("/admin", &[("username", "Dana")]).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let temporary = temporary_password(&page.body);
    assert!(temporary.len() >= 32, "{temporary}");
    assert!(page.body.contains("shown only this once"));
    // Shown once: the admin page itself never shows it again.
    assert!(!root.get("/admin").await.body.contains(&temporary));
    let taken = root.post("/admin", &[("username", "dana")]).await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert!(taken.body.contains("There is already a user called dana"), "{}", taken.body);

    let dana = stack.browser();
    let signed_in = dana.sign_in("dana", &temporary).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    for path in ["/profile", "/account", "/sessions", "/admin/audit"] {
        let page = dana.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.location(), Some("/account/password?required=1"), "{path}");
    }
    let api = dana.post("/api/my_sessions", &[]).await;
    assert_eq!(api.status, StatusCode::FORBIDDEN, "server functions refuse too: {}", api.body);
    let form = dana.get("/account/password?required=1").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("temporary password"), "{}", form.body);

    let changed = dana
        .post(
            "/account/password",
            &[("current_password", &temporary), ("new_password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
    assert_eq!(changed.location(), Some("/account/password?changed=1"));
    // The very next page is an ordinary one.
    assert_eq!(dana.get("/sessions").await.status, StatusCode::OK);
    assert!(dana.get("/account").await.body.contains("dana"));
}

#[actix_web::test]
async fn a_disabled_user_is_signed_out_within_two_seconds_and_cannot_sign_in() {
    let stack = spawn().await;
    let root = admin(&stack).await;
    let alice_id = stack.add_user("alice", &[]).await;
    let alice = stack.browser();
    alice.sign_in_ok("alice").await;
    assert_eq!(alice.get("/profile").await.status, StatusCode::OK);

    let done = root
        .post("/api/admin_set_disabled", &[("user_id", alice_id.as_str()), ("disabled", "true")])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), Some("/admin"));
    alice.signed_out_within("/profile", Duration::from_secs(2)).await;
    assert_eq!(alice.sign_in("alice", PASSWORD).await.status, StatusCode::BAD_REQUEST);
    let admin_page = root.get("/admin").await.body;
    assert!(admin_page.contains("Disabled") && admin_page.contains(">Enable<"), "{admin_page}");

    root.post("/api/admin_set_disabled", &[("user_id", alice_id.as_str()), ("disabled", "false")])
        .await;
    alice.sign_in_ok("alice").await;
}

#[actix_web::test]
async fn a_removed_admin_role_closes_the_admin_page_within_two_seconds() {
    let stack = spawn().await;
    let root = admin(&stack).await;
    let bob_id = stack.add_user("bob", &[Role::Admin]).await;
    let bob = stack.browser();
    bob.sign_in_ok("bob").await;
    assert_eq!(bob.get("/admin").await.status, StatusCode::OK);

    let done = root
        .post("/api/admin_set_admin", &[("user_id", bob_id.as_str()), ("admin", "false")])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let started = Instant::now();
    loop {
        let page = bob.get("/admin").await;
        if page.status == StatusCode::FORBIDDEN {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "bob still sees /admin: {}",
            page.status
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Still signed in, as an ordinary user.
    assert_eq!(bob.get("/profile").await.status, StatusCode::OK);
    assert!(!bob.get("/").await.body.contains(r#"href="/admin""#));
}

#[actix_web::test]
async fn the_last_admin_is_kept_and_a_deleted_user_is_gone() {
    let stack = spawn().await;
    let root = admin(&stack).await;
    let name = auth_api::domain::Username::parse("root").unwrap();
    let root_id = stack.auth_state.store.find_user_by_name(&name).await.unwrap().unwrap().id;
    // A plain form post, as a browser sends it (with its page as Referer).
    let referer = format!("{}/admin", stack.front_base);
    let refused = root
        .post_with(
            "/api/admin_set_disabled",
            &[("user_id", root_id.as_str()), ("disabled", "true")],
            &[("origin", stack.front_base.as_str()), ("referer", referer.as_str())],
        )
        .await;
    // Back to the page, which shows why.
    let location = refused.location().unwrap_or_default();
    let back = location.strip_prefix(stack.front_base.as_str()).unwrap_or(location).to_owned();
    assert!(back.starts_with("/admin?"), "{location}");
    let page = root.get(&back).await;
    assert!(page.body.contains("This is the last active administrator"), "{}", page.body);
    assert_eq!(root.get("/admin").await.status, StatusCode::OK, "still an admin");

    let carol_id = stack.add_user("carol", &[]).await;
    let carol = stack.browser();
    carol.sign_in_ok("carol").await;
    let done = root.post("/api/admin_delete_user", &[("user_id", carol_id.as_str())]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    carol.signed_out_within("/profile", Duration::from_secs(2)).await;
    assert!(!root.get("/admin").await.body.contains(r#"data-username="carol""#));
}

#[actix_web::test]
async fn an_admin_confirms_the_password_after_ten_minutes_and_the_same_session_goes_on() {
    let stack = spawn().await;
    let root = admin(&stack).await;
    let bob_id = stack.add_user("bob", &[]).await;
    let session_of = |b: &Browser| match stack.front.codec.open(&b.cookie().unwrap()) {
        frontend::session::cookie::Opened::Valid { cookie, .. } => cookie.session_id,
        other => panic!("{other:?}"),
    };
    let session = session_of(&root);
    stack.clock.advance(601);

    let disable = [("user_id", bob_id.as_str()), ("disabled", "true")];
    let asked = root.post("/api/admin_set_disabled", &disable).await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER, "{}", asked.body);
    assert_eq!(asked.location(), Some("/login?reauth=1&next=%2Fadmin"));
    let prompt = root.get("/login?reauth=1&next=%2Fadmin").await;
    assert_eq!(prompt.status, StatusCode::OK, "a signed-in user is not sent on");
    assert!(
        prompt.body.contains("Confirm it") && prompt.body.contains(r#"value="root""#),
        "{}",
        prompt.body
    );

    let confirm = |password: &'static str| {
        let root = &root;
        async move {
            let form =
                [("username", "root"), ("password", password), ("next", "/admin"), ("reauth", "1")];
            root.post("/login?reauth=1", &form).await
        }
    };
    let wrong = confirm("not it").await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.body.contains("That is not your password"), "{}", wrong.body);
    let done = confirm(PASSWORD).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), Some("/admin"));
    assert_eq!(session_of(&root), session, "the same session, not a new sign-in");

    let disabled = root.post("/api/admin_set_disabled", &disable).await;
    assert_eq!(disabled.location(), Some("/admin"), "{}", disabled.body);
    assert!(root.get("/admin").await.body.contains("Disabled"));
    let audit = root.get("/admin/audit?user=root&type=reauthenticated").await.body;
    assert_eq!(audit.matches(r#"data-kind="reauthenticated""#).count(), 1, "{audit}");
}

#[actix_web::test]
async fn creating_an_administrator_after_ten_minutes_asks_for_the_password_first() {
    let stack = spawn().await;
    let root = admin(&stack).await;
    stack.clock.advance(601);
    let form = [("username", "ops"), ("admin", "true")];
    let asked = root.post("/admin", &form).await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER, "{}", asked.body);
    assert_eq!(asked.location(), Some("/login?reauth=1&next=%2Fadmin"));
    let confirm =
        [("username", "root"), ("password", PASSWORD), ("next", "/admin"), ("reauth", "1")];
    assert_eq!(root.post("/login?reauth=1", &confirm).await.location(), Some("/admin"));
    let created = root.post("/admin", &form).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    // An ordinary user needs no confirmation at all.
    stack.clock.advance(601);
    let plain = root.post("/admin", &[("username", "pat")]).await;
    assert_eq!(plain.status, StatusCode::CREATED);
}
