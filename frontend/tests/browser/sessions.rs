//! Ending another device's session from the sessions page.

use awc::http::StatusCode;
use fantoccini::Locator;

use crate::{
    chrome::{Browser, Deadline, Js},
    harness::{PASSWORD, spawn_on_localhost},
};

with_and_without_javascript!(revoke_another_device);

/// A row of the sessions list: each has its own button.
const ROWS: Locator<'static> = Locator::XPath("//main//ul/li[.//button]");
const OTHER_ROW: &str = "//main//ul/li[.//button][not(.//*[normalize-space()='This device'])]";

async fn revoke_another_device(js: Js) {
    let stack = spawn_on_localhost().await;
    stack.add_user("alice", &[]).await;
    let Some(browser) = Browser::open(&stack.front_base, js).await else { return };
    browser.goto("/login").await;
    browser.submit_sign_in("alice", PASSWORD).await;
    browser.wait_for_location("/profile").await;

    // A second device: the harness's cookie-keeping HTTP client (a Firefox).
    let laptop = stack.browser();
    laptop.sign_in_ok("alice").await;
    assert_eq!(laptop.get("/profile").await.status, StatusCode::OK);

    browser.goto("/sessions").await;
    let rows = browser.wait_for_count(ROWS, 2).await;
    assert_eq!(rows.iter().filter(|r| r.contains("This device")).count(), 1, "{rows:?}");
    let other = browser.find(Locator::XPath(OTHER_ROW)).await;
    let other_id = other.attr("data-session-id").await.unwrap().expect("rows carry their id");
    assert!(other.text().await.unwrap().contains("Firefox on Linux"), "{rows:?}");
    browser.assert_scripts_see_nothing().await;
    browser.screenshot("sessions.png").await;

    browser.mark_document().await;
    browser
        .click(Locator::XPath(&format!("{OTHER_ROW}//button[normalize-space()='Revoke']")))
        .await;
    let rows = browser.wait_for_count(ROWS, 1).await;
    assert!(rows[0].contains("This device"), "this device's row stays: {rows:?}");
    assert_eq!(browser.location().await, "/sessions");
    // Hydrated, the row goes in place; without JavaScript the form posts and
    // the browser loads the page again.
    assert_eq!(browser.same_document().await, browser.hydrates(), "revoked in place?");
    let gone = format!("//main//li[@data-session-id='{other_id}']");
    assert!(browser.client.find_all(Locator::XPath(&gone)).await.unwrap().is_empty());
    browser.assert_scripts_see_nothing().await;

    // The other device is signed out: its next page sends it to sign in.
    let deadline = Deadline::new("the revoked device to be signed out");
    loop {
        let page = laptop.get("/profile").await;
        if page.status == StatusCode::SEE_OTHER {
            assert_eq!(page.location(), Some("/login?next=%2Fprofile"));
            break;
        }
        deadline.tick(page.status).await;
    }

    // And this one is not.
    browser.goto("/profile").await;
    browser.wait_for_location("/profile").await;
    browser.wait_for_text(Locator::XPath("//header//*[@title='Signed in']"), "alice").await;
    browser.close().await;
}
