use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use shared::EventKind;

use crate::app::{
    api::admin_audit,
    components::{EventTable, LoadError, Notice},
};

/// The audit log (admins only; the guard answers 403 to anyone else):
/// every security event, newest first, filtered by user and type, fifty at
/// a time. The filters are a plain GET form, so the address of a view can
/// be shared and the page works without JavaScript.
#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |name: &str| query.read().get(name).filter(|v| !v.trim().is_empty());
    let events = Resource::new_blocking(
        move || (param("user"), param("type"), param("before").and_then(|b| b.parse::<i64>().ok())),
        |(user, kind, before)| admin_audit(user, kind, before),
    );
    view! {
        <Title text="Audit log"/>
        <section class="card">
            <h1>"Audit log"</h1>
            <form method="get" action="/admin/audit" class="filters">
                <label>
                    "User"
                    <input type="text" name="user" autocapitalize="none" spellcheck="false" maxlength="64"
                        value=move || param("user").unwrap_or_default()/>
                </label>
                <label>
                    "Type"
                    <select name="type">
                        <option value="">"Any"</option>
                        {EventKind::ALL
                            .into_iter()
                            .map(|k| {
                                let selected = move || param("type").as_deref() == Some(k.as_str());
                                view! { <option value=k.as_str() selected=selected>{k.label()}</option> }
                            })
                            .collect_view()}
                    </select>
                </label>
                <button type="submit" class="button">"Filter"</button>
                <a rel="external" href="/admin/audit">"Clear"</a>
            </form>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match events.await {
                        Err(e) => view! { <LoadError error=e/> }.into_any(),
                        Ok(page) if page.events.is_empty() => view! {
                            <Notice kind="info">"No events match."</Notice>
                        }
                            .into_any(),
                        Ok(page) => {
                            let older = page.next_before.map(|before| {
                                let mut query = vec![("before", before.to_string())];
                                query.extend(param("user").map(|u| ("user", u)));
                                query.extend(param("type").map(|t| ("type", t)));
                                let query: Vec<String> = query
                                    .into_iter()
                                    .map(|(k, v)| format!("{k}={}", urlencode(&v)))
                                    .collect();
                                format!("/admin/audit?{}", query.join("&"))
                            });
                            view! {
                                <EventTable events=page.events everyone=true/>
                                {older.map(|href| view! {
                                    <p><a class="button secondary" rel="external" href=href>"Older events"</a></p>
                                })}
                            }
                                .into_any()
                        }
                    }
                })}
            </Transition>
            <p><a rel="external" href="/admin">"Back to users"</a></p>
        </section>
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
