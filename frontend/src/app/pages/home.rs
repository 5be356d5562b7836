use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::app::{components::Notice, types::UserResource};

#[component]
pub fn HomePage() -> impl IntoView {
    let user = expect_context::<UserResource>();
    let query = use_query_map();
    let signed_out = move || query.read().get("signed_out");
    view! {
        <Title text="Home"/>
        {move || match signed_out().as_deref() {
            Some("1") => Some(view! { <Notice kind="success">"You have signed out."</Notice> }.into_any()),
            Some(_) => Some(
                view! {
                    <Notice kind="info">
                        "You are signed out of this browser, but the sign-in service could not be reached "
                        "to end the session. It will end on its own; to be sure, sign in again and end it "
                        "from the Sessions page."
                    </Notice>
                }
                    .into_any(),
            ),
            None => None,
        }}
        <section class="hero">
            <Suspense fallback=|| view! { <h1>"Cloakroom"</h1> }>
                {move || Suspend::new(async move {
                    match user.await {
                        Ok(Some(u)) => view! {
                            <h1>"Welcome back, " {u.username} "."</h1>
                            <p class="lead">
                                "Your session is checked on the server before every page is drawn. "
                                "Nothing in this browser can be used to act as you."
                            </p>
                            <p class="actions">
                                <a class="button" rel="external" href="/profile">"Your profile"</a>
                                <a class="button secondary" rel="external" href="/sessions">"Your sessions"</a>
                            </p>
                        }
                            .into_any(),
                        _ => view! {
                            <h1>"Cloakroom"</h1>
                            <p class="lead">
                                "A session layer for server-rendered apps. Your session lives on the server; "
                                "this browser only keeps a sealed, HttpOnly cookie, never a token."
                            </p>
                            <p class="actions">
                                <a class="button" rel="external" href="/login">"Sign in"</a>
                            </p>
                        }
                            .into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
