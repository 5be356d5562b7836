//! Static files: the hydration bundle under `/{site-pkg-dir}` and the icon.
//!
//! `scripts/wasm.sh` writes the bundle into a directory named for the hash of
//! its contents, with a brotli (`.br`) and a gzip (`.gz`) copy beside each
//! file, and names that directory in `{site-pkg-dir}/manifest.txt`. A name
//! that changes whenever the contents do can be cached forever; the copies
//! save compressing the 1–10 MB bundle per request. Never serves a file
//! outside a bundle directory, nor the manifest itself.

use std::path::{Path, PathBuf};

use actix_files::NamedFile;
use actix_web::{
    HttpRequest, HttpResponse,
    http::header::{self, ContentEncoding, HeaderValue},
    mime, web,
};
use leptos::config::LeptosOptions;

use crate::app::hydration::HydrationBundle;

/// Content-hashed names never change meaning: a browser (or a shared cache)
/// may keep them a year without asking again.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The icon's name is fixed (browsers ask for `/favicon.ico` unprompted), so
/// it cannot be immutable; a day between checks is plenty for an icon.
const FAVICON_CACHE: &str = "public, max-age=86400";
const MANIFEST: &str = "manifest.txt";

/// The bundle the pages load, from the manifest `scripts/wasm.sh` wrote;
/// `None` when there is none (pages are then served without hydration).
pub fn bundle(options: &LeptosOptions) -> Option<HydrationBundle> {
    let pkg = options.site_pkg_dir.trim_matches('/');
    let manifest = pkg_root(options).join(MANIFEST);
    let text = std::fs::read_to_string(&manifest).ok()?;
    let mut js = None;
    let mut wasm = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else { continue };
        let value = value.trim();
        // The paths are written into an inline script: only plain names.
        if !safe_path(value) {
            tracing::warn!(manifest = %manifest.display(), line, "ignoring an unsafe manifest line");
            continue;
        }
        match key.trim() {
            "js" => js = Some(format!("/{pkg}/{value}")),
            "wasm" => wasm = Some(format!("/{pkg}/{value}")),
            _ => {}
        }
    }
    match (js, wasm) {
        (Some(js), Some(wasm)) => Some(HydrationBundle { js, wasm }),
        _ => {
            tracing::warn!(manifest = %manifest.display(), "the manifest names no js and wasm");
            None
        }
    }
}

fn pkg_root(options: &LeptosOptions) -> PathBuf {
    Path::new(&*options.site_root).join(&*options.site_pkg_dir)
}

/// A relative path of plain segments: no `..`, no hidden files, nothing a
/// script string or a file system would read differently.
fn safe_path(path: &str) -> bool {
    !path.is_empty()
        && path.split('/').all(|segment| {
            !segment.is_empty()
                && !segment.starts_with('.')
                && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        })
}

/// The best encoding of ours that `Accept-Encoding` allows: brotli, then
/// gzip. A coding named with `q=0` is refused even when `*` would allow it.
fn preferred(accept: Option<&HeaderValue>) -> Option<ContentEncoding> {
    let accept = accept.and_then(|v| v.to_str().ok()).unwrap_or_default();
    let allows = |coding: &str| {
        let mut wildcard = false;
        for item in accept.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(1.0, |q| q.trim().parse::<f32>().unwrap_or(0.0));
            if name.eq_ignore_ascii_case(coding) {
                return q > 0.0;
            }
            if name == "*" {
                wildcard = q > 0.0;
            }
        }
        wildcard
    };
    [(ContentEncoding::Brotli, "br"), (ContentEncoding::Gzip, "gzip")]
        .into_iter()
        .find(|(_, name)| allows(name))
        .map(|(encoding, _)| encoding)
}

fn content_type(path: &Path) -> mime::Mime {
    match path.extension().and_then(|e| e.to_str()) {
        Some("js") => mime::APPLICATION_JAVASCRIPT_UTF_8,
        // `WebAssembly.instantiateStreaming` refuses any other type.
        Some("wasm") => "application/wasm".parse().expect("a valid media type"),
        _ => mime::APPLICATION_OCTET_STREAM,
    }
}

/// `GET /{site-pkg-dir}/{hash}/{file}`: the file, pre-compressed as the
/// browser accepts, cached for a year.
pub async fn bundle_file(
    req: HttpRequest,
    options: web::Data<LeptosOptions>,
) -> actix_web::Result<HttpResponse> {
    let tail = req.match_info().query("file");
    // At least `{hash}/{file}`: the manifest, at the top, is not served.
    if !safe_path(tail) || !tail.contains('/') {
        return Ok(HttpResponse::NotFound().finish());
    }
    let path = pkg_root(&options).join(tail);
    let encoded = match preferred(req.headers().get(header::ACCEPT_ENCODING)) {
        Some(encoding) => {
            let suffix = if encoding == ContentEncoding::Brotli { "br" } else { "gz" };
            let mut name = path.clone().into_os_string();
            name.push(format!(".{suffix}"));
            NamedFile::open_async(PathBuf::from(name))
                .await
                .ok()
                .map(|file| file.set_content_encoding(encoding))
        }
        None => None,
    };
    let file = match encoded {
        Some(file) => file,
        None => match NamedFile::open_async(&path).await {
            Ok(file) => file,
            Err(_) => return Ok(HttpResponse::NotFound().finish()),
        },
    };
    let mut res = file
        .set_content_type(content_type(&path))
        .disable_content_disposition()
        .into_response(&req);
    let headers = res.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    // The same URL has three bodies: a shared cache must key on the header.
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    Ok(res)
}

/// `GET /favicon.ico`: compiled in, like the stylesheet.
pub async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/x-icon")
        .insert_header((header::CACHE_CONTROL, FAVICON_CACHE))
        .body(&include_bytes!("../../assets/favicon.ico")[..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(value: &str) -> Option<ContentEncoding> {
        preferred(Some(&HeaderValue::from_str(value).unwrap()))
    }

    #[test]
    fn brotli_is_preferred_then_gzip_and_q_zero_refuses() {
        assert_eq!(accepts("gzip, deflate, br, zstd"), Some(ContentEncoding::Brotli));
        assert_eq!(accepts("gzip"), Some(ContentEncoding::Gzip));
        assert_eq!(accepts("br;q=0, gzip;q=0.5"), Some(ContentEncoding::Gzip));
        assert_eq!(accepts("*"), Some(ContentEncoding::Brotli));
        assert_eq!(accepts("identity"), None);
        assert_eq!(accepts("br;q=0,gzip;q=0"), None);
        assert_eq!(accepts("br;q=0, *"), Some(ContentEncoding::Gzip));
        assert_eq!(preferred(None), None);
    }

    #[test]
    fn only_plain_relative_paths_are_safe() {
        assert!(safe_path("0f3a9c/frontend.js"));
        assert!(safe_path("0f3a9c/snippets/leptos-1a2b/inline0.js"));
        for bad in ["", "/etc/passwd", "a//b", "../x", "a/../b", ".hidden/x", "a/b\"c", "a\\b"] {
            assert!(!safe_path(bad), "{bad:?} must be refused");
        }
    }
}
