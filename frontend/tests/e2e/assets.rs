//! Static files and compression: the bundle under content-hashed names,
//! cached for a year and served pre-compressed as the browser accepts;
//! pages compressed but never cached as immutable; the icon; an upstream
//! app's responses passed on as the app encoded them.

use awc::http::{Method, StatusCode, header};
use shared::Role;

use crate::harness::{Options, Stack, spawn, spawn_with_notes};

const HASH: &str = "0123456789abcdef";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// A site root as `scripts/wasm.sh` lays one out. Each encoding's copy holds
/// different bytes, so a test sees which one it was sent.
fn fake_site() -> tempfile::TempDir {
    let site = tempfile::tempdir().unwrap();
    let pkg = site.path().join("pkg");
    let bundle = pkg.join(HASH);
    std::fs::create_dir_all(bundle.join("snippets/leptos-1")).unwrap();
    for file in ["frontend.js", "frontend_bg.wasm", "snippets/leptos-1/inline0.js"] {
        let path = bundle.join(file);
        std::fs::write(&path, format!("plain {file}")).unwrap();
        std::fs::write(format!("{}.br", path.display()), format!("brotli {file}")).unwrap();
        std::fs::write(format!("{}.gz", path.display()), format!("gzip {file}")).unwrap();
    }
    std::fs::write(
        pkg.join("manifest.txt"),
        format!("js = {HASH}/frontend.js\nwasm = {HASH}/frontend_bg.wasm\n"),
    )
    .unwrap();
    site
}

struct Fetched {
    status: StatusCode,
    headers: header::HeaderMap,
    body: Vec<u8>,
}

impl Fetched {
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }
}

async fn fetch(base: &str, path: &str, accept_encoding: Option<&str>) -> Fetched {
    let mut req = awc::Client::default().get(format!("{base}{path}"));
    if let Some(accept) = accept_encoding {
        req = req.insert_header((header::ACCEPT_ENCODING, accept));
    }
    let mut res = req.send().await.expect("the frontend answers");
    let body = res.body().limit(1 << 20).await.unwrap().to_vec();
    Fetched { status: res.status(), headers: res.headers().clone(), body }
}

#[actix_web::test]
async fn bundle_files_are_immutable_and_sent_precompressed_as_accepted() {
    let stack = spawn().await;
    let site = fake_site();
    let mut settings = stack.front_settings.clone();
    settings.leptos.site_root = site.path().to_string_lossy().into();
    let (base, _handle) = stack.another_frontend_with(settings).await;

    let js = format!("/pkg/{HASH}/frontend.js");
    for (accept, encoding, body) in [
        (Some("gzip, deflate, br, zstd"), "br", "brotli frontend.js"),
        (Some("gzip, deflate"), "gzip", "gzip frontend.js"),
        (Some("br;q=0, gzip;q=0"), "", "plain frontend.js"),
        (None, "", "plain frontend.js"),
    ] {
        let res = fetch(&base, &js, accept).await;
        assert_eq!(res.status, StatusCode::OK, "{accept:?}");
        assert_eq!(res.header(header::CONTENT_ENCODING), encoding, "{accept:?}");
        assert_eq!(String::from_utf8_lossy(&res.body), body, "{accept:?}");
        assert_eq!(res.header(header::CACHE_CONTROL), IMMUTABLE);
        assert!(res.header(header::VARY).to_ascii_lowercase().contains("accept-encoding"));
        assert!(res.header(header::CONTENT_TYPE).contains("javascript"), "{accept:?}");
    }
    let wasm = fetch(&base, &format!("/pkg/{HASH}/frontend_bg.wasm"), Some("br")).await;
    // `WebAssembly.instantiateStreaming` needs exactly this type, encoded or not.
    assert_eq!(wasm.header(header::CONTENT_TYPE), "application/wasm");
    assert_eq!(wasm.header(header::CONTENT_ENCODING), "br");
    let snippet = fetch(&base, &format!("/pkg/{HASH}/snippets/leptos-1/inline0.js"), None).await;
    assert_eq!(snippet.status, StatusCode::OK);
    // HEAD too (a cache or a checker asking what a GET would bring).
    let mut head = awc::Client::default().head(format!("{base}{js}")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers().get(header::CACHE_CONTROL).unwrap(), IMMUTABLE);
    assert!(head.body().await.unwrap().is_empty());

    for path in [
        "/pkg/manifest.txt".to_owned(),
        format!("/pkg/{HASH}/missing.js"),
        format!("/pkg/{HASH}/../manifest.txt"),
        format!("/pkg/{HASH}/%2e%2e/manifest.txt"),
        format!("/pkg/{HASH}/frontend.js.br"),
    ] {
        let res = fetch(&base, &path, None).await;
        // `frontend.js.br` exists, but only as the encoded frontend.js.
        if path.ends_with(".br") {
            assert_eq!(String::from_utf8_lossy(&res.body), "brotli frontend.js");
            assert_eq!(res.header(header::CONTENT_ENCODING), "", "never brotli twice");
            continue;
        }
        // A `..` segment is refused before routing (400), the rest not found.
        assert!(res.status.is_client_error(), "{path}: {}", res.status);
    }

    // Every page names this bundle, and loads it only from a module script:
    // no preload link, which browsers fetch with JavaScript off too.
    let page = fetch(&base, "/login", None).await;
    let html = String::from_utf8_lossy(&page.body);
    assert!(html.contains(&format!("import(\"/pkg/{HASH}/frontend.js\")")), "{html}");
    assert!(html.contains(&format!("fetch(\"/pkg/{HASH}/frontend_bg.wasm\")")), "{html}");
    assert!(html.contains("<script type=\"module\""), "{html}");
    assert!(!html.contains("preload"), "{html}");
}

