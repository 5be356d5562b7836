//! The passkey controls: sign in with one (alone on `/login`, or as the
//! second factor on `/login/verify`) and add one (`/account/security`).
//! They exist only once the browser half runs and the browser can do
//! WebAuthn (`webauthn::supported`): rendered on the server, and with
//! JavaScript off, there is nothing (the rest of each page works as is).

use leptos::prelude::*;

use super::{
    api::{
        passkey_registration_options, passkey_sign_in, passkey_sign_in_options, register_passkey,
    },
    types::{PasskeyStart, REAUTH_FOR_SECURITY},
    webauthn,
};

/// Once the browser half runs: whether this browser can use passkeys here
/// (`None` before, and on the server, which renders no control).
fn passkeys_here() -> RwSignal<Option<bool>> {
    let here = RwSignal::new(None);
    // Effects run in the browser only.
    Effect::new(move |_| here.set(Some(webauthn::supported())));
    here
}

fn message(error: ServerFnError) -> String {
    match error {
        ServerFnError::ServerError(message) => message,
        _ => "The sign-in service could not be reached. Please try again.".to_owned(),
    }
}

/// "Sign in with a passkey": asks the browser for one of this site's
/// passkeys, then signs in with it and goes on.
#[component]
pub fn PasskeySignIn(
    /// As the second factor of this browser's pending sign-in.
    second_factor: bool,
    #[prop(into)] remember: Signal<bool>,
    #[prop(into)] next: Signal<String>,
) -> impl IntoView {
    let here = passkeys_here();
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let sign_in = move |_| {
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            let outcome = async {
                let challenge = passkey_sign_in_options(second_factor).await.map_err(message)?;
                let credential = webauthn::get(challenge.options).await?;
                let (remember, next) = (remember.get_untracked(), next.get_untracked());
                passkey_sign_in(challenge.ceremony, credential, second_factor, remember, next)
                    .await
                    .map_err(message)
            }
            .await;
            match outcome {
                // A full load: the new session's cookie is the server's to read.
                Ok(target) => {
                    let _ = window().location().set_href(&target);
                }
                Err(why) => {
                    error.set(Some(why));
                    busy.set(false);
                }
            }
        });
    };
    let label = if second_factor { "Use a passkey" } else { "Sign in with a passkey" };
    view! {
        // As the second factor, a browser that cannot is told why there is no button.
        {move || (second_factor && here.get() == Some(false)).then(|| view! {
            <p class="hint">"This browser cannot use passkeys on this site. Use a code instead."</p>
        })}
        {move || (here.get() == Some(true)).then(|| view! {
            <div class="passkey-sign-in">
                <button type="button" class="button secondary" on:click=sign_in disabled=move || busy.get()>
                    {move || if busy.get() { "Waiting for your passkey…" } else { label }}
                </button>
                {move || error.get().map(|why| view! { <p class="notice error" role="alert">{why}</p> })}
            </div>
        })}
    }
}

/// "Add a passkey": names it, has the browser make it, registers it. The
/// first second factor's recovery codes are shown here, once; otherwise the
/// page reloads with the new passkey listed.
#[component]
pub fn AddPasskey() -> impl IntoView {
    let here = passkeys_here();
    let name = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let codes = RwSignal::new(None::<Vec<String>>);
    let add = move |_| {
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            let outcome = async {
                let challenge = match passkey_registration_options().await.map_err(message)? {
                    PasskeyStart::Challenge(challenge) => challenge,
                    PasskeyStart::Reauthenticate => {
                        let _ = window().location().set_href(REAUTH_FOR_SECURITY);
                        return Ok(None);
                    }
                };
                let credential = webauthn::create(challenge.options).await?;
                let label = match name.get_untracked().trim() {
                    "" => "Passkey".to_owned(),
                    typed => typed.to_owned(),
                };
                register_passkey(challenge.ceremony, label, credential)
                    .await
                    .map(Some)
                    .map_err(message)
            }
            .await;
            match outcome {
                Ok(Some(new_codes)) if !new_codes.is_empty() => codes.set(Some(new_codes)),
                Ok(Some(_)) => {
                    let _ = window().location().set_href("/account/security?passkey_added=1");
                }
                Ok(None) => {}
                Err(why) => error.set(Some(why)),
            }
            busy.set(false);
        });
    };
    view! {
        {move || (here.get() == Some(false)).then(|| view! {
            <p class="hint">"This browser cannot make passkeys for this site."</p>
        })}
        {move || (here.get() == Some(true)).then(|| view! {
            <div class="add-passkey stack narrow-form">
                <label for="passkey-name">"Name for a new passkey"</label>
                <input id="passkey-name" type="text" maxlength="64" placeholder="e.g. Work laptop"
                    on:input=move |ev| name.set(event_target_value(&ev)) prop:value=move || name.get()/>
                <button type="button" class="button" on:click=add disabled=move || busy.get()>
                    {move || if busy.get() { "Waiting for your passkey…" } else { "Add a passkey" }}
                </button>
                {move || error.get().map(|why| view! { <p class="notice error" role="alert">{why}</p> })}
            </div>
        })}
        {move || codes.get().map(|codes| view! {
            <super::components::RecoveryCodeList title="Passkey added" codes/>
            <p><a class="button" rel="external" href="/account/security">"Done"</a></p>
        })}
    }
}
