//! # frontend
//!
//! Cloakroom's web frontend: a Leptos SSR server on actix-web that keeps each
//! browser's session in one sealed, HttpOnly cookie and swaps it for
//! short-lived access tokens from the auth-api *before* it renders a
//! protected page. The browser never sees a token. The contract is
//! `docs/DESIGN.md`.
//!
//! ## How a request flows
//!
//! 1. [`telemetry::incoming`] drops a `traceparent` that no trusted proxy sent, then
//!    `TracingLogger` opens the request's span (its request id and trace
//!    id, on every line logged for it; `shared::telemetry`); [`security::headers`]
//!    will add CSP, `nosniff`, `X-Frame-Options` and `Referrer-Policy` to the
//!    answer.
//! 2. [`security::origin`] refuses state changes (POST…) that do not come
//!    from `PUBLIC_ORIGIN`, and bodies over 16 KiB.
//! 3. [`session::guard`] decides who this is. A cookie it opened and
//!    verified before is found by its digest ([`session::known`]: about 1 µs
//!    per view); otherwise it opens the cookie ([`session::cookie`]),
//!    verifies the cached access token locally against the cached JWKS
//!    ([`session::jwks`], which remembers tokens it verified until they
//!    expire: one Ed25519 verification per token, not per view). Either way
//!    it checks the revocation set
//!    ([`session::revocations`]), and only when that fails swaps the refresh
//!    token at the auth-api ([`session::refresh`], single-flight). Protected
//!    routes are answered here (303 to sign-in, 403, 503) before anything
//!    renders; otherwise the decision goes into the request's extensions.
//! 4. The route runs: a form POST answered before rendering ([`forms`]:
//!    sign-in, password change, new user), a server function
//!    ([`app::api`]), or a Leptos page ([`app`]) rendered whole (async mode)
//!    with the decision available to components through context.
//! 5. On the way out the guard writes the cookie change (rotated, re-sealed
//!    or cleared) and marks signed-in responses `no-store`.
//!
//! The auth-api is reached only through [`auth_client`] (awc, 2 s connect and
//! 5 s total timeouts, client credentials). [`startup::Application`]
//! assembles it all.

pub mod app;

/// The browser's entry point: the wasm bundle calls this once loaded, and the
/// server-rendered page comes alive in place (the DOM is adopted, not redrawn).
///
/// Hydration is asynchronous: the page's own code is a chunk of the bundle,
/// fetched first (lazy routes, `app::pages`). Only once the whole page has
/// been adopted is the document marked `<html data-hydrated>`, so that
/// browser tests (and curious people) can tell a page that answers clicks.
/// This is `leptos::mount::hydrate_lazy`, plus that mark, plus ending the
/// hydration phase, which `hydrate_lazy` forgets (it asks for the shared
/// context outside the root owner): left on, resources made after it would
/// keep looking for data the server sent with the page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    use leptos::prelude::{Owner, document};
    use std::{cell::RefCell, rc::Rc};

    // Err: the executor was already set, which is as good.
    let _ = any_spawner::Executor::init_wasm_bindgen();
    leptos::task::spawn_local(async {
        let shared = Rc::new(RefCell::new(None));
        let slot = Rc::clone(&shared);
        let Some(body) = document().body() else { return };
        leptos::mount::hydrate_from_async(body, move || {
            *slot.borrow_mut() = Owner::current_shared_context();
            app::App()
        })
        .await
        .forget();
        if let Some(context) = shared.take() {
            context.hydration_complete();
        }
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-hydrated", "true");
        }
    });
}
#[cfg(feature = "ssr")]
pub mod assets;
#[cfg(feature = "ssr")]
pub mod auth_client;
#[cfg(feature = "ssr")]
pub mod clock;
#[cfg(feature = "ssr")]
pub mod config;
#[cfg(feature = "ssr")]
pub mod error;
#[cfg(feature = "ssr")]
pub mod forms;
#[cfg(feature = "ssr")]
pub mod metrics;
#[cfg(feature = "ssr")]
pub mod proxy;
#[cfg(feature = "ssr")]
pub mod routes;
#[cfg(feature = "ssr")]
pub mod security;
#[cfg(feature = "ssr")]
pub mod session;
#[cfg(feature = "ssr")]
pub mod startup;
#[cfg(feature = "ssr")]
pub mod state;
#[cfg(feature = "ssr")]
pub mod telemetry;
#[cfg(feature = "ssr")]
pub mod tls;
