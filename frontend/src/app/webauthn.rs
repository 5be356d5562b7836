//! The browser's WebAuthn API, for passkeys. The auth-api makes and checks
//! the ceremonies; the browser half only hands their options to
//! `navigator.credentials` and the answer back, as JSON, through the
//! standard `PublicKeyCredential.parse…OptionsFromJSON` and `toJSON`.
//!
//! WebAuthn needs JavaScript: without the browser half (JavaScript off, or
//! a browser without these functions) `supported` is false and no passkey
//! button is shown; everything else works.

/// Whether this browser can create and use passkeys here.
pub fn supported() -> bool {
    #[cfg(feature = "hydrate")]
    return bridge::supported();
    #[cfg(not(feature = "hydrate"))]
    false
}

/// `navigator.credentials.create` with `options` (`{"publicKey":…}` JSON):
/// the new credential's JSON, or why not, for a person to read.
pub async fn create(options: String) -> Result<String, String> {
    #[cfg(feature = "hydrate")]
    return bridge::create(options).await.map_err(bridge::reason);
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = options;
        Err(UNSUPPORTED.to_owned())
    }
}

/// `navigator.credentials.get` with `options`: the assertion's JSON.
pub async fn get(options: String) -> Result<String, String> {
    #[cfg(feature = "hydrate")]
    return bridge::get(options).await.map_err(bridge::reason);
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = options;
        Err(UNSUPPORTED.to_owned())
    }
}

#[cfg(not(feature = "hydrate"))]
const UNSUPPORTED: &str = "Passkeys need JavaScript.";

#[cfg(feature = "hydrate")]
mod bridge {
    use wasm_bindgen::prelude::*;

    // A module of its own in the bundle (wasm-bindgen's snippet), imported
    // by the nonce'd loader like the rest: the page's CSP allows it.
    #[wasm_bindgen(inline_js = r#"
export function supported() {
    return typeof PublicKeyCredential !== "undefined"
        && typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function"
        && typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function"
        && !!(navigator.credentials && navigator.credentials.create);
}
export async function create(options) {
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(JSON.parse(options).publicKey);
    const credential = await navigator.credentials.create({ publicKey });
    return JSON.stringify(credential.toJSON());
}
export async function get(options) {
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(JSON.parse(options).publicKey);
    const credential = await navigator.credentials.get({ publicKey });
    return JSON.stringify(credential.toJSON());
}
export function reason(error) {
    return (error && error.name) ? error.name : String(error);
}
"#)]
    extern "C" {
        pub fn supported() -> bool;
        #[wasm_bindgen(catch, js_name = create)]
        async fn create_js(options: String) -> Result<JsValue, JsValue>;
        #[wasm_bindgen(catch, js_name = get)]
        async fn get_js(options: String) -> Result<JsValue, JsValue>;
        #[wasm_bindgen(js_name = reason)]
        fn reason_js(error: &JsValue) -> String;
    }

    pub async fn create(options: String) -> Result<String, JsValue> {
        Ok(create_js(options).await?.as_string().unwrap_or_default())
    }

    pub async fn get(options: String) -> Result<String, JsValue> {
        Ok(get_js(options).await?.as_string().unwrap_or_default())
    }

    /// A DOMException's name, as a sentence for the page.
    pub fn reason(error: JsValue) -> String {
        match reason_js(&error).as_str() {
            "NotAllowedError" => "The passkey prompt was cancelled or timed out.".to_owned(),
            "InvalidStateError" => "This passkey is registered already.".to_owned(),
            "SecurityError" => {
                "This browser refuses passkeys on this address (they need a domain name and https, or localhost)."
                    .to_owned()
            }
            other => format!("The browser could not use a passkey ({other})."),
        }
    }
}
