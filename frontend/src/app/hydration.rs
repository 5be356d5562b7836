//! The one script a page carries: it loads the hydration bundle.
//!
//! Not Leptos's `<HydrationScripts>`: its `<link rel=modulepreload>` and
//! `<link rel=preload>` are fetched by browsers with JavaScript off too, so a
//! visitor who runs no script still downloaded the whole bundle. A module
//! script is not fetched, let alone run, when scripts are off; it starts the
//! wasm download itself, beside the JavaScript's, so nothing is lost when on.

use leptos::prelude::*;

/// Where the current bundle is served (`/pkg/{content hash}/…`), as
/// `scripts/wasm.sh` wrote it in the site's manifest (`assets::bundle`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HydrationBundle {
    pub js: String,
    pub wasm: String,
}

#[component]
pub fn HydrationScript(bundle: HydrationBundle) -> impl IntoView {
    let nonce = leptos::nonce::use_nonce();
    // `{:?}` quotes the paths as JavaScript strings; they come from our own
    // manifest and hold only `[A-Za-z0-9_./-]` (`assets::bundle` checks).
    let script = format!(
        "const wasm = fetch({wasm:?});\
         import({js:?}).then(m => m.default({{ module_or_path: wasm }}).then(() => m.hydrate()));",
        wasm = bundle.wasm,
        js = bundle.js,
    );
    view! { <script type="module" nonce=nonce>{script}</script> }
}
