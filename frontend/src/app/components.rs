//! Pieces several pages share.

use leptos::{form::ActionForm, prelude::*};
use leptos_router::hooks::{use_location, use_navigate};

use shared::{AuditEvent, EventKind};

use super::{
    api::Logout,
    format,
    paths::signed_out_path,
    types::{CurrentUser, UserResource},
};

/// The site header: where you are, who you are, and the way out.
#[component]
pub fn Header() -> impl IntoView {
    let user = expect_context::<UserResource>();
    let logout = expect_context::<ServerAction<Logout>>();
    // With JavaScript the form is sent in the background: once it answers,
    // the user resource reloads (the header shows "Sign in" at once) and the
    // router goes home. Without it, the server answers the POST with a 303.
    let navigate = use_navigate();
    let on_login = use_location().pathname.get_untracked() == "/login";
    Effect::new(move |_| {
        if let Some(Ok(ended)) = logout.value().get() {
            navigate(signed_out_path(ended), Default::default());
        }
    });
    view! {
        <header class="site-header">
            <a class="skip-link" href="#main">"Skip to content"</a>
            <a class="brand" rel="external" href="/">
                <span class="brand-mark" aria-hidden="true">"▣"</span>
                "Cloakroom"
            </a>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match user.await {
                        Ok(Some(u)) => {
                            let admin = u.is_admin();
                            view! {
                                <nav aria-label="Main">
                                    <a rel="external" href="/account">"Account"</a>
                                    <a rel="external" href="/sessions">"Sessions"</a>
                                    <a rel="external" href="/notes">"Notes"</a>
                                    {admin.then(|| view! {
                                        <a rel="external" href="/admin">"Admin"</a>
                                        <a rel="external" href="/admin/audit">"Audit log"</a>
                                    })}
                                </nav>
                                <div class="who">
                                    <span class="username" title="Signed in">{u.username}</span>
                                    <ActionForm action=logout attr:class="inline-form">
                                        <button type="submit" class="button secondary">"Sign out"</button>
                                    </ActionForm>
                                </div>
                            }
                                .into_any()
                        }
                        _ => view! {
                            <nav aria-label="Main"></nav>
                            <div class="who">
                                // No link to the page one is already on.
                                {(!on_login)
                                    .then(|| view! { <a class="button" rel="external" href="/login">"Sign in"</a> })}
                            </div>
                        }
                            .into_any(),
                    }
                })}
            </Transition>
        </header>
    }
}

/// A short message in a box; `kind` is `error`, `info` or `success`.
#[component]
pub fn Notice(kind: &'static str, children: Children) -> impl IntoView {
    let role = if kind == "error" { "alert" } else { "status" };
    view! { <div class=format!("notice {kind}") role=role>{children()}</div> }
}

/// What a page shows when its data could not be loaded.
#[component]
pub fn LoadError(error: ServerFnError) -> impl IntoView {
    let message = match error {
        ServerFnError::ServerError(msg) => msg,
        _ => "Something went wrong loading this page. Please try again.".to_owned(),
    };
    view! { <Notice kind="error">{message}</Notice> }
}

/// Security events as a table, newest first. `everyone`: the audit page's
/// view, with whom each event happened to; otherwise the user's own.
#[component]
pub fn EventTable(events: Vec<AuditEvent>, everyone: bool) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="events">
                <thead>
                    <tr>
                        <th scope="col">"When"</th>
                        <th scope="col">"Event"</th>
                        {everyone.then(|| view! { <th scope="col">"User"</th> })}
                        <th scope="col">"By"</th>
                        <th scope="col">"From"</th>
                        <th scope="col">"Details"</th>
                    </tr>
                </thead>
                <tbody>
                    {events
                        .into_iter()
                        .map(|e| {
                            let label = EventKind::parse(&e.kind)
                                .map(|k| k.label().to_owned())
                                .unwrap_or_else(|| e.kind.clone());
                            let own = !everyone && e.actor_id.is_some() && e.actor_id == e.user_id;
                            let by = if own {
                                "You".to_owned()
                            } else {
                                // No actor: the service itself, or someone not signed in.
                                e.actor_name.clone().unwrap_or_else(|| "—".to_owned())
                            };
                            let from = match (&e.user_agent, &e.ip) {
                                (None, None) => "—".to_owned(),
                                (ua, ip) => format!(
                                    "{} · {}",
                                    format::device(ua.as_deref()),
                                    ip.clone().unwrap_or_else(|| "unknown address".into())
                                ),
                            };
                            view! {
                                <tr class="event" data-kind=e.kind.clone()>
                                    <td class="when" data-label="When">{format::utc(e.at)}</td>
                                    <td class="what" data-label="Event">{label}</td>
                                    {everyone.then(|| view! {
                                        <td class="subject" data-label="User">
                                            {e.username.clone().unwrap_or_else(|| "—".into())}
                                        </td>
                                    })}
                                    <td class="by" data-label="By">{by}</td>
                                    <td class="from" data-label="From">{from}</td>
                                    <td class="detail" data-label="Details">{e.detail.clone().unwrap_or_default()}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// Who is signed in: username and roles; with `ids`, the user and session
/// ids too (the profile page).
#[component]
pub fn UserFacts(user: CurrentUser, ids: bool) -> impl IntoView {
    let roles = user.roles.iter().map(|r| r.to_string()).collect::<Vec<_>>();
    view! {
        <dl class="facts">
            <dt>"Username"</dt>
            <dd class="profile-username">{user.username.clone()}</dd>
            <dt>"Roles"</dt>
            <dd class="profile-roles">
                {roles.into_iter().map(|r| view! { <span class="badge">{r}</span> }).collect_view()}
            </dd>
            {ids.then(|| view! {
                <dt>"User id"</dt>
                <dd><code>{user.user_id.clone()}</code></dd>
                <dt>"This session"</dt>
                <dd><code>{user.session_id.clone()}</code></dd>
            })}
        </dl>
    }
}

/// Recovery codes, shown once, in `<ul id="recovery-codes">` (one per
/// `<li>`); none: the user's earlier ones still work.
#[component]
pub fn RecoveryCodeList(title: &'static str, codes: Vec<String>) -> impl IntoView {
    let none = codes.is_empty();
    view! {
        <div class="notice success" role="status">
            <p><strong>{title}</strong></p>
            {if none {
                view! { <p>"Your earlier recovery codes still work."</p> }.into_any()
            } else {
                view! {
                    <p>"Save these recovery codes somewhere safe (a password manager, or on paper). Each signs you in once if you lose your phone. They are shown only now."</p>
                    <ul id="recovery-codes" class="codes">
                        {codes.into_iter().map(|c| view! { <li><code>{c}</code></li> }).collect_view()}
                    </ul>
                }
                    .into_any()
            }}
        </div>
    }
}
