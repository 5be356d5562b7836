//! Browser end-to-end tests: the real auth-api and the real frontend (the
//! `e2e` harness), driven by headless Chromium through chromedriver.
//!
//! Every scenario runs twice, as two tests: with JavaScript on (hydrated when
//! the wasm bundle has been built, plain HTML otherwise) and with it off.
//! Needs Debian's `chromium` and `chromium-driver`; without them each test
//! says so and passes, unless `BROWSER_E2E=1` (then it fails). Set
//! `SCREENSHOTS_DIR` to keep PNGs of the main pages from the JavaScript run.

// The e2e binary's harness, shared as is; not every helper is used here.
#[allow(dead_code)]
#[path = "../e2e/harness.rs"]
mod harness;

mod chrome;

/// Runs each scenario `fn name(js: Js)` as two tests,
/// `name::javascript_on` and `name::javascript_off`.
macro_rules! with_and_without_javascript {
    ($($scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            #[actix_web::test]
            async fn javascript_on() {
                super::$scenario($crate::chrome::Js::On).await
            }

            #[actix_web::test]
            async fn javascript_off() {
                super::$scenario($crate::chrome::Js::Off).await
            }
        }
    )+};
}

mod account;
mod admin;
mod notes;
mod second_factors;
mod sessions;
mod weight;
