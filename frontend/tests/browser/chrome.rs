//! Headless Chromium through chromedriver, and the few moves a test makes
//! with it. Hides plumbing, never assertions about the product.
//!
//! Each browser gets its own chromedriver on an ephemeral port and a fresh
//! profile directory; at most two run at once (the machine has two cores).
//! Every wait polls for a condition with a deadline, never a bare sleep.

use std::{
    fmt::Debug,
    io::Write as _,
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::harness::COOKIE;

/// How long anything may take to show up: generous for two busy cores,
/// bounded all the same.
pub const PATIENCE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(50);

/// Two cores: two Chromiums at a time, whatever `--test-threads` says.
static BROWSERS: Semaphore = Semaphore::const_new(2);

/// Each scenario runs once per setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Js {
    On,
    Off,
}

fn binary(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).filter(|v| !v.is_empty()).map_or_else(|| default.into(), PathBuf::from)
}

/// Chromium and chromedriver, or why they cannot be used.
fn binaries() -> Result<(PathBuf, PathBuf), String> {
    let chromium = binary("CHROMIUM", "/usr/bin/chromium");
    let chromedriver = binary("CHROMEDRIVER", "/usr/bin/chromedriver");
    for path in [&chromium, &chromedriver] {
        if !path.is_file() {
            return Err(format!(
                "{} not found (apt-get install chromium chromium-driver)",
                path.display()
            ));
        }
    }
    Ok((chromium, chromedriver))
}

/// `BROWSER_E2E=1` turns a missing browser from a skip into a failure.
fn browser_required() -> bool {
    std::env::var("BROWSER_E2E").is_ok_and(|v| v == "1")
}

/// A chromedriver process on an ephemeral port. It leads its own process
/// group, so dropping it also ends any Chromium it started, even when a
/// test panics before closing its session.
struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    async fn start(bin: &Path) -> Self {
        let mut why = String::new();
        // The port is free when we look, but another process may take it
        // before chromedriver binds it; chromedriver then exits and we retry.
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("an ephemeral port")
                .port();
            let child = Command::new(bin)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
            let mut driver = Self { child, url: format!("http://127.0.0.1:{port}") };
            let deadline = Deadline::new(format!("chromedriver to listen on {}", driver.url));
            loop {
                if let Some(status) = driver.child.try_wait().expect("chromedriver's status") {
                    why = format!("chromedriver on port {port} exited: {status}");
                    break;
                }
                if driver.ready().await {
                    return driver;
                }
                deadline.tick("no answer to GET /status").await;
            }
        }
        panic!("chromedriver would not start: {why}");
    }

    /// Readiness: chromedriver's own `/status` says it takes sessions.
    async fn ready(&self) -> bool {
        let client = awc::Client::builder().timeout(Duration::from_secs(2)).finish();
        match client.get(format!("{}/status", self.url)).send().await {
            Ok(mut res) => res.json::<Value>().await.is_ok_and(|v| v["value"]["ready"] == true),
            Err(_) => false,
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // Not yet reaped, so its pid still names its process group.
        if let Ok(None) = self.child.try_wait() {
            let group = format!("-{}", self.child.id());
            let killed = Command::new("kill")
                .args(["-KILL", "--", &group])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !killed {
                let _ = self.child.kill();
            }
            let _ = self.child.wait();
        }
    }
}

/// A bounded wait: `tick` sleeps one poll period, or fails the test once
/// the deadline has passed, saying what it waited for and what it last saw.
pub struct Deadline {
    until: Instant,
    what: String,
}

impl Deadline {
    pub fn new(what: impl Into<String>) -> Self {
        Self { until: Instant::now() + PATIENCE, what: what.into() }
    }

    pub async fn tick(&self, last_seen: impl Debug) {
        assert!(
            Instant::now() < self.until,
            "gave up after {PATIENCE:?} waiting for {}; last seen: {last_seen:?}",
            self.what
        );
        tokio::time::sleep(POLL).await;
    }
}

/// One headless Chromium with a fresh profile, pointed at one frontend.
pub struct Browser {
    pub client: Client,
    pub js: Js,
    base: String,
    /// Refusals the scenario provokes on purpose (`expect_refusal`).
    refusals: std::cell::RefCell<Vec<(String, u16)>>,
    // Dropped in this order: the browser's processes, its profile, its slot.
    _driver: ChromeDriver,
    _profile: tempfile::TempDir,
    _slot: SemaphorePermit<'static>,
}

