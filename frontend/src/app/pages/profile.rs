use leptos::prelude::*;
use leptos_meta::Title;

use crate::app::{components::UserFacts, types::UserResource};

#[component]
pub fn ProfilePage() -> impl IntoView {
    let user = expect_context::<UserResource>();
    view! {
        <Title text="Profile"/>
        <section class="card">
            <h1>"Profile"</h1>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    user.await.ok().flatten().map(|u| {
                        view! {
                            <UserFacts user=u ids=true/>
                            <p><a rel="external" href="/sessions">"See all your sessions"</a></p>
                        }
                    })
                })}
            </Suspense>
        </section>
    }
}
