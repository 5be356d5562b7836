use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::app::{
    api::{get_form_notice, password_strength},
    components::Notice,
    types::UserResource,
};

/// Change password: the current one and a new one. A plain form post
/// (`crate::password_change` answers it on the server), so it works with
/// JavaScript off; with it on, a "show" toggle and a strength meter that
/// asks the server's policy as the user types (the same verdict the form
/// will get, never a second opinion written in the browser).
#[component]
pub fn PasswordPage() -> impl IntoView {
    let query = use_query_map();
    let changed = move || query.read().get("changed").is_some();
    let required = move || query.read().get("required").is_some();
    let notice = Resource::new_blocking(|| (), |_| get_form_notice());
    let user = expect_context::<UserResource>();
    let pending = RwSignal::new(false);
    view! {
        <Title text="Change password"/>
        <section class="card narrow">
            <h1>"Change password"</h1>
            {move || changed().then(|| view! {
                <Notice kind="success">
                    "Your password has been changed. Every other device has been signed out; this browser stays signed in."
                </Notice>
            })}
            {move || required().then(|| view! {
                <Notice kind="info">
                    "You signed in with a temporary password. Choose your own password to continue."
                </Notice>
            })}
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let notice = notice.await.ok().flatten();
                    let username = user.await.ok().flatten().map(|u| u.username).unwrap_or_default();
                    let has_error = notice.is_some();
                    view! {
                        {notice.map(|n| view! { <Notice kind="error">{n.message}</Notice> })}
                        <form method="post" action="/account/password" class="stack" on:submit=move |_| pending.set(true)>
                            // Lets password managers tie the new password to the account.
                            <input type="hidden" name="username" autocomplete="username" value=username/>
                            <label for="current_password">"Current password"</label>
                            <input
                                id="current_password"
                                name="current_password"
                                type="password"
                                autocomplete="current-password"
                                required
                                maxlength="1024"
                                autofocus
                                aria-invalid=has_error.then_some("true")
                            />
                            <NewPasswordField/>
                            <button type="submit" class="button" disabled=move || pending.get()>
                                {move || if pending.get() { "Changing…" } else { "Change password" }}
                            </button>
                        </form>
                    }
                })}
            </Suspense>
            <p><a rel="external" href="/account">"Back to your account"</a></p>
        </section>
    }
}

/// The new-password input with its hint; in the browser, also a
/// show/hide toggle and the live strength meter.
#[component]
fn NewPasswordField() -> impl IntoView {
    let typed = RwSignal::new(String::new());
    let visible = RwSignal::new(false);
    // Set once the browser half runs: the toggle and meter need it, so
    // without JavaScript they are not shown at all.
    let live = RwSignal::new(false);
    Effect::new(move |_| live.set(true));
    // Ask the policy a moment after the last keystroke, not on every one.
    let verdict = Resource::new(
        move || typed.get(),
        move |password| async move {
            if password.is_empty() {
                return None;
            }
            pause(Duration::from_millis(350)).await;
            if typed.get_untracked() != password {
                return None; // typed on meanwhile: a newer request follows
            }
            password_strength(password).await.ok()
        },
    );
    view! {
        <label for="new_password">"New password"</label>
        <div class="password-row">
            <input
                id="new_password"
                name="new_password"
                type=move || if visible.get() { "text" } else { "password" }
                autocomplete="new-password"
                required
                maxlength="1024"
                aria-describedby="new-password-hint new-password-verdict"
                on:input=move |ev| typed.set(event_target_value(&ev))
            />
            {move || live.get().then(|| view! {
                <button
                    type="button"
                    class="button secondary toggle-visibility"
                    aria-pressed=move || if visible.get() { "true" } else { "false" }
                    on:click=move |_| visible.update(|v| *v = !*v)
                >
                    {move || if visible.get() { "Hide" } else { "Show" }}
                </button>
            })}
        </div>
        <p id="new-password-hint" class="hint">
            "Long is strong: a few unrelated words make a password that is hard to guess and easy to remember. No symbols required."
        </p>
        <div id="new-password-verdict" class="strength" aria-live="polite">
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    verdict.await.map(|v| {
                        let label = ["Very weak", "Weak", "Fair", "Strong", "Very strong"]
                            .get(usize::from(v.score))
                            .copied()
                            .unwrap_or("Very strong");
                        let class = if v.acceptable { "strength-ok" } else { "strength-weak" };
                        view! {
                            <meter min="0" max="4" low="2" high="3" optimum="4" value=v.score.to_string()></meter>
                            <span class=format!("strength-label {class}")>
                                {label}
                                {(!v.acceptable).then_some(": not accepted")}
                            </span>
                            {v.message.map(|m| view! { <span class="strength-message">" "{m}</span> })}
                        }
                    })
                })}
            </Transition>
        </div>
    }
}

/// Waits `delay` in the browser; on the server (which never has anything
/// typed) at once.
async fn pause(delay: Duration) {
    #[cfg(feature = "hydrate")]
    {
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        set_timeout(
            move || {
                let _ = tx.send(());
            },
            delay,
        );
        let _ = rx.await;
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = delay;
}
