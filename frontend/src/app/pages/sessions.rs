use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;

use crate::app::{
    api::{Logout, RevokeOtherSessions, RevokeSession, my_sessions},
    components::{LoadError, Notice},
    format,
};

/// The user's sessions. Each row has its own POST form, so revoking works
/// without JavaScript (a full round trip) and with it (in place).
#[component]
pub fn SessionsPage() -> impl IntoView {
    let revoke = ServerAction::<RevokeSession>::new();
    let revoke_others = ServerAction::<RevokeOtherSessions>::new();
    // Ending this device's own session is signing out: the app-wide action,
    // so the header and navigation follow (see `components::Header`).
    let logout = expect_context::<ServerAction<Logout>>();
    // Refetch after either action completes.
    let sessions = Resource::new_blocking(
        move || (revoke.version().get(), revoke_others.version().get()),
        |_| my_sessions(),
    );
    view! {
        <Title text="Sessions"/>
        <section class="card">
            <h1>"Your sessions"</h1>
            <p class="lead">"Every device signed in as you. End any you do not recognise."</p>
            {move || {
                revoke
                    .value()
                    .get()
                    .and_then(Result::err)
                    .map(|e| view! { <LoadError error=e/> })
            }}
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match sessions.await {
                        Err(e) => view! { <LoadError error=e/> }.into_any(),
                        Ok(list) if list.is_empty() => view! {
                            <Notice kind="info">"No live sessions."</Notice>
                        }
                            .into_any(),
                        Ok(list) => {
                            let others = list.iter().filter(|s| !s.current).count();
                            view! {
                                <ul class="sessions">
                                    {list
                                        .into_iter()
                                        .map(|s| {
                                            let current = s.current;
                                            let form_id = s.id.clone();
                                            view! {
                                                <li class="session" class:current=current data-session-id=s.id.clone()>
                                                    <div class="session-main">
                                                        <strong class="device">{format::device(s.user_agent.as_deref())}</strong>
                                                        {current.then(|| view! { <span class="badge this-device">"This device"</span> })}
                                                        <dl class="session-facts">
                                                            <div>
                                                                <dt>"IP"</dt>
                                                                <dd>{s.ip.clone().unwrap_or_else(|| "unknown".into())}</dd>
                                                            </div>
                                                            <div>
                                                                <dt>"Signed in"</dt>
                                                                <dd>{format::utc(s.created_at)}</dd>
                                                            </div>
                                                            <div>
                                                                <dt>"Last active"</dt>
                                                                <dd>{format::utc(s.last_seen_at)}</dd>
                                                            </div>
                                                        </dl>
                                                    </div>
                                                    {if current {
                                                        view! {
                                                            <ActionForm action=logout attr:class="inline-form">
                                                                <button type="submit" class="button danger">"Sign out"</button>
                                                            </ActionForm>
                                                        }
                                                            .into_any()
                                                    } else {
                                                        view! {
                                                            <ActionForm action=revoke attr:class="inline-form">
                                                                <input type="hidden" name="id" value=form_id/>
                                                                <button type="submit" class="button danger">"Revoke"</button>
                                                            </ActionForm>
                                                        }
                                                            .into_any()
                                                    }}
                                                </li>
                                            }
                                        })
                                        .collect_view()}
                                </ul>
                                {(others > 0)
                                    .then(|| view! {
                                        <ActionForm action=revoke_others attr:class="inline-form">
                                            <button type="submit" class="button secondary">
                                                "Sign out everywhere else"
                                            </button>
                                        </ActionForm>
                                    })}
                            }
                                .into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}
