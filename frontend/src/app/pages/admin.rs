use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use shared::AdminUserView;

use crate::app::{
    api::{
        AdminDeleteUser, AdminResetSecondFactors, AdminSetAdmin, AdminSetDisabled,
        AdminSignOutUser, admin_users, get_form_notice, get_new_user_notice,
    },
    components::{LoadError, Notice},
    format,
    types::{AdminOutcome, REAUTH_FOR_ADMIN},
};

/// The actions of this page, shared by every row.
#[derive(Clone, Copy)]
struct Actions {
    sign_out: ServerAction<AdminSignOutUser>,
    disable: ServerAction<AdminSetDisabled>,
    admin: ServerAction<AdminSetAdmin>,
    delete: ServerAction<AdminDeleteUser>,
    reset_factors: ServerAction<AdminResetSecondFactors>,
}

/// Users: create one (with a temporary password shown once), and per user
/// "sign out everywhere", disable/enable, make or unmake administrator,
/// reset their second factors (when they lost them), delete. The guard answers 403 before this renders for anyone without
/// role `admin`; the auth-api checks again, against its database.
#[component]
pub fn AdminPage() -> impl IntoView {
    let actions = Actions {
        sign_out: ServerAction::<AdminSignOutUser>::new(),
        disable: ServerAction::<AdminSetDisabled>::new(),
        admin: ServerAction::<AdminSetAdmin>::new(),
        delete: ServerAction::<AdminDeleteUser>::new(),
        reset_factors: ServerAction::<AdminResetSecondFactors>::new(),
    };
    let users = Resource::new_blocking(
        move || {
            (
                actions.sign_out.version().get(),
                actions.disable.version().get(),
                actions.admin.version().get(),
                actions.delete.version().get(),
                actions.reset_factors.version().get(),
            )
        },
        |_| admin_users(),
    );
    let created = Resource::new_blocking(|| (), |_| get_new_user_notice());
    let refused = Resource::new_blocking(|| (), |_| get_form_notice());
    // With JavaScript, the outcomes a plain form post answers with a 303:
    // an admin who ended their own session goes home with a full load (so
    // the header is signed out too); one who must confirm their password
    // goes to the prompt, and comes back here after it.
    Effect::new(move |_| {
        let outcomes = [
            actions.sign_out.value().get(),
            actions.disable.value().get(),
            actions.admin.value().get(),
            actions.delete.value().get(),
            actions.reset_factors.value().get(),
        ];
        for outcome in outcomes.into_iter().flatten().filter_map(Result::ok) {
            let target = match outcome {
                AdminOutcome::Done => continue,
                AdminOutcome::SignedOut => "/?signed_out=1",
                AdminOutcome::Reauthenticate => REAUTH_FOR_ADMIN,
            };
            let _ = window().location().set_href(target);
        }
    });
    let failure = move || {
        [
            actions.disable.value().get().and_then(|r| r.err()),
            actions.admin.value().get().and_then(|r| r.err()),
            actions.delete.value().get().and_then(|r| r.err()),
            actions.reset_factors.value().get().and_then(|r| r.err()),
        ]
        .into_iter()
        .flatten()
        .next()
    };
    view! {
        <Title text="Admin"/>
        <section class="card">
            <h1>"Users"</h1>
            {move || failure().map(|e| view! { <LoadError error=e/> })}
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match users.await {
                        Err(e) => view! { <LoadError error=e/> }.into_any(),
                        Ok(list) if list.is_empty() => view! { <Notice kind="info">"No users yet."</Notice> }.into_any(),
                        Ok(list) => view! {
                            <div class="table-wrap">
                                <table class="users">
                                    <thead>
                                        <tr>
                                            <th scope="col">"User"</th>
                                            <th scope="col">"Roles"</th>
                                            <th scope="col">"Status"</th>
                                            <th scope="col">"Live sessions"</th>
                                            <th scope="col">"Last active"</th>
                                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {list.into_iter().map(|u| view! { <UserRow user=u actions/> }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }
                            .into_any(),
                    }
                })}
            </Transition>
            <p><a rel="external" href="/admin/audit">"Audit log"</a></p>
        </section>
        // The form's answer scrolls here, to the new password or the reason.
        <section class="card" id="new-user">
            <h2>"Create a user"</h2>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let created = created.await.ok().flatten();
                    let refused = refused.await.ok().flatten();
                    view! {
                        {created.map(|c| view! {
                            <div class="notice success" role="status">
                                <p>"User " <strong>{c.username.clone()}</strong> " created. Their temporary password:"</p>
                                <p><code class="secret temporary-password">{c.temporary_password.clone()}</code></p>
                                <p>"Give it to them over a channel you trust. It is shown only this once; at their first sign-in they must choose their own."</p>
                            </div>
                        })}
                        {refused.map(|n| view! { <Notice kind="error">{n.message}</Notice> })}
                    }
                })}
            </Suspense>
            // A plain form post (`crate::forms::new_user`): the temporary
            // password comes back in the answer to it, and nowhere else.
            <form method="post" action="/admin#new-user" class="stack narrow-form">
                <label for="new-username">"Username"</label>
                <input id="new-username" name="username" type="text" required maxlength="64"
                    autocapitalize="none" spellcheck="false" autocomplete="off"/>
                <label class="checkbox">
                    <input type="checkbox" name="admin" value="true"/>
                    "Administrator"
                </label>
                <button type="submit" class="button">"Create user"</button>
            </form>
        </section>
    }
}

