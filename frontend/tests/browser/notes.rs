//! The notes example behind Cloakroom (`/notes`), in a real browser: read on
//! the server, added through the proxy with JavaScript or by a form post
//! without it.

use fantoccini::Locator;

use crate::{
    chrome::{Browser, Js},
    harness::{Options, PASSWORD, spawn_with_notes},
};

with_and_without_javascript!(keep_notes);

const NOTES: Locator<'static> = Locator::Css("main #notes li");

async fn keep_notes(js: Js) {
    let (stack, _dir) = spawn_with_notes(Options { localhost: true, ..Options::default() }).await;
    stack.add_user("alice", &[]).await;
    let Some(browser) = Browser::open(&stack.front_base, js).await else { return };

    browser.goto("/notes").await;
    browser.wait_for_location("/login?next=%2Fnotes").await;
    browser.submit_sign_in("alice", PASSWORD).await;
    browser.wait_for_location("/notes").await;
    browser.wait_for_text(Locator::Css("main h1"), "Your notes").await;
    browser.wait_for_text(Locator::Css("main #no-notes"), "No notes yet.").await;

    for (n, text) in ["Buy oat milk", "Call the plumber"].into_iter().enumerate() {
        browser.wait_for_hydration().await;
        browser.mark_document().await;
        let field = browser.find(Locator::Css("#note-text")).await;
        field.send_keys(text).await.unwrap();
        browser
            .click(Locator::XPath("//form[@id='add-note']//button[normalize-space()='Add note']"))
            .await;
        let notes = browser.wait_for_count(NOTES, n + 1).await;
        assert!(notes[0].contains(text), "newest first: {notes:?}");
        // With JavaScript the note went to the notes API through the proxy
        // and the list was read again in place; without, a post and a 303.
        assert_eq!(browser.same_document().await, browser.hydrates(), "added in place?");
        browser.wait_for_location("/notes").await;
    }
    browser.assert_scripts_see_nothing().await;
    browser.screenshot("notes.png").await;
    browser.close().await;
}