#[actix_web::test]
async fn pages_are_compressed_as_accepted_and_never_cached_as_immutable() {
    let stack = spawn().await;
    let plain = fetch(&stack.front_base, "/login", None).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert_eq!(plain.header(header::CONTENT_ENCODING), "");
    for (accept, encoding) in [("gzip, deflate, br", "br"), ("gzip", "gzip")] {
        let page = fetch(&stack.front_base, "/login", Some(accept)).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(page.header(header::CONTENT_ENCODING), encoding);
        assert!(page.header(header::VARY).to_ascii_lowercase().contains("accept-encoding"));
        assert!(
            page.body.len() * 4 < plain.body.len() * 3,
            "{encoding}: {} bytes, {} plain",
            page.body.len(),
            plain.body.len()
        );
        assert!(!page.header(header::CACHE_CONTROL).contains("immutable"));
    }

    // A signed-in page stays `no-store`, compressed or not.
    let res = as_alice(&stack, "/profile", "br").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers().get(header::CONTENT_ENCODING).unwrap(), "br");
    assert_eq!(res.headers().get(header::CACHE_CONTROL).unwrap(), "no-store");
}

/// `GET path` from a browser alice has just signed in with, as an app's
/// script would send it (`X-CSRF: 1`), accepting `accept_encoding`.
async fn as_alice(stack: &Stack, path: &str, accept_encoding: &str) -> awc::ClientResponse {
    stack.add_user("alice", &[Role::User]).await;
    let alice = stack.browser();
    alice.sign_in_ok("alice").await;
    alice
        .request(Method::GET, path)
        .insert_header((header::ACCEPT_ENCODING, accept_encoding))
        .insert_header(("x-csrf", "1"))
        .send()
        .await
        .expect("the frontend answers")
}

#[actix_web::test]
async fn the_icon_is_served_and_cached_for_a_day() {
    let stack = spawn().await;
    let icon = fetch(&stack.front_base, "/favicon.ico", None).await;
    assert_eq!(icon.status, StatusCode::OK);
    assert_eq!(icon.header(header::CONTENT_TYPE), "image/x-icon");
    assert_eq!(icon.header(header::CACHE_CONTROL), "public, max-age=86400");
    assert_eq!(icon.body[..4], [0, 0, 1, 0], "an ICO file's header");
}

#[actix_web::test]
async fn an_upstream_apps_responses_are_not_compressed_by_us() {
    let (stack, _dir) = spawn_with_notes(Options::default()).await;
    let res = as_alice(&stack, "/notes-api/notes", "gzip, br").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get(header::CONTENT_ENCODING).is_none(), "{:?}", res.headers());
}