/// One user's row with its action forms (each a POST that works without
/// JavaScript, updating in place with it).
#[component]
fn UserRow(user: AdminUserView, actions: Actions) -> impl IntoView {
    let roles = user.roles.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", ");
    let is_admin = user.roles.contains(&shared::Role::Admin);
    let status = match (user.disabled, user.password_change_required) {
        (true, _) => "Disabled",
        (false, true) => "Temporary password",
        (false, false) => "Active",
    };
    let none = user.session_count == 0;
    let id = user.id.clone();
    let (id_2, id_3, id_4, id_5) = (id.clone(), id.clone(), id.clone(), id.clone());
    let two_step = if user.second_factor { "Two-step on" } else { "Password only" };
    view! {
        <tr data-username=user.username.clone() class:disabled=user.disabled>
            <th scope="row">{user.username.clone()}</th>
            <td class="roles" data-label="Roles">{roles}</td>
            <td class="status" data-label="Status">{status}<br/><small class="two-step">{two_step}</small></td>
            <td class="count" data-label="Live sessions">{user.session_count}</td>
            <td data-label="Last active">{user.last_seen_at.map(format::utc).unwrap_or_else(|| "—".into())}</td>
            <td class="row-actions">
                <ActionForm action=actions.sign_out attr:class="inline-form">
                    <input type="hidden" name="user_id" value=id/>
                    <button type="submit" class="button danger" disabled=none>"Sign out everywhere"</button>
                </ActionForm>
                <ActionForm action=actions.admin attr:class="inline-form">
                    <input type="hidden" name="user_id" value=id_2/>
                    <input type="hidden" name="admin" value=if is_admin { "false" } else { "true" }/>
                    <button type="submit" class="button secondary">
                        {if is_admin { "Remove admin" } else { "Make admin" }}
                    </button>
                </ActionForm>
                <ActionForm action=actions.disable attr:class="inline-form">
                    <input type="hidden" name="user_id" value=id_3/>
                    <input type="hidden" name="disabled" value=if user.disabled { "false" } else { "true" }/>
                    <button type="submit" class="button secondary">
                        {if user.disabled { "Enable" } else { "Disable" }}
                    </button>
                </ActionForm>
                {user.second_factor.then(|| view! {
                    <ActionForm action=actions.reset_factors attr:class="inline-form">
                        <input type="hidden" name="user_id" value=id_5/>
                        <button type="submit" class="button secondary">"Reset two-step"</button>
                    </ActionForm>
                })}
                <ActionForm action=actions.delete attr:class="inline-form">
                    <input type="hidden" name="user_id" value=id_4/>
                    <button type="submit" class="button danger">"Delete"</button>
                </ActionForm>
            </td>
        </tr>
    }
}
