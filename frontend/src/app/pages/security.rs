use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use shared::PasskeyView;

use crate::app::{
    api::{get_form_notice, get_mfa_status, get_security_notice},
    components::{LoadError, Notice, RecoveryCodeList},
    format,
    passkeys::AddPasskey,
    types::SecurityNotice,
};

/// Second factors: an authenticator app and recovery codes. Every change is
/// a plain form post to this page (`crate::forms::security`), so all of it
/// works with JavaScript off; the key and the recovery codes appear only in
/// the answer to the form that produced them.
#[component]
pub fn SecurityPage() -> impl IntoView {
    let query = use_query_map();
    let required = move || query.read().get("required").is_some();
    let disabled = move || query.read().get("disabled").is_some();
    let passkey_added = move || query.read().get("passkey_added").is_some();
    let passkey_removed = move || query.read().get("passkey_removed").is_some();
    let status = Resource::new_blocking(|| (), |_| get_mfa_status());
    let shown = Resource::new_blocking(|| (), |_| get_security_notice());
    let refused = Resource::new_blocking(|| (), |_| get_form_notice());
    view! {
        <Title text="Security"/>
        <section class="card">
            <h1>"Two-step verification"</h1>
            {move || required().then(|| view! {
                <Notice kind="info">
                    "Your role requires a second factor. Set up an authenticator app to continue."
                </Notice>
            })}
            {move || disabled().then(|| view! {
                <Notice kind="success">"The authenticator app was removed."</Notice>
            })}
            {move || passkey_added().then(|| view! { <Notice kind="success">"Passkey added."</Notice> })}
            {move || passkey_removed().then(|| view! { <Notice kind="success">"Passkey removed."</Notice> })}
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let refused = refused.await.ok().flatten();
                    let shown = shown.await.ok().flatten();
                    let status = match status.await {
                        Ok(status) => status,
                        Err(e) => return view! { <LoadError error=e/> }.into_any(),
                    };
                    let enabled = status.totp_enabled_at.is_some();
                    let any_factor = enabled || !status.passkeys.is_empty();
                    let passkeys = status.passkeys.clone();
                    let (setup, codes, codes_title) = match shown {
                        Some(SecurityNotice::Setup { secret, qr_svg }) => (Some((secret, qr_svg)), None, ""),
                        Some(SecurityNotice::Enabled { recovery_codes }) => {
                            (None, Some(recovery_codes), "Authenticator app added")
                        }
                        Some(SecurityNotice::NewCodes { recovery_codes }) => {
                            (None, Some(recovery_codes), "New recovery codes")
                        }
                        Some(SecurityNotice::Disabled) | None => (None, None, ""),
                    };
                    view! {
                        {refused.map(|n| view! { <Notice kind="error">{n.message}</Notice> })}
                        {codes.map(|codes| view! { <RecoveryCodeList title=codes_title codes/> })}
                        <h2>"Authenticator app"</h2>
                        {match (enabled, setup) {
                            (true, _) => view! {
                                <p>
                                    {format!(
                                        "On since {}. Signing in asks for a code from your app after your password.",
                                        status.totp_enabled_at.map(format::utc).unwrap_or_default()
                                    )}
                                </p>
                                <form method="post" action="/account/security" class="stack narrow-form">
                                    <input type="hidden" name="action" value="disable"/>
                                    <label for="disable-code">"To turn it off, enter a current code"</label>
                                    <input id="disable-code" name="code" type="text" inputmode="numeric"
                                        autocomplete="one-time-code" maxlength="7" required/>
                                    <button type="submit" class="button danger">"Turn off"</button>
                                </form>
                            }
                                .into_any(),
                            (false, Some((secret, qr_svg))) => view! { <Setup secret qr_svg/> }.into_any(),
                            (false, None) => view! {
                                <p>"An app on your phone (such as Aegis, Google Authenticator or 1Password) shows a new six-digit code every 30 seconds. With it, a stolen password alone no longer opens your account."</p>
                                <form method="post" action="/account/security">
                                    <input type="hidden" name="action" value="setup"/>
                                    <button type="submit" class="button">"Set up an authenticator app"</button>
                                </form>
                            }
                                .into_any(),
                        }}
                        <h2>"Passkeys"</h2>
                        <p>"A passkey signs you in with your device's screen lock or a security key: as the second step after your password, or instead of it."</p>
                        <PasskeyList passkeys/>
                        <AddPasskey/>
                        <noscript><p class="hint">"Adding a passkey needs JavaScript."</p></noscript>
                        <h2>"Recovery codes"</h2>
                        {if any_factor {
                            view! {
                                <p id="recovery-left">
                                    {format!(
                                        "{} of 10 recovery codes left. Each works once, in place of your second factor.",
                                        status.recovery_codes_left
                                    )}
                                </p>
                                <form method="post" action="/account/security">
                                    <input type="hidden" name="action" value="regenerate"/>
                                    <button type="submit" class="button secondary">"Create new recovery codes"</button>
                                </form>
                                <p class="hint">"New codes replace the old ones, used or not."</p>
                            }
                                .into_any()
                        } else {
                            view! { <p>"You get ten with your first second factor."</p> }.into_any()
                        }}
                    }
                        .into_any()
                })}
            </Suspense>
            <p><a rel="external" href="/account">"Back to your account"</a></p>
        </section>
    }
}

/// The key to scan (and to type, for an app on this same device), and the
/// form that switches it on with a first code.
#[component]
fn Setup(secret: String, qr_svg: String) -> impl IntoView {
    view! {
        <p>"Scan this QR code with your authenticator app:"</p>
        // Our own SVG, drawn on the server from the auth-api's otpauth URI.
        <div class="qr" inner_html=qr_svg></div>
        <p>"Or type this key into it:"</p>
        <p><code id="totp-secret" class="secret">{secret}</code></p>
        <form method="post" action="/account/security" class="stack narrow-form">
            <input type="hidden" name="action" value="confirm"/>
            <label for="confirm-code">"Then enter the code the app shows"</label>
            <input id="confirm-code" name="code" type="text" inputmode="numeric"
                autocomplete="one-time-code" maxlength="7" required autofocus/>
            <button type="submit" class="button">"Turn on"</button>
        </form>
    }
}

/// The user's passkeys, each with a plain form that removes it.
#[component]
fn PasskeyList(passkeys: Vec<PasskeyView>) -> impl IntoView {
    if passkeys.is_empty() {
        return view! { <p id="passkeys">"No passkeys yet."</p> }.into_any();
    }
    view! {
        <ul id="passkeys" class="passkeys">
            {passkeys.into_iter().map(|p| {
                let used = match p.last_used_at {
                    Some(at) => format!("last used {}", format::utc(at)),
                    None => "never used".to_owned(),
                };
                let facts = format!("Added {}, {used}.", format::utc(p.created_at));
                view! {
                    <li data-name=p.name.clone()>
                        <strong class="passkey-name">{p.name.clone()}</strong>
                        <span class="hint">" "{facts}</span>
                        <form method="post" action="/account/security" class="inline-form">
                            <input type="hidden" name="action" value="remove_passkey"/>
                            <input type="hidden" name="passkey" value=p.id/>
                            <button type="submit" class="button danger">"Remove"</button>
                        </form>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
    .into_any()
}
