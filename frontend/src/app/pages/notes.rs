//! `/notes`: the demo of an app behind Cloakroom (`examples/notes`). The
//! list is read on the server while the page renders, by a server function
//! calling the notes API as the user (`proxy::call`). A new note goes, with
//! JavaScript, from the browser straight to the notes API through the proxy
//! (`/notes-api`, with `X-CSRF: 1`); without it, the form posts to a server
//! function that does the same from the server.

use leptos::{prelude::*, server_fn::ServerFn};
use leptos_meta::Title;

use crate::app::{
    api::{AddNote, my_notes},
    components::{LoadError, Notice},
    format,
};

#[component]
pub fn NotesPage() -> impl IntoView {
    let add = ServerAction::<AddNote>::new();
    // Bumped by each note added through the API, to read the list again.
    let added = RwSignal::new(0u32);
    let failed = RwSignal::new(None::<String>);
    let notes = Resource::new_blocking(move || (add.version().get(), added.get()), |_| my_notes());
    let text = NodeRef::<leptos::html::Textarea>::new();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        #[cfg(feature = "hydrate")]
        {
            ev.prevent_default();
            let Some(area) = text.get() else { return };
            leptos::task::spawn_local(async move {
                match bridge::post_note(area.value()).await {
                    Ok(_) => {
                        area.set_value("");
                        failed.set(None);
                        added.update(|n| *n += 1);
                    }
                    Err(why) => failed.set(Some(why)),
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, text, failed, added);
    };
    view! {
        <Title text="Notes"/>
        <section class="card">
            <h1>"Your notes"</h1>
            <p class="lead">
                "Kept by a separate app behind Cloakroom, which trusts nothing but your access token."
            </p>
            <form id="add-note" class="stack" method="post" action=AddNote::url() on:submit=on_submit>
                <label for="note-text">"New note"</label>
                <textarea id="note-text" name="text" rows="3" maxlength="500" required node_ref=text></textarea>
                <button type="submit" class="button">"Add note"</button>
            </form>
            {move || failed.get().map(|why| view! { <Notice kind="error">{why}</Notice> })}
            {move || add.value().get().and_then(Result::err).map(|e| view! { <LoadError error=e/> })}
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match notes.await {
                        Err(e) => view! { <LoadError error=e/> }.into_any(),
                        Ok(list) if list.is_empty() => {
                            view! { <p id="no-notes">"No notes yet."</p> }.into_any()
                        }
                        Ok(list) => view! {
                            <ul id="notes" class="notes">
                                {list
                                    .into_iter()
                                    .map(|n| view! {
                                        <li class="note" data-note-id=n.id>
                                            <p>{n.text}</p>
                                            <time>{format::utc(n.created_at)}</time>
                                        </li>
                                    })
                                    .collect_view()}
                            </ul>
                        }
                            .into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[cfg(feature = "hydrate")]
mod bridge {
    use wasm_bindgen::prelude::*;

    // `X-CSRF: 1` is what the proxy asks of every call to an app's API: a
    // header a page on another site cannot add without a CORS preflight.
    // Resolves to "" when saved, else to why not.
    #[wasm_bindgen(inline_js = r#"
export async function post_note(text) {
    let res;
    try {
        res = await fetch("/notes-api/notes", {
            method: "POST",
            credentials: "same-origin",
            headers: { "Content-Type": "application/json", "X-CSRF": "1" },
            body: JSON.stringify({ text }),
        });
    } catch (_) {
        return "The note could not be sent. Check your connection and try again.";
    }
    if (res.ok) return "";
    try {
        const body = await res.json();
        if (body && body.error_description) return body.error_description;
    } catch (_) {}
    return "The note could not be saved (" + res.status + ").";
}
"#)]
    extern "C" {
        #[wasm_bindgen(js_name = post_note)]
        async fn post_note_js(text: String) -> JsValue;
    }

    pub async fn post_note(text: String) -> Result<(), String> {
        match post_note_js(text).await.as_string() {
            Some(why) if !why.is_empty() => Err(why),
            _ => Ok(()),
        }
    }
}
