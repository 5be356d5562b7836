//! Signing in through the real form, moving around, signing out.

use fantoccini::Locator;

use crate::{
    chrome::{Browser, Js},
    harness::{PASSWORD, spawn_on_localhost},
};

with_and_without_javascript!(
    sign_in_browse_and_sign_out,
    wrong_password_keeps_the_username,
    change_password_from_the_account_page
);

const HEADER_SIGN_IN: Locator<'static> = Locator::XPath("//header//a[normalize-space()='Sign in']");
const HEADER_USERNAME: Locator<'static> = Locator::XPath("//header//*[@title='Signed in']");
const PROFILE_USERNAME: Locator<'static> =
    Locator::XPath("//main//dt[normalize-space()='Username']/following-sibling::dd[1]");
const ALERT: Locator<'static> = Locator::XPath("//main//*[@role='alert']");

fn header_link(text: &str) -> String {
    format!("//header//nav//a[normalize-space()={text:?}]")
}

async fn sign_in_browse_and_sign_out(js: Js) {
    let stack = spawn_on_localhost().await;
    stack.add_user("alice", &[]).await;
    let Some(browser) = Browser::open(&stack.front_base, js).await else { return };

    browser.goto("/").await;
    browser.find(HEADER_SIGN_IN).await;
    browser.wait_for_text(Locator::Css("main h1"), "Cloakroom").await;
    browser.screenshot("home.png").await;

    browser.click(HEADER_SIGN_IN).await;
    browser.wait_for_location("/login").await;
    browser.submit_sign_in("alice", PASSWORD).await;
    browser.wait_for_location("/profile").await;
    browser.wait_for_text(PROFILE_USERNAME, "alice").await;
    assert_eq!(browser.find(HEADER_USERNAME).await.text().await.unwrap(), "alice");
    browser.assert_scripts_see_nothing().await;
    browser.screenshot("profile.png").await;

    // Around the site by the header's links.
    browser.click(Locator::XPath(&header_link("Sessions"))).await;
    browser.wait_for_location("/sessions").await;
    browser.wait_for_text(Locator::Css("main h1"), "Your sessions").await;
    browser.wait_for_text(Locator::XPath("//main//li"), "This device").await;
    browser.click(Locator::XPath(&header_link("Account"))).await;
    browser.wait_for_location("/account").await;
    browser.wait_for_text(PROFILE_USERNAME, "alice").await;
    browser.assert_scripts_see_nothing().await;

    // Out by the header's button: home, signed out, and the way back in.
    browser.wait_for_hydration().await;
    browser.mark_document().await;
    browser.click(Locator::XPath("//header//button[normalize-space()='Sign out']")).await;
    browser
        .wait_for_text(Locator::XPath("//main//*[@role='status']"), "You have signed out.")
        .await;
    // Hydrated, the header changes and the app goes home without a page
    // load; without JavaScript the form post is answered with a redirect.
    assert_eq!(browser.same_document().await, browser.hydrates(), "signed out in place?");
    let home = browser.location().await;
    assert!(
        home == "/" || home.starts_with("/?"),
        "signing out lands on the home page, not {home}"
    );
    browser.find(HEADER_SIGN_IN).await;
    assert!(browser.client.find_all(HEADER_USERNAME).await.unwrap().is_empty());
    browser.assert_no_session_cookie().await;

    browser.goto("/profile").await;
    browser.wait_for_location("/login?next=%2Fprofile").await;
    browser.field("Username").await;
    browser.close().await;
}

async fn wrong_password_keeps_the_username(js: Js) {
    let stack = spawn_on_localhost().await;
    stack.add_user("alice", &[]).await;
    let Some(browser) = Browser::open(&stack.front_base, js).await else { return };

    browser.goto("/login").await;
    browser.expect_refusal("/login", 400);
    browser.submit_sign_in("alice", "not the password").await;
    browser.wait_for_text(ALERT, "Invalid username or password").await;
    assert_eq!(browser.location().await, "/login");
    let username = browser.field("Username").await;
    assert_eq!(username.prop("value").await.unwrap().as_deref(), Some("alice"));
    let password = browser.field("Password").await;
    assert_eq!(password.prop("value").await.unwrap().as_deref(), Some(""));
    browser.assert_no_session_cookie().await;
    browser.screenshot("login-error.png").await;

    // The kept username is good as typed: only the password is needed.
    password.send_keys(PASSWORD).await.unwrap();
    browser
        .click(Locator::XPath("//form[@action='/login']//button[normalize-space()='Sign in']"))
        .await;
    browser.wait_for_location("/profile").await;
    browser.wait_for_text(PROFILE_USERNAME, "alice").await;
    browser.assert_scripts_see_nothing().await;

    // The sign-in page on a phone, signed out again.
    browser.client.delete_all_cookies().await.unwrap();
    browser.resize(390, 844).await;
    browser.goto("/login").await;
    browser.field("Username").await;
    browser.screenshot("login-phone.png").await;
    browser.close().await;
}

