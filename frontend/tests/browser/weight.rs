//! What a first visit downloads: the hydration bundle only when scripts may
//! run. With JavaScript off, not one byte of it (no preload links, whose
//! downloads browsers start whatever the setting).

use crate::{
    chrome::{Browser, Js},
    harness::spawn_on_localhost,
};

with_and_without_javascript!(first_visit_fetches_the_bundle_only_with_javascript);

async fn first_visit_fetches_the_bundle_only_with_javascript(js: Js) {
    let stack = spawn_on_localhost().await;
    let Some(browser) = Browser::open(&stack.front_base, js).await else { return };

    browser.goto("/login").await;
    let fetched = browser.resources_fetched().await;
    let scripts: Vec<_> =
        fetched.iter().filter(|url| url.ends_with(".js") || url.ends_with(".wasm")).collect();
    if browser.hydrates() {
        for kind in [".js", ".wasm"] {
            assert!(
                scripts.iter().any(|url| url.contains("/pkg/") && url.ends_with(kind)),
                "a {kind} file of the bundle should have been fetched: {fetched:?}"
            );
        }
    } else if js == Js::Off {
        assert!(scripts.is_empty(), "JavaScript is off, yet fetched {scripts:?}");
        assert!(
            fetched.iter().any(|url| url.ends_with(".css")),
            "the resource log should list the stylesheet at least: {fetched:?}"
        );
    }
    browser.close().await;
}
