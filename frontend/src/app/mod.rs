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
    SsrMode,
    components::{Route, Router, Routes},
    path,
};

use self::{
    components::Header,
    hydration::{HydrationBundle, HydrationScript},
    pages::{
        account::AccountPage, admin::AdminPage, audit::AuditPage, home::HomePage, login::LoginPage,
        not_found::NotFoundPage, notes::NotesPage, password::PasswordPage, profile::ProfilePage,
        security::SecurityPage, sessions::SessionsPage, verify::VerifyPage,
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
    // Marks the document once the browser half has taken over, so that
    // browser tests (and curious people) can tell a hydrated page.
    Effect::new(|_| {
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-hydrated", "true");
        }
    });

    // Every route renders in `Async` mode: the whole page is produced before
    // the first byte is sent, so status codes and headers set while rendering
    // (404, no-store) take effect, and nothing depends on JavaScript to
    // stream in late content.
    view! {
        <Title formatter=|page: String| format!("{page} · Cloakroom")/>
        <Router>
            <Header/>
            <main id="main">
                <Routes fallback=|| view! { <NotFoundPage/> }>
                    // Links between pages are plain (`rel="external"`): every page
                    // view is a request the server's guard decides on, with or
                    // without JavaScript.
                    <Route path=path!("/") view=HomePage ssr=SsrMode::Async/>
                    <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async/>
                    <Route path=path!("/login/verify") view=VerifyPage ssr=SsrMode::Async/>
                    <Route path=path!("/profile") view=ProfilePage ssr=SsrMode::Async/>
                    <Route path=path!("/sessions") view=SessionsPage ssr=SsrMode::Async/>
                    <Route path=path!("/notes") view=NotesPage ssr=SsrMode::Async/>
                    <Route path=path!("/account") view=AccountPage ssr=SsrMode::Async/>
                    <Route path=path!("/account/password") view=PasswordPage ssr=SsrMode::Async/>
                    <Route path=path!("/account/security") view=SecurityPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin") view=AdminPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/audit") view=AuditPage ssr=SsrMode::Async/>
                </Routes>
            </main>
            <footer class="site-footer">
                <p>"Cloakroom keeps your session on the server. This browser holds only a sealed cookie."</p>
            </footer>
        </Router>
    }
}
