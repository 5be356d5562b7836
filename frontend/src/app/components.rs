//! Pieces several pages share.

use leptos::{form::ActionForm, prelude::*};
use leptos_router::hooks::{use_location, use_navigate};

use super::{UserResource, api::Logout};

/// Where signing out lands: the home page, saying whether the auth-api
/// confirmed the end of the session or only this browser forgot it.
pub fn signed_out_path(ended: bool) -> &'static str {
    if ended { "/?signed_out=1" } else { "/?signed_out=local" }
}

/// The site header: where you are, who you are, and the way out.
#[component]
pub fn Header() -> impl IntoView {
    let user = expect_context::<UserResource>();
    let logout = expect_context::<ServerAction<Logout>>();
    // With JavaScript the form is sent in the background: once it answers,
    // the user resource reloads (the header shows "Sign in" at once) and the
    // router goes home. Without it, the server answers the POST with a 303.
    let navigate = use_navigate();
    let on_login = use_location().pathname.get_untracked() == "/login";
    Effect::new(move |_| {
        if let Some(Ok(ended)) = logout.value().get() {
            navigate(signed_out_path(ended), Default::default());
        }
    });
    view! {
        <header class="site-header">
            <a class="skip-link" href="#main">"Skip to content"</a>
            <a class="brand" rel="external" href="/">
                <span class="brand-mark" aria-hidden="true">"▣"</span>
                "Cloakroom"
            </a>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match user.await {
                        Ok(Some(u)) => {
                            let admin = u.is_admin();
                            view! {
                                <nav aria-label="Main">
                                    <a rel="external" href="/profile">"Profile"</a>
                                    <a rel="external" href="/sessions">"Sessions"</a>
                                    {admin.then(|| view! { <a rel="external" href="/admin">"Admin"</a> })}
                                </nav>
                                <div class="who">
                                    <span class="username" title="Signed in">{u.username}</span>
                                    <ActionForm action=logout attr:class="inline-form">
                                        <button type="submit" class="button secondary">"Sign out"</button>
                                    </ActionForm>
                                </div>
                            }
                                .into_any()
                        }
                        _ => view! {
                            <nav aria-label="Main"></nav>
                            <div class="who">
                                // No link to the page one is already on.
                                {(!on_login)
                                    .then(|| view! { <a class="button" rel="external" href="/login">"Sign in"</a> })}
                            </div>
                        }
                            .into_any(),
                    }
                })}
            </Transition>
        </header>
    }
}

/// A short message in a box; `kind` is `error`, `info` or `success`.
#[component]
pub fn Notice(kind: &'static str, children: Children) -> impl IntoView {
    let role = if kind == "error" { "alert" } else { "status" };
    view! { <div class=format!("notice {kind}") role=role>{children()}</div> }
}

/// What a page shows when its data could not be loaded.
#[component]
pub fn LoadError(error: ServerFnError) -> impl IntoView {
    let message = match error {
        ServerFnError::ServerError(msg) => msg,
        _ => "Something went wrong loading this page. Please try again.".to_owned(),
    };
    view! { <Notice kind="error">{message}</Notice> }
}
