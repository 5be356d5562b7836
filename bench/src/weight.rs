//! Benchmark 13: the weight of a first visit to `/login`, in a real browser.
//!
//! A frontend of its own serves the release bundle (`scripts/wasm.sh
//! release`, which `just bench` runs into `--site-dir`) and
//! `bench/page_weight.mjs` drives headless Chromium through chromedriver:
//! bytes transferred with JavaScript on and off (compressed, as they crossed
//! the wire) and the time from navigation to `<html data-hydrated>` over
//! `LOADS` loads with an empty cache. Without Node, Chromium, chromedriver or
//! the bundle, the rows are reported as skipped with the reason: the other
//! benchmarks do not depend on a browser.

use std::path::Path;

use serde::Deserialize;
use tokio::process::Command;

use crate::{http::Error, servers::Env};

/// Loads timed for the time to hydrated.
pub const LOADS: usize = 20;
/// Issue 19's targets, in bytes transferred (1 KB = 1,000 B).
pub const JS_ON_TARGET: u64 = 250_000;
pub const JS_OFF_TARGET: u64 = 15_000;
pub const PAGE: &str = "/login";

/// What `page_weight.mjs` prints (the fields this report uses).
#[derive(Deserialize)]
pub struct Weight {
    pub js_on_bytes: u64,
    pub js_off_bytes: u64,
    pub js_on_entries: Vec<Entry>,
    pub hydrated_ms: Hydrated,
}

#[derive(Deserialize)]
pub struct Entry {
    pub name: String,
    pub bytes: u64,
}

#[derive(Deserialize)]
pub struct Hydrated {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub loads: usize,
}

/// The figures, or why there are none.
pub type PageWeight = Result<Weight, String>;

/// Measures a first visit to `PAGE`, or says why it could not.
pub async fn measure(env: &Env, site: &Path) -> Result<PageWeight, Error> {
    if !site.join("pkg/manifest.txt").is_file() {
        return Ok(Err(format!(
            "no release bundle in `{}` (`just bench` builds it with `scripts/wasm.sh release`)",
            site.display()
        )));
    }
    for (tool, path) in [
        ("Chromium", std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())),
        (
            "chromedriver",
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into()),
        ),
    ] {
        if !Path::new(&path).is_file() {
            return Ok(Err(format!(
                "{tool} is not installed (`{path}`; Debian: `apt-get install chromium chromium-driver`)"
            )));
        }
    }
    let db = format!("sqlite://{}/w.db", env.dir.display());
    let auth = env.start_auth_api("auth-w", &db, 300).await?;
    let front = env.start_frontend_serving("front-w", &auth, site).await?;
    let script = env.workspace.join("bench/page_weight.mjs");
    let out = Command::new("node")
        .arg(&script)
        .arg(format!("{}{PAGE}", front.base()))
        .arg(LOADS.to_string())
        .output()
        .await;
    front.stop().await;
    auth.stop().await;
    let out = match out {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Err("Node is not installed (`node`; Debian: `nodejs`)".into()));
        }
        Err(e) => return Err(e.into()),
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let reason = stderr.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("no output");
        return Ok(Err(format!("`page_weight.mjs` failed: {}", reason.trim())));
    }
    Ok(serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("`page_weight.mjs` printed no result it could read: {e}")))
}

impl Weight {
    /// The requests of the visit with JavaScript on, by kind: (what, count, bytes).
    pub fn by_kind(&self) -> Vec<(&'static str, usize, u64)> {
        let mut kinds: Vec<(&'static str, usize, u64)> = Vec::new();
        for e in &self.js_on_entries {
            let path = e.name.split(['?', '#']).next().unwrap_or_default();
            let kind = if path.ends_with(".wasm") {
                "wasm"
            } else if path.ends_with(".js") {
                "JavaScript"
            } else if path.ends_with(".css") {
                "stylesheet"
            } else if path.ends_with(".ico") {
                "icon"
            } else {
                "page"
            };
            match kinds.iter_mut().find(|(k, ..)| *k == kind) {
                Some((_, n, bytes)) => {
                    *n += 1;
                    *bytes += e.bytes;
                }
                None => kinds.push((kind, 1, e.bytes)),
            }
        }
        kinds
    }
}