const NEW_PASSWORD: &str = "vellum tortoise quarry gazebo";
const CHANGE_BUTTON: Locator<'static> =
    Locator::XPath("//form[@action='/account/password']//button[@type='submit']");

/// Fills the change-password form and sends it.
async fn submit_password_change(browser: &Browser, current: &str, new: &str) {
    for (label, value) in [("Current password", current), ("New password", new)] {
        let field = browser.field(label).await;
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }
    browser.click(CHANGE_BUTTON).await;
}

async fn change_password_from_the_account_page(js: Js) {
    let stack = spawn_on_localhost().await;
    stack.add_user("alice", &[]).await;
    let phone = stack.browser();
    phone.sign_in_ok("alice").await;
    let Some(browser) = Browser::open(&stack.front_base, js).await else { return };
    browser.goto("/login").await;
    browser.submit_sign_in("alice", PASSWORD).await;
    browser.wait_for_location("/profile").await;

    browser.click(Locator::XPath(&header_link("Account"))).await;
    browser.wait_for_location("/account").await;
    browser.wait_for_text(Locator::Css("main h1"), "Account").await;
    let signed_in = "//main//table//tr[@data-kind='sign_in']";
    let rows = browser.wait_for_count(Locator::XPath(signed_in), 2).await;
    assert!(rows.iter().any(|r| r.contains("Firefox on Linux")), "the phone's sign-in: {rows:?}");
    browser.screenshot("account.png").await;

    browser.click(Locator::XPath("//main//a[normalize-space()='Change password']")).await;
    browser.wait_for_location("/account/password").await;
    // A wrong current password, then a common new one.
    browser.expect_refusal("/account/password", 403);
    browser.expect_refusal("/account/password", 400);
    submit_password_change(&browser, "not my password", NEW_PASSWORD).await;
    browser.wait_for_text(ALERT, "current password is not correct").await;

    // With JavaScript, the meter judges as one types, and the new password
    // can be shown; without it, the server's verdict comes with the page.
    browser.field("Current password").await.send_keys(PASSWORD).await.unwrap();
    let new = browser.field("New password").await;
    new.send_keys("password1234").await.unwrap();
    if browser.hydrates() {
        let label = browser.wait_for_text(Locator::Css(".strength-label"), "not accepted").await;
        assert!(label.to_lowercase().contains("weak"), "{label}");
        browser.wait_for_text(Locator::Css(".strength-message"), "common password").await;
        browser.click(Locator::XPath("//button[normalize-space()='Show']")).await;
        browser.wait_for_text(Locator::XPath("//button[@aria-pressed='true']"), "Hide").await;
        assert_eq!(new.attr("type").await.unwrap().as_deref(), Some("text"));
        browser.screenshot("password.png").await;
    } else {
        assert!(browser.client.find_all(Locator::Css("meter")).await.unwrap().is_empty());
    }
    browser.click(CHANGE_BUTTON).await;
    browser.wait_for_text(ALERT, "common password").await;

    submit_password_change(&browser, PASSWORD, NEW_PASSWORD).await;
    browser.wait_for_location("/account/password?changed=1").await;
    browser
        .wait_for_text(
            Locator::XPath("//main//*[@role='status']"),
            "Every other device has been signed out",
        )
        .await;
    phone.signed_out_within("/profile", std::time::Duration::from_secs(2)).await;
    browser.assert_scripts_see_nothing().await;

    // This browser carries on; its account page shows the change.
    browser.goto("/account").await;
    browser.wait_for_text(Locator::XPath("//main//tr[@data-kind='password_changed']"), "You").await;
    browser.resize(390, 844).await;
    browser.goto("/account/password").await;
    browser.field("New password").await;
    browser.screenshot("password-phone.png").await;
    browser.goto("/account").await;
    browser.wait_for_text(Locator::Css("main h1"), "Account").await;
    browser.screenshot("account-phone.png").await;
    browser.close().await;
}
