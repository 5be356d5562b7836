use leptos::prelude::*;
use leptos_meta::Title;
use shared::Factor;

use crate::app::{
    api::{get_form_notice, get_pending_sign_in},
    components::Notice,
    passkeys::PasskeySignIn,
};

/// The second step of a sign-in: the password was right, and the account
/// has a second factor. Plain forms (`crate::forms::verify` answers them);
/// the recovery-code form sits in a `<details>`, which opens without
/// JavaScript.
#[component]
pub fn VerifyPage() -> impl IntoView {
    let pending = Resource::new_blocking(|| (), |_| get_pending_sign_in());
    let notice = Resource::new_blocking(|| (), |_| get_form_notice());
    view! {
        <Title text="Two-step verification"/>
        <section class="card narrow">
            <h1>"Two-step verification"</h1>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let notice = notice.await.ok().flatten();
                    let Some(pending) = pending.await.ok().flatten() else {
                        return view! {
                            <Notice kind="info">"There is no sign-in waiting here. "
                                <a rel="external" href="/login">"Sign in"</a>
                            </Notice>
                        }
                            .into_any();
                    };
                    let has_error = notice.is_some();
                    let recovery = pending.factors.contains(&Factor::RecoveryCode);
                    let app = pending.factors.contains(&Factor::Otp);
                    let passkey = pending.factors.contains(&Factor::Passkey);
                    view! {
                        <p class="lead">"Signing in as " <strong>{pending.username}</strong> "."</p>
                        {notice.map(|n| view! { <Notice kind="error">{n.message}</Notice> })}
                        {passkey.then(|| view! {
                            <PasskeySignIn second_factor=true remember=false next=String::new()/>
                            <noscript>
                                <p class="hint">"Using a passkey needs JavaScript."
                                    {(!app).then_some(" Without it, use one of your recovery codes below.")}
                                </p>
                            </noscript>
                        })}
                        {app.then(|| view! {
                        <form method="post" action="/login/verify" class="stack">
                            <label for="otp">"Code from your authenticator app"</label>
                            <input
                                id="otp"
                                name="code"
                                type="text"
                                inputmode="numeric"
                                autocomplete="one-time-code"
                                pattern="[0-9 ]{6,7}"
                                maxlength="7"
                                required
                                autofocus
                                aria-invalid=has_error.then_some("true")
                                aria-describedby="otp-hint"
                            />
                            <p id="otp-hint" class="hint">"Six digits; a new one every 30 seconds."</p>
                            <button type="submit" class="button">"Verify"</button>
                        </form>
                        })}
                        {recovery.then(|| view! {
                            <details class="recovery">
                                <summary>"Lost your phone? Use a recovery code"</summary>
                                <form method="post" action="/login/verify" class="stack">
                                    <label for="recovery-code">"Recovery code"</label>
                                    <input
                                        id="recovery-code"
                                        name="recovery_code"
                                        type="text"
                                        autocomplete="off"
                                        autocapitalize="none"
                                        spellcheck="false"
                                        maxlength="32"
                                        required
                                    />
                                    <p class="hint">"Each recovery code works once."</p>
                                    <button type="submit" class="button secondary">"Use recovery code"</button>
                                </form>
                            </details>
                        })}
                        // A form, not a link: it makes this browser forget the sign-in.
                        <form method="post" action="/login/verify">
                            <input type="hidden" name="cancel" value="1"/>
                            <button type="submit" class="button link">"Cancel and start over"</button>
                        </form>
                    }
                        .into_any()
                })}
            </Suspense>
        </section>
    }
}
