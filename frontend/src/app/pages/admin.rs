use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;

use crate::app::{
    api::{AdminSignOutUser, admin_users},
    components::{LoadError, Notice},
    format,
};

/// Users and their sessions, with "sign out everywhere" per user. The guard
/// answers 403 before this renders for anyone without role `admin`.
#[component]
pub fn AdminPage() -> impl IntoView {
    let sign_out = ServerAction::<AdminSignOutUser>::new();
    let users = Resource::new_blocking(move || sign_out.version().get(), |_| admin_users());
    // An admin who signed themselves out everywhere (JavaScript on) leaves
    // for the home page with a full load, so the header is signed out too.
    Effect::new(move |_| {
        if let Some(Ok((_, true))) = sign_out.value().get() {
            let _ = window().location().set_href("/?signed_out=1");
        }
    });
    view! {
        <Title text="Admin"/>
        <section class="card">
            <h1>"Users"</h1>
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
                                            <th scope="col">"Live sessions"</th>
                                            <th scope="col">"Last active"</th>
                                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {list
                                            .into_iter()
                                            .map(|u| {
                                                let roles = u.roles.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", ");
                                                let none = u.session_count == 0;
                                                let user_id = u.id.clone();
                                                view! {
                                                    <tr data-username=u.username.clone()>
                                                        <th scope="row">{u.username.clone()}</th>
                                                        <td>{roles}</td>
                                                        <td class="count">{u.session_count}</td>
                                                        <td>{u.last_seen_at.map(format::utc).unwrap_or_else(|| "—".into())}</td>
                                                        <td>
                                                            <ActionForm action=sign_out attr:class="inline-form">
                                                                <input type="hidden" name="user_id" value=user_id/>
                                                                <button type="submit" class="button danger" disabled=none>
                                                                    "Sign out everywhere"
                                                                </button>
                                                            </ActionForm>
                                                        </td>
                                                    </tr>
                                                }
                                            })
                                            .collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }
                            .into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
