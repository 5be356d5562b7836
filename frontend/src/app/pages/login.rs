use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::app::{api::get_login_notice, components::Notice};

/// The sign-in form. A plain `<form method="post">` handled by
/// `crate::login` on the server; with JavaScript, the button also shows that
/// the request is on its way.
#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let notice = Resource::new_blocking(|| (), |_| get_login_notice());
    let pending = RwSignal::new(false);
    view! {
        <Title text="Sign in"/>
        <section class="card narrow">
            <h1>"Sign in"</h1>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let notice = notice.await.ok().flatten();
                    let username = notice.as_ref().map(|n| n.username.clone()).unwrap_or_default();
                    let has_error = notice.is_some();
                    view! {
                        {notice.map(|n| view! { <Notice kind="error">{n.message}</Notice> })}
                        <form method="post" action="/login" class="stack" on:submit=move |_| pending.set(true)>
                            <input type="hidden" name="next" value=next/>
                            <label for="username">"Username"</label>
                            <input
                                id="username"
                                name="username"
                                type="text"
                                autocomplete="username"
                                autocapitalize="none"
                                spellcheck="false"
                                required
                                maxlength="64"
                                value=username.clone()
                                autofocus=username.is_empty()
                                aria-invalid=has_error.then_some("true")
                            />
                            <label for="password">"Password"</label>
                            <input
                                id="password"
                                name="password"
                                type="password"
                                autocomplete="current-password"
                                required
                                maxlength="1024"
                                autofocus=!username.is_empty()
                                aria-invalid=has_error.then_some("true")
                            />
                            <label class="checkbox">
                                <input type="checkbox" name="remember" value="true"/>
                                "Keep me signed in on this device"
                            </label>
                            <button type="submit" class="button" disabled=move || pending.get()>
                                {move || if pending.get() { "Signing in…" } else { "Sign in" }}
                            </button>
                        </form>
                    }
                })}
            </Suspense>
        </section>
    }
}
