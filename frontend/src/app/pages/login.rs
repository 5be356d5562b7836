use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::app::{
    api::get_login_notice, components::Notice, passkeys::PasskeySignIn, types::UserResource,
};

/// The sign-in form. A plain `<form method="post">` handled by
/// `crate::forms::login` on the server; with JavaScript, the button also
/// shows that the request is on its way.
///
/// With `?reauth=1` and a session, the same form asks a signed-in user to
/// confirm their password before a sensitive action: their name fixed, the
/// same session kept, and back to `next` afterwards.
#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let asked_to_confirm = move || query.read().get("reauth").is_some();
    let expired = move || query.read().get("expired").is_some();
    let user = expect_context::<UserResource>();
    let notice = Resource::new_blocking(|| (), |_| get_login_notice());
    let pending = RwSignal::new(false);
    // Read when the passkey button is pressed: a box ticked before the page
    // hydrated counts too.
    let remember_box = NodeRef::<leptos::html::Input>::new();
    let remember = Signal::derive(move || remember_box.get().is_some_and(|b| b.checked()));
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let notice = notice.await.ok().flatten();
                let signed_in = user.await.ok().flatten();
                let confirming = asked_to_confirm() && signed_in.is_some();
                let username = match (&signed_in, &notice) {
                    (Some(u), _) if confirming => u.username.clone(),
                    (_, Some(n)) => n.username.clone(),
                    _ => String::new(),
                };
                let has_error = notice.is_some();
                let (title, action, button, busy) = if confirming {
                    ("Confirm it's you", "/login?reauth=1", "Confirm", "Confirming…")
                } else {
                    ("Sign in", "/login", "Sign in", "Signing in…")
                };
                view! {
                    <Title text=title/>
                    <section class="card narrow">
                        <h1>{title}</h1>
                        {confirming.then(|| view! {
                            <Notice kind="info">
                                "For your security, enter your password again to continue."
                            </Notice>
                        })}
                        {(expired() && notice.is_none()).then(|| view! {
                            <Notice kind="info">
                                "That sign-in expired or had too many wrong codes. Please sign in again."
                            </Notice>
                        })}
                        {notice.map(|n| view! { <Notice kind="error">{n.message}</Notice> })}
                        <form method="post" action=action class="stack" on:submit=move |_| pending.set(true)>
                            <input type="hidden" name="next" value=next/>
                            {confirming.then(|| view! { <input type="hidden" name="reauth" value="1"/> })}
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
                                readonly=confirming
                                value=username.clone()
                                autofocus=username.is_empty()
                                aria-invalid=(has_error && !confirming).then_some("true")
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
                            {(!confirming).then(|| view! {
                                <label class="checkbox">
                                    <input type="checkbox" name="remember" value="true" node_ref=remember_box/>
                                    "Keep me signed in on this device"
                                </label>
                            })}
                            <button type="submit" class="button" disabled=move || pending.get()>
                                {move || if pending.get() { busy } else { button }}
                            </button>
                        </form>
                        // With JavaScript, and a browser that can: no password at all.
                        {(!confirming).then(|| view! {
                            <PasskeySignIn second_factor=false remember=remember next=Signal::derive(next)/>
                        })}
                    </section>
                }
            })}
        </Suspense>
    }
}
