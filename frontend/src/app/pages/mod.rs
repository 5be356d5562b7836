//! One module per page of the design, and the routes that load each page's
//! code on demand.
//!
//! Every page but sign-in and "not found" is a lazy route: in the browser
//! its code is a chunk of its own (`scripts/wasm.sh` splits the bundle with
//! wasm-split), fetched when the page hydrates, so a visit downloads the
//! shell and the page it shows rather than all of them. Sign-in stays in the
//! shell: it is where nearly every first visit lands (a protected page sends
//! a stranger there), and its chunks would cost that visit requests of their
//! own. On the server nothing is split: `view` renders the page.

pub mod account;
pub mod admin;
pub mod audit;
pub mod home;
pub mod login;
pub mod not_found;
pub mod notes;
pub mod password;
pub mod profile;
pub mod security;
pub mod sessions;
pub mod verify;

use leptos::prelude::*;
use leptos_router::{LazyRoute, lazy_route};

// Written out one by one, not by a macro: `#[lazy_route]` names each split
// point after the line it is written on, so two from one macro would clash.

pub struct HomeRoute;
#[lazy_route]
impl LazyRoute for HomeRoute {
    fn data() -> Self {
        Self
    }
    fn view(_this: Self) -> AnyView {
        view! { <home::HomePage/> }.into_any()
    }
}

pub struct VerifyRoute;
#[lazy_route]
impl LazyRoute for VerifyRoute {
    fn data() -> Self {
        Self
    }
    fn view(_this: Self) -> AnyView {
        view! { <verify::VerifyPage/> }.into_any()
    }
}

pub struct ProfileRoute;
#[lazy_route]
impl LazyRoute for ProfileRoute {
    fn data() -> Self {
        Self
    }
    fn view(_this: Self) -> AnyView {
        view! { <profile::ProfilePage/> }.into_any()
    }
}

pub struct SessionsRoute;
#[lazy_route]
impl LazyRoute for SessionsRoute {
    fn data() -> Self {
        Self
    }
    fn view(_this: Self) -> AnyView {
        view! { <sessions::SessionsPage/> }.into_any()
    }
}

pub struct NotesRoute;
#[lazy_route]
impl LazyRoute for NotesRoute {
    fn data() -> Self {
        Self
    }
    fn view(_this: Self) -> AnyView {
        view! { <notes::NotesPage/> }.into_any()
    }
}

pub struct AccountRoute;
#[lazy_route]
impl LazyRoute for AccountRoute {
    fn data() -> Self {
        Self
    }
    fn view(_this: Self) -> AnyView {
        view! { <account::AccountPage/> }.into_any()
    }
}

pub struct PasswordRoute;
#[lazy_route]
impl LazyRoute for PasswordRoute {
    fn data() -> Self {
        Self
    }
    fn view(_this: Self) -> AnyView {
        view! { <password::PasswordPage/> }.into_any()
    }
}

pub struct SecurityRoute;
#[lazy_route]
impl LazyRoute for SecurityRoute {
    fn data() -> Self {
        Self
    }
    fn view(_this: Self) -> AnyView {
        view! { <security::SecurityPage/> }.into_any()
    }
}

pub struct AdminRoute;
#[lazy_route]
impl LazyRoute for AdminRoute {
    fn data() -> Self {
        Self
    }
    fn view(_this: Self) -> AnyView {
        view! { <admin::AdminPage/> }.into_any()
    }
}

pub struct AuditRoute;
#[lazy_route]
impl LazyRoute for AuditRoute {
    fn data() -> Self {
        Self
    }
    fn view(_this: Self) -> AnyView {
        view! { <audit::AuditPage/> }.into_any()
    }
}
