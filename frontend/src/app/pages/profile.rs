use leptos::prelude::*;
use leptos_meta::Title;

use crate::app::UserResource;

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
                        let roles = u.roles.iter().map(|r| r.to_string()).collect::<Vec<_>>();
                        view! {
                            <dl class="facts">
                                <dt>"Username"</dt>
                                <dd class="profile-username">{u.username.clone()}</dd>
                                <dt>"Roles"</dt>
                                <dd class="profile-roles">
                                    {roles.into_iter().map(|r| view! { <span class="badge">{r}</span> }).collect_view()}
                                </dd>
                                <dt>"User id"</dt>
                                <dd><code>{u.user_id.clone()}</code></dd>
                                <dt>"This session"</dt>
                                <dd><code>{u.session_id.clone()}</code></dd>
                            </dl>
                            <p><a rel="external" href="/sessions">"See all your sessions"</a></p>
                        }
                    })
                })}
            </Suspense>
        </section>
    }
}
