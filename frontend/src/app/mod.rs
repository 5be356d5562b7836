//! The Leptos application: the HTML shell, the router and the pages.
//!
//! This module compiles for both halves: the server renders it (after the
//! guard has decided who is signed in) and, with hydration, the browser takes
//! it over. Pages read data through server functions in [`api`], so the
//! same component works in both places; on the server those functions read
//! the guard's decision from the request, never the cookie.

pub mod api;
mod components;
pub mod format;
pub mod hydration;
mod pages;
mod passkeys;
pub mod paths;
pub mod types;
pub mod webauthn;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::{
    Lazy, SsrMode,
    components::{Route, Router, Routes},
    path,
};

use self::{
    components::Header,
    hydration::{HydrationBundle, HydrationScript},
    pages::{
        AccountRoute, AdminRoute, AuditRoute, HomeRoute, NotesRoute, PasswordRoute, ProfileRoute,
        SecurityRoute, SessionsRoute, VerifyRoute, login::LoginPage, not_found::NotFoundPage,
    },
};

/// Where the stylesheet and the icon are served; see `startup.rs`.
pub use paths::{FAVICON, STYLESHEET};

/// The whole document. The hydration script is included only when the wasm
/// bundle has been built (`bundle`); without it every page still works, as
/// it does for a browser with JavaScript off.
pub fn shell(bundle: Option<HydrationBundle>) -> impl IntoView {
    #[cfg(feature = "ssr")]
    set_page_csp();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="stylesheet" href=STYLESHEET/>
                <link rel="icon" href=FAVICON/>
                {bundle.map(|bundle| view! { <HydrationScript bundle/> })}
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// Sets this page's Content-Security-Policy around its script nonce: only
/// scripts carrying this response's nonce may run.
#[cfg(feature = "ssr")]
fn set_page_csp() {
    use actix_web::http::header::{CONTENT_SECURITY_POLICY, HeaderValue};
    use leptos::nonce::use_nonce;
    if let (Some(nonce), Some(res)) = (use_nonce(), use_context::<leptos_actix::ResponseOptions>())
        && let Ok(value) =
            HeaderValue::from_str(&crate::security::headers::page_csp(&nonce.to_string()))
    {
        res.insert_header(CONTENT_SECURITY_POLICY, value);
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Blocking: the page is not sent until this resolves (it never waits on
    // the network; the guard already decided before rendering began).
    // Signing out (from the header or the sessions page) is one action for
    // the whole app: when it completes, the user is loaded again and the
    // header changes at once, before the navigation home.
    let logout = ServerAction::<api::Logout>::new();
    provide_context(logout);
    let user: types::UserResource =
        Resource::new_blocking(move || logout.version().get(), |_| api::get_current_user());
    provide_context(user);
    // Every route renders in `Async` mode: the whole page is produced before
    // the first byte is sent, so status codes and headers set while rendering
    // (404, no-store) take effect, and nothing depends on JavaScript to
    // stream in late content. The pages but sign-in and "not found" are lazy
    // routes (`pages` says why): in the browser, each one's code is a chunk
    // of the bundle, fetched when that page hydrates.
    view! {
        <Title formatter=|page: String| format!("{page} · Cloakroom")/>
        <Router>
            <Header/>
            <main id="main">
                <Routes fallback=|| view! { <NotFoundPage/> }>
                    // Links between pages are plain (`rel="external"`): every page
                    // view is a request the server's guard decides on, with or
                    // without JavaScript.
                    <Route path=path!("/") view={Lazy::<HomeRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async/>
                    <Route path=path!("/login/verify") view={Lazy::<VerifyRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/profile") view={Lazy::<ProfileRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/sessions") view={Lazy::<SessionsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/notes") view={Lazy::<NotesRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/account") view={Lazy::<AccountRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/account/password") view={Lazy::<PasswordRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/account/security") view={Lazy::<SecurityRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/admin") view={Lazy::<AdminRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/admin/audit") view={Lazy::<AuditRoute>::new()} ssr=SsrMode::Async/>
                </Routes>
            </main>
            <footer class="site-footer">
                <p>"Cloakroom keeps your session on the server. This browser holds only a sealed cookie."</p>
            </footer>
        </Router>
    }
}