impl Browser {
    /// Starts Chromium with JavaScript on or off, and checks it really is.
    /// `None` (after saying why) when no browser is installed and
    /// `BROWSER_E2E` is not `1`.
    pub async fn open(base: &str, js: Js) -> Option<Self> {
        let (chromium, chromedriver) = match binaries() {
            Ok(found) => found,
            Err(why) if browser_required() => panic!("BROWSER_E2E=1 but {why}"),
            Err(why) => {
                let test = std::thread::current().name().unwrap_or("?").to_owned();
                // Straight to stderr: libtest hides what `eprintln!` prints in passing tests.
                let _ = writeln!(std::io::stderr(), "skipping browser test {test}: {why}");
                return None;
            }
        };
        let slot = BROWSERS.acquire().await.expect("the semaphore is never closed");
        let driver = ChromeDriver::start(&chromedriver).await;
        let profile = tempfile::Builder::new().prefix("cloakroom-chromium-").tempdir().unwrap();
        let mut options = json!({
            "binary": chromium,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                // Without these Chromium phones home at start-up, and this
                // machine's closed network refuses its connections.
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
                "--password-store=basic",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        });
        if js == Js::Off {
            options["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        let patience = PATIENCE.as_millis() as u64;
        let Value::Object(capabilities) = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": { "pageLoad": patience, "script": patience },
            "goog:chromeOptions": options,
            // The console, for `close` to check.
            "goog:loggingPrefs": { "browser": "ALL" },
        }) else {
            unreachable!()
        };
        let connect = async {
            ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities)
                .connect(&driver.url)
                .await
        };
        let client = tokio::time::timeout(3 * PATIENCE, connect)
            .await
            .unwrap_or_else(|_| panic!("Chromium did not start within {:?}", 3 * PATIENCE))
            .unwrap_or_else(|e| panic!("Chromium ({}) did not start: {e}", chromium.display()));
        let browser = Self {
            client,
            js,
            base: base.to_owned(),
            refusals: Default::default(),
            _driver: driver,
            _profile: profile,
            _slot: slot,
        };
        browser.check_javascript().await;
        browser.resize(1280, 900).await;
        Some(browser)
    }

    /// Proves the setting took: a page with a script and a `<noscript>`
    /// shows one or the other.
    async fn check_javascript(&self) {
        self.client
            .goto(
                "data:text/html,<title>probe</title>\
                 <noscript><p%20id=noscript>off</p></noscript>\
                 <script>document.title='ran'</script>",
            )
            .await
            .expect("the probe page loads");
        let title = self.client.title().await.unwrap();
        let noscript = self.client.find_all(Locator::Id("noscript")).await.unwrap().len();
        match self.js {
            Js::On => assert!(
                title == "ran" && noscript == 0,
                "JavaScript should be on: title {title:?}, <noscript> shown {noscript} times"
            ),
            Js::Off => assert!(
                title == "probe" && noscript == 1,
                "JavaScript should be off: title {title:?}, <noscript> shown {noscript} times"
            ),
        }
    }

    /// Ends the session (Chromium quits); the rest goes when `self` drops.
    /// Fails the test if anything was logged as an error in the console
    /// meanwhile (a failed load, such as a missing icon, counts), but for
    /// the refusals the scenario said it provokes.
    pub async fn close(self) {
        let refusals = self.refusals.take();
        let unexpected: Vec<_> = self
            .console_errors()
            .await
            .into_iter()
            .filter(|message| {
                !refusals.iter().any(|(path, status)| {
                    message.starts_with(&format!("{}{path} - ", self.base))
                        && message.contains(&format!("status of {status} "))
                })
            })
            .collect();
        assert!(unexpected.is_empty(), "the browser console logged errors: {unexpected:#?}");
        let client = self.client.clone();
        let _ = tokio::time::timeout(PATIENCE, client.close()).await;
    }

    /// The scenario answers `path` with `status` on purpose (a wrong
    /// password's `400`): the console's "Failed to load resource" for it is
    /// no fault.
    pub fn expect_refusal(&self, path: &str, status: u16) {
        self.refusals.borrow_mut().push((path.to_owned(), status));
    }

    /// The console's error lines since the last call (chromedriver's log
    /// endpoint hands each entry out once).
    pub async fn console_errors(&self) -> Vec<String> {
        let command = SessionCommand {
            path: "se/log".into(),
            method: http::Method::POST,
            body: Some(json!({ "type": "browser" })),
        };
        let log = self.client.issue_cmd(command).await.expect("the browser log");
        log.as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The URLs of every resource the current page fetched, from its
    /// Resource Timing entries (WebDriver's script runs with JavaScript off too).
    pub async fn resources_fetched(&self) -> Vec<String> {
        let names = self
            .client
            .execute("return performance.getEntriesByType('resource').map(e => e.name);", vec![])
            .await
            .expect("WebDriver runs a script");
        serde_json::from_value(names).expect("a list of URLs")
    }

    /// Types an address: a full page load (hydrated, with JavaScript on).
    pub async fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.client.goto(&url).await.unwrap_or_else(|e| panic!("cannot load {url}: {e}"));
        self.wait_for_hydration().await;
    }

    /// True when the JavaScript run has the wasm bundle to hydrate with.
    /// `just test` builds it first; with `BROWSER_E2E=1` it must be there,
    /// so CI always tests the hydrated app.
    pub fn hydrates(&self) -> bool {
        if self.js == Js::Off {
            return false;
        }
        let bundle = crate::harness::site_root().join("pkg/manifest.txt");
        let built = bundle.is_file();
        assert!(
            built || !browser_required(),
            "BROWSER_E2E=1 but {} is missing: run `just wasm` (or `just test`)",
            bundle.display()
        );
        built
    }

    /// Waits until the app has taken over the page (`<html data-hydrated>`),
    /// so that clicks are handled by it rather than by the bare HTML form.
    pub async fn wait_for_hydration(&self) {
        if self.hydrates() {
            self.find(Locator::Css("html[data-hydrated]")).await;
        }
    }

    /// Leaves a mark in this document; `same_document` tells whether it is
    /// still there, i.e. whether what happened since was done in place
    /// rather than by loading a new page.
    pub async fn mark_document(&self) {
        self.client.execute("window.__cloakroomMark = true;", vec![]).await.unwrap();
    }

    pub async fn same_document(&self) -> bool {
        let v = self.client.execute("return window.__cloakroomMark === true;", vec![]).await;
        v.unwrap().as_bool().unwrap_or(false)
    }

    /// Where the browser is: path and query, e.g. `/login?next=%2Fprofile`.
    pub async fn location(&self) -> String {
        let url = self.client.current_url().await.expect("the current URL");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    pub async fn wait_for_location(&self, expected: &str) {
        let deadline = Deadline::new(format!("the browser to be at {expected}"));
        loop {
            let now = self.location().await;
            if now == expected {
                return;
            }
            deadline.tick(now).await;
        }
    }

    /// The first element `locator` finds, once there is one.
    pub async fn find(&self, locator: Locator<'_>) -> Element {
        match self.client.wait().at_most(PATIENCE).every(POLL).for_element(locator).await {
            Ok(element) => element,
            Err(e) => panic!(
                "no {locator:?} at {} after {PATIENCE:?} ({e}); the page says:\n{}",
                self.location().await,
                self.page_text().await
            ),
        }
    }

    pub async fn click(&self, locator: Locator<'_>) {
        self.find(locator)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {locator:?}: {e}"));
    }

    /// Waits until an element `locator` finds has `text` in its text, and returns that text.
    pub async fn wait_for_text(&self, locator: Locator<'_>, text: &str) -> String {
        let deadline = Deadline::new(format!("{text:?} in {locator:?}"));
        loop {
            // A page being replaced can make elements stale mid-loop: just look again.
            let mut seen = Vec::new();
            for element in self.client.find_all(locator).await.unwrap_or_default() {
                if let Ok(t) = element.text().await {
                    if t.contains(text) {
                        return t;
                    }
                    seen.push(t);
                }
            }
            deadline.tick(seen).await;
        }
    }

    /// Waits until exactly `n` elements match, and returns their texts.
    pub async fn wait_for_count(&self, locator: Locator<'_>, n: usize) -> Vec<String> {
        let deadline = Deadline::new(format!("{n} of {locator:?}"));
        loop {
            let mut texts = Vec::new();
            for element in self.client.find_all(locator).await.unwrap_or_default() {
                texts.push(element.text().await.unwrap_or_default());
            }
            if texts.len() == n {
                return texts;
            }
            deadline.tick(texts).await;
        }
    }

    /// The visible text of the page, for failure messages.
    pub async fn page_text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(e) => format!("(no body: {e})"),
        }
    }

    /// Fills the sign-in form by its labels and presses its button.
    pub async fn submit_sign_in(&self, username: &str, password: &str) {
        for (label, value) in [("Username", username), ("Password", password)] {
            let field = self.field(label).await;
            field.clear().await.unwrap();
            field.send_keys(value).await.unwrap();
        }
        self.click(Locator::XPath("//form[@action='/login']//button[normalize-space()='Sign in']"))
            .await;
    }

    /// The input a `<label>` with this text is for.
    pub async fn field(&self, label: &str) -> Element {
        let xpath = format!("//input[@id=//label[normalize-space()={label:?}]/@for]");
        self.find(Locator::XPath(&xpath)).await
    }

    /// What the page's scripts could read, and what cookies the browser holds.
    ///
    /// WebDriver's script runs in the page even when the page's own
    /// JavaScript is off, so this works in both runs.
    pub async fn assert_scripts_see_nothing(&self) {
        let seen = self
            .client
            .execute(
                "return { cookie: document.cookie, \
                          localStorage: Object.keys(localStorage), \
                          sessionStorage: Object.keys(sessionStorage) };",
                vec![],
            )
            .await
            .expect("WebDriver runs a script");
        assert_eq!(
            seen,
            json!({ "cookie": "", "localStorage": [], "sessionStorage": [] }),
            "page scripts must see no cookie and no storage at {}",
            self.location().await
        );
        let cookies = self.client.get_all_cookies().await.unwrap();
        let mut names = cookies.iter().map(|c| c.name().to_owned()).collect::<Vec<_>>();
        names.sort();
        // The device cookie comes with the first successful sign-in here.
        assert_eq!(
            names,
            [COOKIE, "cloakroom-device"],
            "the browser holds the session and device cookies and nothing else"
        );
        assert!(cookies.iter().all(|c| c.http_only() == Some(true)), "both are HttpOnly");
    }

    /// No session cookie in the browser.
    pub async fn assert_no_session_cookie(&self) {
        let cookies = self.client.get_all_cookies().await.unwrap();
        assert!(
            cookies.iter().all(|c| c.name() != COOKIE),
            "no session cookie expected, found {cookies:?}"
        );
    }

    /// Sizes the window so that the page itself (the viewport, what a
    /// screenshot shows) is `width` x `height` CSS pixels.
    pub async fn resize(&self, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.unwrap();
        // Even headless, the window has a frame: ask again for that much more.
        let inner = self
            .client
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await
            .unwrap();
        let more = |i: usize, want: u32| {
            let got = inner[i].as_u64().unwrap_or(u64::from(want));
            (2 * u64::from(want)).saturating_sub(got).max(1) as u32
        };
        let (w, h) = (more(0, width), more(1, height));
        if (w, h) != (width, height) {
            self.client.set_window_size(w, h).await.unwrap();
        }
    }

    /// Saves a PNG of the window as `$SCREENSHOTS_DIR/{name}`, in the
    /// JavaScript-on run only (what most visitors see).
    pub async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("SCREENSHOTS_DIR").filter(|d| !d.is_empty()) else {
            return;
        };
        if self.js == Js::Off {
            return;
        }
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }
}

