//! The admin page, reached from the header, signing a user out everywhere.

use awc::http::StatusCode;
use fantoccini::Locator;
use shared::Role;

use crate::{
    chrome::{Browser, Deadline, Js},
    harness::{PASSWORD, spawn_on_localhost},
};

with_and_without_javascript!(
    admin_signs_a_user_out_everywhere,
    admin_reads_the_audit_log,
    admin_creates_a_user_who_must_change_the_temporary_password,
    admin_confirms_the_password_before_disabling_a_user
);

fn user_row(name: &str) -> String {
    format!("//main//table//tr[th[@scope='row' and normalize-space()={name:?}]]")
}

async fn admin_signs_a_user_out_everywhere(js: Js) {
    let stack = spawn_on_localhost().await;
    stack.add_user("alice", &[]).await;
    stack.add_user("admin", &[Role::Admin]).await;
    let alice = stack.browser();
    alice.sign_in_ok("alice").await;

    let Some(browser) = Browser::open(&stack.front_base, js).await else { return };
    browser.goto("/login").await;
    browser.submit_sign_in("admin", PASSWORD).await;
    browser.wait_for_location("/profile").await;
    browser.wait_for_text(Locator::XPath("//main//dd"), "admin").await;

    browser.click(Locator::XPath("//header//nav//a[normalize-space()='Admin']")).await;
    browser.wait_for_location("/admin").await;
    let alice_row = user_row("alice");
    let admin_row = user_row("admin");
    let row = browser.wait_for_text(Locator::XPath(&alice_row), "alice").await;
    assert!(row.contains("user"), "roles are shown: {row:?}");
    browser.wait_for_text(Locator::XPath(&admin_row), "admin").await;
    let live = format!("{alice_row}/td[contains(@class,'count')]");
    assert_eq!(browser.find(Locator::XPath(&live)).await.text().await.unwrap(), "1");
    browser.assert_scripts_see_nothing().await;
    browser.screenshot("admin.png").await;

    browser
        .click(Locator::XPath(&format!(
            "{alice_row}//button[normalize-space()='Sign out everywhere']"
        )))
        .await;
    browser.wait_for_text(Locator::XPath(&live), "0").await;
    assert_eq!(browser.location().await, "/admin");
    let button = browser
        .find(Locator::XPath(&format!(
            "{alice_row}//button[normalize-space()='Sign out everywhere']"
        )))
        .await;
    assert!(!button.is_enabled().await.unwrap(), "nothing left to sign out");

    let deadline = Deadline::new("alice to be signed out");
    loop {
        let page = alice.get("/profile").await;
        if page.status == StatusCode::SEE_OTHER {
            break;
        }
        deadline.tick(page.status).await;
    }

    // Signing oneself out everywhere is signing out: home, header signed out.
    // The hydrated admin page asks for its list once more on the way (a
    // request that could be spared), refused now.
    browser.expect_refusal("/api/admin_users", 401);
    browser.wait_for_hydration().await;
    browser
        .click(Locator::XPath(&format!(
            "{admin_row}//button[normalize-space()='Sign out everywhere']"
        )))
        .await;
    browser
        .wait_for_text(Locator::XPath("//main//*[@role='status']"), "You have signed out.")
        .await;
    browser.find(Locator::XPath("//header//a[normalize-space()='Sign in']")).await;
    browser.assert_no_session_cookie().await;
    browser.close().await;
}

async fn admin_reads_the_audit_log(js: Js) {
    let stack = spawn_on_localhost().await;
    stack.add_user("alice", &[]).await;
    stack.add_user("admin", &[Role::Admin]).await;
    let alice = stack.browser();
    alice.sign_in_ok("alice").await;
    assert_eq!(
        stack.browser().sign_in("alice", "a wrong guess").await.status,
        StatusCode::BAD_REQUEST
    );

    let Some(browser) = Browser::open(&stack.front_base, js).await else { return };
    browser.goto("/login").await;
    browser.submit_sign_in("admin", PASSWORD).await;
    browser.wait_for_location("/profile").await;
    browser.click(Locator::XPath("//header//nav//a[normalize-space()='Audit log']")).await;
    browser.wait_for_location("/admin/audit").await;
    browser.wait_for_text(Locator::Css("main h1"), "Audit log").await;
    // Newest first: the admin's own sign-in, then alice's refused one.
    let rows = browser.wait_for_count(Locator::XPath("//main//tr[@data-kind]"), 5).await;
    assert!(rows[0].contains("Signed in") && rows[0].contains("admin"), "{rows:?}");
    assert!(rows[1].contains("Sign-in refused") && rows[1].contains("alice"), "{rows:?}");
    browser.assert_scripts_see_nothing().await;
    browser.screenshot("audit.png").await;

    // Filter by user and type with the form (a GET: the view has an address).
    let user = browser.find(Locator::Css("form.filters input[name='user']")).await;
    user.send_keys("alice").await.unwrap();
    let select = browser.find(Locator::Css("form.filters select[name='type']")).await;
    select.select_by_value("sign_in_failed").await.unwrap();
    browser.click(Locator::XPath("//form[contains(@class,'filters')]//button")).await;
    browser.wait_for_location("/admin/audit?user=alice&type=sign_in_failed").await;
    let rows = browser.wait_for_count(Locator::XPath("//main//tr[@data-kind]"), 1).await;
    assert!(rows[0].contains("bad_credentials"), "{rows:?}");
    browser.resize(390, 844).await;
    browser.goto("/admin/audit").await;
    browser.wait_for_count(Locator::XPath("//main//tr[@data-kind]"), 5).await;
    browser.screenshot("audit-phone.png").await;
    browser.close().await;
}

