//! Two-step verification in a real browser: setting up an authenticator app
//! from the account's security page (the key read off the page, codes
//! computed like the user's app would), the recovery codes shown once, and
//! signing in again in two steps.

use auth_api::clock::Clock as _;
use fantoccini::Locator;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::{
    chrome::{Browser, Js},
    harness::{PASSWORD, spawn_on_localhost},
};

with_and_without_javascript!(set_up_an_app_then_sign_in_with_a_code);

const ALERT: Locator<'static> = Locator::XPath("//main//*[@role='alert']");

async fn set_up_an_app_then_sign_in_with_a_code(js: Js) {
    let stack = spawn_on_localhost().await;
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
    browser.expect_refusal("/login/verify", 400);
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

with_and_without_javascript!(passkeys_sign_in_alone_and_after_the_password);

const ADD_PASSKEY: Locator<'static> = Locator::XPath("//button[normalize-space()='Add a passkey']");
const PASSKEY_SIGN_IN: Locator<'static> =
    Locator::XPath("//button[normalize-space()='Sign in with a passkey']");

/// The `amr` of the access token in this browser's session cookie.
async fn amr_of(browser: &Browser, stack: &crate::harness::Stack) -> Vec<String> {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let cookie = browser.client.get_named_cookie(crate::harness::COOKIE).await.unwrap();
    let frontend::session::cookie::Opened::Valid { cookie, .. } =
        stack.front.codec.open(cookie.value())
    else {
        panic!("the session cookie opens")
    };
    let payload = URL_SAFE_NO_PAD.decode(cookie.access_token.split('.').nth(1).unwrap()).unwrap();
    serde_json::from_slice::<shared::AccessClaims>(&payload).unwrap().amr
}

async fn sign_out(browser: &Browser) {
    browser.click(Locator::XPath("//header//button[normalize-space()='Sign out']")).await;
    browser
        .wait_for_text(Locator::XPath("//main//*[@role='status']"), "You have signed out.")
        .await;
}

async fn passkeys_sign_in_alone_and_after_the_password(js: Js) {
    let stack = spawn_on_localhost().await;
    stack.add_user("alice", &[]).await;
    let Some(browser) = Browser::open(&stack.front_base, js).await else { return };
    browser.goto("/login").await;
    browser.submit_sign_in("alice", PASSWORD).await;
    browser.wait_for_location("/profile").await;
    browser.goto("/account/security").await;
    browser.wait_for_text(Locator::Id("passkeys"), "No passkeys yet").await;
    if !browser.hydrates() {
        // WebAuthn needs JavaScript: no passkey control anywhere, the rest works.
        assert!(browser.client.find_all(ADD_PASSKEY).await.unwrap().is_empty());
        sign_out(&browser).await;
        browser.goto("/login").await;
        browser.field("Password").await;
        assert!(browser.client.find_all(PASSKEY_SIGN_IN).await.unwrap().is_empty());
        browser.close().await;
        return;
    }
    let authenticator = browser.add_virtual_authenticator().await;

    // Register: named, made by the (virtual) authenticator, the first
    // factor's recovery codes shown once.
    browser.field("Name for a new passkey").await.send_keys("Work laptop").await.unwrap();
    browser.click(ADD_PASSKEY).await;
    browser.wait_for_count(Locator::Css("#recovery-codes li"), 10).await;
    let held = browser.authenticator_credentials(&authenticator).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["isResidentCredential"], true, "a discoverable credential");
    browser.click(Locator::XPath("//a[normalize-space()='Done']")).await;
    browser.wait_for_text(Locator::Css("#passkeys li"), "Work laptop").await;
    browser.screenshot("passkeys.png").await;
    assert_eq!(amr_of(&browser, &stack).await, ["pwd", "hwk"], "registering proved it here");

    // Alone: no username, no password.
    sign_out(&browser).await;
    browser.goto("/login").await;
    browser.click(PASSKEY_SIGN_IN).await;
    browser.wait_for_location("/profile").await;
    assert_eq!(amr_of(&browser, &stack).await, ["hwk"]);
    browser.assert_scripts_see_nothing().await;

    // After the password, as its second factor.
    sign_out(&browser).await;
    browser.goto("/login").await;
    browser.submit_sign_in("alice", PASSWORD).await;
    browser.wait_for_location("/login/verify").await;
    browser.assert_no_session_cookie().await;
    browser.click(Locator::XPath("//button[normalize-space()='Use a passkey']")).await;
    browser.wait_for_location("/profile").await;
    assert_eq!(amr_of(&browser, &stack).await, ["pwd", "hwk"]);

    // Listed with its use; removed by a plain form; then a password suffices.
    browser.goto("/account/security").await;
    browser.wait_for_text(Locator::Css("#passkeys li"), "last used").await;
    browser
        .click(Locator::XPath("//li[@data-name='Work laptop']//button[normalize-space()='Remove']"))
        .await;
    browser.wait_for_location("/account/security?passkey_removed=1").await;
    browser.wait_for_text(Locator::Id("passkeys"), "No passkeys yet").await;
    sign_out(&browser).await;
    browser.goto("/login").await;
    browser.submit_sign_in("alice", PASSWORD).await;
    browser.wait_for_location("/profile").await;
    // The authenticator still holds the credential; the site no longer knows it.
    sign_out(&browser).await;
    browser.goto("/login").await;
    browser.expect_refusal("/api/passkey_sign_in", 400);
    browser.click(PASSKEY_SIGN_IN).await;
    browser
        .wait_for_text(Locator::XPath("//main//*[@role='alert']"), "That passkey did not work")
        .await;
    browser.close().await;
}
