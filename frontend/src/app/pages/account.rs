use leptos::prelude::*;
use leptos_meta::Title;

use crate::app::{
    api::my_events,
    components::{EventTable, LoadError, Notice, UserFacts},
    types::UserResource,
};

/// The signed-in user's account: who they are, the way to change their
/// password, and what happened to the account lately (sign-ins with where
/// from, refused attempts, password changes, sessions ended and why).
#[component]
pub fn AccountPage() -> impl IntoView {
    let user = expect_context::<UserResource>();
    let events = Resource::new_blocking(|| (), |_| my_events());
    view! {
        <Title text="Account"/>
        <section class="card">
            <h1>"Account"</h1>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    user.await.ok().flatten().map(|u| {
                        view! {
                            <UserFacts user=u ids=false/>
                            <p class="actions">
                                <a class="button" rel="external" href="/account/password">"Change password"</a>
                                <a class="button secondary" rel="external" href="/account/security">"Two-step verification"</a>
                                <a class="button secondary" rel="external" href="/sessions">"Your sessions"</a>
                            </p>
                        }
                    })
                })}
            </Suspense>
        </section>
        <section class="card">
            <h2>"Recent security events"</h2>
            <p class="lead">"Anything you do not recognise? Change your password: that signs out every other device."</p>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match events.await {
                        Err(e) => view! { <LoadError error=e/> }.into_any(),
                        Ok(page) if page.events.is_empty() => view! {
                            <Notice kind="info">"Nothing yet."</Notice>
                        }
                            .into_any(),
                        Ok(page) => view! { <EventTable events=page.events everyone=false/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