async fn admin_creates_a_user_who_must_change_the_temporary_password(js: Js) {
    let stack = spawn_on_localhost().await;
    stack.add_user("admin", &[Role::Admin]).await;
    let Some(browser) = Browser::open(&stack.front_base, js).await else { return };
    browser.goto("/login").await;
    browser.submit_sign_in("admin", PASSWORD).await;
    browser.wait_for_location("/profile").await;
    browser.goto("/admin").await;

    browser.field("Username").await.send_keys("dana").await.unwrap();
    browser
        .click(Locator::XPath(
            "//form[@action='/admin#new-user']//button[normalize-space()='Create user']",
        ))
        .await;
    let temporary = browser.wait_for_text(Locator::Css("code.temporary-password"), "").await;
    assert!(temporary.len() >= 32, "{temporary:?}");
    let row = browser.wait_for_text(Locator::XPath(&user_row("dana")), "dana").await;
    assert!(row.contains("Temporary password"), "{row}");
    browser.screenshot("admin-new-user.png").await;
    browser.resize(390, 844).await;
    browser.screenshot("admin-new-user-phone.png").await;
    browser.resize(1280, 900).await;

    // Disable and enable again with the row's buttons.
    let dana_row = user_row("dana");
    browser
        .click(Locator::XPath(&format!("{dana_row}//button[normalize-space()='Disable']")))
        .await;
    browser
        .wait_for_text(
            Locator::XPath(&format!("{dana_row}/td[contains(@class,'status')]")),
            "Disabled",
        )
        .await;
    browser.click(Locator::XPath(&format!("{dana_row}//button[normalize-space()='Enable']"))).await;
    browser
        .wait_for_text(
            Locator::XPath(&format!("{dana_row}/td[contains(@class,'status')]")),
            "Temporary password",
        )
        .await;

    // Dana signs in with it and is held at the change form until she changes it.
    browser.client.delete_all_cookies().await.unwrap();
    browser.goto("/login").await;
    browser.submit_sign_in("dana", &temporary).await;
    browser.wait_for_location("/account/password?required=1").await;
    browser.wait_for_text(Locator::XPath("//main//*[@role='status']"), "temporary password").await;
    browser.goto("/sessions").await;
    browser.wait_for_location("/account/password?required=1").await;
    for (label, value) in [("Current password", temporary.as_str()), ("New password", NEW_PASSWORD)]
    {
        browser.field(label).await.send_keys(value).await.unwrap();
    }
    browser
        .click(Locator::XPath("//form[@action='/account/password']//button[@type='submit']"))
        .await;
    browser.wait_for_location("/account/password?changed=1").await;
    browser.goto("/sessions").await;
    browser.wait_for_location("/sessions").await;
    browser.wait_for_text(Locator::Css("main h1"), "Your sessions").await;
    browser.assert_scripts_see_nothing().await;
    browser.close().await;
}

const NEW_PASSWORD: &str = "vellum tortoise quarry gazebo";

async fn admin_confirms_the_password_before_disabling_a_user(js: Js) {
    let stack = spawn_on_localhost().await;
    stack.add_user("admin", &[Role::Admin]).await;
    stack.add_user("bob", &[]).await;
    let Some(browser) = Browser::open(&stack.front_base, js).await else { return };
    browser.goto("/login").await;
    browser.submit_sign_in("admin", PASSWORD).await;
    browser.wait_for_location("/profile").await;
    // Eleven minutes later: REAUTH_MAX_AGE (600 s) has passed.
    stack.clock.advance(660);
    browser.goto("/admin").await;
    let bob = user_row("bob");
    let disable = format!("{bob}//button[normalize-space()='Disable']");
    browser.wait_for_hydration().await;
    browser.click(Locator::XPath(&disable)).await;
    browser.wait_for_location("/login?reauth=1&next=%2Fadmin").await;
    browser.wait_for_text(Locator::Css("main h1"), "Confirm it").await;
    let username = browser.field("Username").await;
    assert_eq!(username.prop("value").await.unwrap().as_deref(), Some("admin"));
    browser.screenshot("reauth.png").await;
    browser.field("Password").await.send_keys(PASSWORD).await.unwrap();
    browser.click(Locator::XPath("//main//form//button[normalize-space()='Confirm']")).await;
    browser.wait_for_location("/admin").await;
    browser.click(Locator::XPath(&disable)).await;
    browser
        .wait_for_text(Locator::XPath(&format!("{bob}/td[contains(@class,'status')]")), "Disabled")
        .await;
    browser.close().await;
}