/// A command fantoccini has no helper for, sent as is: WebDriver's WebAuthn
/// extension (a W3C extension Chromium's driver implements) and
/// chromedriver's console log (`goog:loggingPrefs`, a legacy endpoint).
#[derive(Debug)]
struct SessionCommand {
    /// Below `session/{id}/`.
    path: String,
    method: http::Method,
    body: Option<Value>,
}

impl fantoccini::wd::WebDriverCompatibleCommand for SessionCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session_id.unwrap_or_default();
        base_url.join(&format!("session/{session}/{}", self.path))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (self.method.clone(), self.body.as_ref().map(Value::to_string))
    }
}

impl Browser {
    /// Adds Chromium's virtual authenticator: a platform authenticator
    /// (CTAP2, internal) that keeps discoverable credentials and verifies
    /// its user (as a fingerprint or PIN would) every time. Its id.
    pub async fn add_virtual_authenticator(&self) -> String {
        let command = SessionCommand {
            path: "webauthn/authenticator".into(),
            method: http::Method::POST,
            body: Some(json!({
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": true,
                "hasUserVerification": true,
                "isUserVerified": true,
                "automaticPresenceSimulation": true,
            })),
        };
        let id = self.client.issue_cmd(command).await.expect("a virtual authenticator");
        id.as_str().expect("its id").to_owned()
    }

    /// The credentials the virtual authenticator `id` holds.
    pub async fn authenticator_credentials(&self, id: &str) -> Vec<Value> {
        let command = SessionCommand {
            path: format!("webauthn/authenticator/{id}/credentials"),
            method: http::Method::GET,
            body: None,
        };
        let found = self.client.issue_cmd(command).await.expect("the credentials");
        found.as_array().cloned().unwrap_or_default()
    }
}
