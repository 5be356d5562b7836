//! Two-step verification in a real browser: setting up an authenticator app
//! from the account's security page (the key read off the page, codes
//! computed like the user's app would), the recovery codes shown once, and
//! signing in again in two steps.

use auth_api::clock::Clock as _;
use fantoccini::Locator;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::{
    chrome::{Browser, Js},
    harness::{PASSWORD, spawn},
};

with_and_without_javascript!(set_up_an_app_then_sign_in_with_a_code);

const ALERT: Locator<'static> = Locator::XPath("//main//*[@role='alert']");

async fn set_up_an_app_then_sign_in_with_a_code(js: Js) {
    let stack = spawn().await;
    stack.add_user("alice", &[]).await;
    let Some(browser) = Browser::open(&stack.front_base, js).await else { return };
    browser.goto("/login").await;
    browser.submit_sign_in("alice", PASSWORD).await;
    browser.wait_for_location("/profile").await;

    browser.goto("/account").await;
    browser.click(Locator::XPath("//main//a[normalize-space()='Two-step verification']")).await;
    browser.wait_for_location("/account/security").await;
    browser
        .click(Locator::XPath("//button[normalize-space()='Set up an authenticator app']"))
        .await;
    let key = browser.find(Locator::Id("totp-secret")).await.text().await.unwrap();
    assert_eq!(key.len(), 32, "{key}");
    browser.find(Locator::Css(".qr svg")).await;
    browser.screenshot("totp-setup.png").await;
    let secret = Secret::Encoded(key).to_bytes().unwrap();
    let app = TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, secret);
    let code_now = || app.generate(stack.clock.now() as u64);

    let field = browser.field("Then enter the code the app shows").await;
    field.send_keys(&code_now()).await.unwrap();
    browser.click(Locator::XPath("//button[normalize-space()='Turn on']")).await;
    let codes = browser.wait_for_count(Locator::Css("#recovery-codes li"), 10).await;
    assert!(codes.iter().all(|c| c.len() == 11), "{codes:?}");
    browser.screenshot("recovery-codes.png").await;
    browser.assert_scripts_see_nothing().await;

    // Out, and in again: the password, then a code.
    browser.click(Locator::XPath("//header//button[normalize-space()='Sign out']")).await;
    browser
        .wait_for_text(Locator::XPath("//main//*[@role='status']"), "You have signed out.")
        .await;
    browser.goto("/login").await;
    browser.submit_sign_in("alice", PASSWORD).await;
    browser.wait_for_location("/login/verify").await;
    browser.wait_for_text(Locator::Css("main"), "Signing in as alice").await;
    browser.assert_no_session_cookie().await;
    browser.screenshot("verify.png").await;
    // The code that switched the app on is used up.
    browser.field("Code from your authenticator app").await.send_keys(&code_now()).await.unwrap();
    browser.click(Locator::XPath("//button[normalize-space()='Verify']")).await;
    browser.wait_for_text(ALERT, "That code did not work").await;
    browser.assert_no_session_cookie().await;
    stack.clock.advance(30);
    let field = browser.field("Code from your authenticator app").await;
    field.clear().await.unwrap();
    field.send_keys(&code_now()).await.unwrap();
    browser.click(Locator::XPath("//button[normalize-space()='Verify']")).await;
    browser.wait_for_location("/profile").await;
    browser.assert_scripts_see_nothing().await;
    browser.goto("/account/security").await;
    browser.wait_for_text(Locator::Id("recovery-left"), "10 of 10").await;
    browser.close().await;
}
