//! Pieces several pages share.

use leptos::{form::ActionForm, prelude::*};

use super::{UserResource, api::Logout};

/// The site header: where you are, who you are, and the way out.
#[component]
pub fn Header() -> impl IntoView {
    let user = expect_context::<UserResource>();
    let logout = ServerAction::<Logout>::new();
    view! {
        <header class="site-header">
            <a class="skip-link" href="#main">"Skip to content"</a>
            <a class="brand" href="/">
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
                                    <a href="/profile">"Profile"</a>
                                    <a href="/sessions">"Sessions"</a>
                                    {admin.then(|| view! { <a href="/admin">"Admin"</a> })}
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
                                <a class="button" href="/login">"Sign in"</a>
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
