//! Spawns both servers and plays the browser. Hides plumbing, never assertions.

use std::{cell::RefCell, collections::BTreeMap, rc::Rc, sync::Arc, time::Duration};

use actix_web::dev::ServerHandle;
use auth_api::{
    audit::Actor,
    clock::ManualClock,
    config::{MfaSettings, Settings as AuthSettings},
    domain::{Password, Username},
    mfa::key::MfaKeys,
    passwords::policy::PasswordPolicy,
    startup::Application as AuthApplication,
    state::AppState,
};
use awc::http::{StatusCode, header};
use cookie::{Cookie, Key};
use frontend::{
    config::{CookieKeys, Secret, Settings},
    {startup::Application, state::FrontendState},
};
use shared::Role;

// The auth-api's test settings, shared with its own tests.
#[path = "../../../auth-api/tests/support/settings.rs"]
mod auth_test_settings;

pub const CLIENT_ID: &str = "cloakroom-frontend";
pub const CLIENT_SECRET: &str = "e2e-client-secret-0123456789abcdef";
pub const PASSWORD: &str = "correct horse battery staple";
pub const COOKIE: &str = "cloakroom";

pub struct Stack {
    pub clock: ManualClock,
    pub auth_base: String,
    /// The auth-api's private `/metrics` listener.
    pub auth_metrics: String,
    pub auth_state: actix_web::web::Data<AppState>,
    pub auth_settings: AuthSettings,
    auth_handle: Option<ServerHandle>,
    /// The auth-api's run, which ends once its database is closed.
    auth_task: Option<actix_web::rt::task::JoinHandle<std::io::Result<()>>>,
    pub front_base: String,
    /// The frontend's private `/metrics` listener.
    pub front_metrics: String,
    /// Where the test's own HTTP client connects: the bound address, even
    /// when browsers are sent to `localhost` (resolving that name to ::1
    /// first has failed connections in CI).
    connect_base: String,
    pub front: actix_web::web::Data<FrontendState>,
    pub front_settings: Settings,
    _dir: Arc<tempfile::TempDir>,
}

pub struct Options {
    pub access_ttl: i64,
    pub cookie_keys: Vec<Key>,
    /// The frontend's TRUSTED_PROXIES.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The auth-api's MFA_REQUIRED_ROLES: none unless a test asks, so the
    /// administrator tests can sign in with a password alone.
    pub mfa_required_roles: Vec<Role>,
    /// Serve the frontend as `http://localhost:PORT` (its PUBLIC_ORIGIN)
    /// rather than `http://127.0.0.1:PORT`: browsers refuse WebAuthn on an
    /// IP address, so the browser tests use this.
    pub localhost: bool,
    /// The frontend's UPSTREAMS.
    pub upstreams: Vec<frontend::routes::Upstream>,
    /// Its TLS roots (UPSTREAM_CA_FILE).
    pub tls: frontend::tls::ClientTls,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            access_ttl: 300,
            cookie_keys: vec![Key::generate()],
            trusted_proxies: vec![],
            mfa_required_roles: vec![],
            localhost: false,
            upstreams: vec![],
            tls: frontend::tls::ClientTls::system(),
        }
    }
}

/// The auth-api's MFA_ENCRYPTION_KEY in these tests (32 bytes, base64).
pub const MFA_KEY: &str = "B3R8oBlS0cL0Y0Ut2m1Tq8Cq6pT3K5wJtGq8a0bWcVI=";

/// The real `Leptos.toml` of the workspace.
fn leptos_options() -> leptos::config::LeptosOptions {
    leptos::config::get_configuration(Some(concat!(env!("CARGO_MANIFEST_DIR"), "/../Leptos.toml")))
        .unwrap()
        .leptos_options
}

/// `site-root` of `Leptos.toml`, which is relative to the workspace root;
/// tests run from the crate's directory, so anchor it there.
pub fn site_root() -> std::path::PathBuf {
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    workspace.join(&*leptos_options().site_root)
}

pub async fn spawn() -> Stack {
    spawn_with(Options::default()).await
}

/// A stack whose frontend is at `http://localhost:PORT`, for a real browser
/// (the browser tests, which include this file).
#[allow(dead_code)]
pub async fn spawn_on_localhost() -> Stack {
    spawn_with(Options { localhost: true, ..Options::default() }).await
}

pub async fn spawn_with(options: Options) -> Stack {
    shared::telemetry::init_for_tests();
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let clock = ManualClock::starting_now();
    // The frontend's port first: its origin is the auth-api's relying party.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let front_origin = match options.localhost {
        true => format!("http://localhost:{port}"),
        false => format!("http://127.0.0.1:{port}"),
    };
    let mut auth_settings = auth_test_settings::test_settings(
        &format!("sqlite://{}/auth.db", dir.path().display()),
        "http://auth.cloakroom.test",
        CLIENT_ID,
        CLIENT_SECRET,
    );
    auth_settings.access_token_ttl = options.access_ttl;
    // Many sign-ins from 127.0.0.1 in one test.
    auth_settings.throttle.max_failures_per_ip = 100;
    auth_settings.mfa = MfaSettings {
        keys: MfaKeys::parse(MFA_KEY).unwrap(),
        required_roles: options.mfa_required_roles,
    };
    auth_settings.public_origins = vec![front_origin.clone()];
    let auth = AuthApplication::build_with_clock(auth_settings.clone(), Arc::new(clock.clone()))
        .await
        .unwrap();
    let auth_base = format!("http://127.0.0.1:{}", auth.port());
    let auth_metrics = metrics_base(auth.metrics_port());
    let auth_state = auth.state();
    let auth_handle = auth.handle();
    let auth_task = actix_web::rt::spawn(auth.run_until_stopped());

    let mut leptos = leptos_options();
    leptos.site_addr = "127.0.0.1:0".parse().unwrap();
    leptos.site_root = site_root().to_string_lossy().into();
    let front_settings = Settings {
        leptos,
        auth_api_url: auth_base.clone(),
        issuer: auth_settings.issuer.clone(),
        client_id: CLIENT_ID.into(),
        client_secret: Secret::new(CLIENT_SECRET),
        cookie_keys: CookieKeys::from_keys(options.cookie_keys),
        cookie_secure: false,
        auth_api_allow_http: false,
        metrics_addr: Some("127.0.0.1:0".into()),
        public_origin: options.localhost.then_some(front_origin),
        trusted_proxies: options.trusted_proxies,
        trace_from_proxies: false,
        upstreams: options.upstreams,
        tls: options.tls,
        shutdown_grace: 5,
    };
    let front = start_frontend(listener, front_settings.clone(), &clock).await;
    Stack {
        clock,
        auth_base,
        auth_metrics,
        auth_state,
        auth_settings,
        auth_handle: Some(auth_handle),
        auth_task: Some(auth_task),
        front_base: front.0,
        front_metrics: front.3,
        connect_base: format!("http://127.0.0.1:{port}"),
        front: front.1,
        front_settings,
        _dir: dir,
    }
}

/// A stack whose frontend fronts a real notes app (`examples/notes`) at
/// `/notes-api`, as `just dev` runs it. The folder holds its database.
pub async fn spawn_with_notes(options: Options) -> (Stack, tempfile::TempDir) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let notes_route = frontend::routes::Upstream {
        path: "/notes-api".into(),
        url,
        access: frontend::routes::Access::SignedIn,
        kind: frontend::routes::Kind::Api,
        audience: "notes-api".into(),
        timeout: Duration::from_secs(5),
        max_body_bytes: 64 * 1024,
    };
    let mut upstreams = options.upstreams.clone();
    upstreams.push(notes_route);
    let stack = spawn_with(Options { upstreams, ..options }).await;
    let dir = tempfile::tempdir().unwrap();
    let settings = notes::config::Settings {
        addr: "127.0.0.1:0".into(),
        database_url: format!("sqlite://{}/notes.db?mode=rwc", dir.path().display()),
        auth_api_url: stack.auth_base.clone(),
        issuer: stack.auth_settings.issuer.clone(),
        audience: "notes-api".into(),
    };
    let app =
        notes::startup::Application::build_on(listener, settings, notes::clock::Clock::system())
            .await
            .expect("the notes app starts");
    actix_web::rt::spawn(app.run_until_stopped());
    (stack, dir)
}

async fn start_frontend(
    listener: std::net::TcpListener,
    settings: Settings,
    clock: &ManualClock,
) -> (String, actix_web::web::Data<FrontendState>, ServerHandle, String) {
    let clock = clock.clone();
    let app = Application::build_on(
        listener,
        settings,
        Arc::new(move || auth_api::clock::Clock::now(&clock)),
    )
    .await
    .unwrap();
    let base = app.public_origin().to_owned();
    let metrics = metrics_base(app.metrics_port());
    let state = app.state();
    let handle = app.handle();
    actix_web::rt::spawn(app.run_until_stopped());
    (base, state, handle, metrics)
}

/// The base URL of a `/metrics` listener on 127.0.0.1.
fn metrics_base(port: Option<u16>) -> String {
    format!("http://127.0.0.1:{}", port.expect("the tests keep metrics on"))
}

impl Stack {
    pub fn browser(&self) -> Browser {
        let mut browser = Browser::new(&self.connect_base);
        browser.origin = self.front_base.clone();
        browser
    }

    pub async fn add_user(&self, name: &str, roles: &[Role]) -> String {
        let username = Username::parse(name).unwrap();
        let password = Password::parse(PASSWORD.into()).unwrap();
        let password = PasswordPolicy::default().accept(password, name).await.unwrap();
        let now = self.auth_state.now();
        auth_api::users::add(&self.auth_state.store, username, password, roles, Actor::Cli, now)
            .await
            .unwrap()
            .expect("new user")
            .id
    }

    /// One sample of the auth-api's `/metrics`, e.g. `refreshes_total{result="rotated"}`.
    pub async fn auth_metric(&self, sample: &str) -> f64 {
        let mut res = awc::Client::default()
            .get(format!("{}/metrics", self.auth_metrics))
            .send()
            .await
            .unwrap();
        let text = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(sample).and_then(|rest| rest.strip_prefix(' ')))
            .map_or(0.0, |v| v.trim().parse().unwrap())
    }

    /// Every call the frontend made to `/auth/token`, whatever its outcome.
    pub async fn token_calls(&self) -> f64 {
        let mut res = awc::Client::default()
            .get(format!("{}/metrics", self.auth_metrics))
            .send()
            .await
            .unwrap();
        let text = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
        text.lines()
            .filter(|l| l.starts_with("http_requests_total{route=\"/auth/token\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub async fn stop_auth_api(&mut self) {
        if let Some(h) = self.auth_handle.take() {
            h.stop(true).await;
        }
        // Until its database is closed: a restore must not race its last writes.
        if let Some(task) = self.auth_task.take() {
            let _ = task.await;
        }
    }

    /// Starts the auth-api again on the same port and database.
    pub async fn restart_auth_api(&mut self) {
        self.stop_auth_api().await;
        let mut settings = self.auth_settings.clone();
        settings.addr = self.auth_base.trim_start_matches("http://").to_owned();
        let auth = AuthApplication::build_with_clock(settings, Arc::new(self.clock.clone()))
            .await
            .unwrap();
        self.auth_state = auth.state();
        self.auth_metrics = metrics_base(auth.metrics_port());
        self.auth_handle = Some(auth.handle());
        self.auth_task = Some(actix_web::rt::spawn(auth.run_until_stopped()));
    }

    /// The auth-api's SQLite file.
    pub fn auth_db(&self) -> std::path::PathBuf {
        self._dir.path().join("auth.db")
    }

    /// A consistent copy of the running auth-api's database at `to`, taken
    /// as the README's backup step takes it (`VACUUM INTO`: the WAL's
    /// commits included, which a plain copy of the file could miss).
    pub async fn back_up_auth_db(&self, to: &std::path::Path) {
        use sqlx::Connection;
        let url = format!("sqlite://{}", self.auth_db().display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("VACUUM INTO $1")
            .bind(to.display().to_string())
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }

    /// The README's restore: stops the auth-api, puts `backup` in place of
    /// its database (the old file's `-wal` and `-shm` removed: they belong
    /// to the file replaced and would be replayed into the copy) and starts
    /// it again on the same port. The frontends keep running.
    pub async fn restore_auth_api(&mut self, backup: &std::path::Path) {
        self.stop_auth_api().await;
        let db = self.auth_db();
        for suffix in ["", "-wal", "-shm"] {
            let mut file = db.clone().into_os_string();
            file.push(suffix);
            match std::fs::remove_file(&file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => panic!("{e}"),
                _ => {}
            }
        }
        std::fs::copy(backup, &db).unwrap();
        self.restart_auth_api().await;
    }

    /// Starts a second frontend with other cookie keys, sharing the auth-api.
    pub async fn another_frontend(&self, keys: Vec<Key>) -> (String, ServerHandle) {
        let mut settings = self.front_settings.clone();
        settings.cookie_keys = CookieKeys::from_keys(keys);
        self.another_frontend_with(settings).await
    }

    /// Starts another frontend with `settings` (its own origin), on this clock.
    pub async fn another_frontend_with(&self, mut settings: Settings) -> (String, ServerHandle) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        settings.public_origin = None;
        let (base, _, handle, _) = start_frontend(listener, settings, &self.clock).await;
        (base, handle)
    }
}

/// A response as a test sees it.
pub struct Page {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn set_cookies(&self) -> Vec<Cookie<'static>> {
        self.headers
            .get_all(header::SET_COOKIE)
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| Cookie::parse(v.to_owned()).ok())
            .collect()
    }

    pub fn session_cookie(&self) -> Option<Cookie<'static>> {
        self.set_cookies().into_iter().find(|c| c.name() == COOKIE)
    }
}

/// A browser without JavaScript: keeps cookies, sends `Origin` on posts like
/// a real one, and does not follow redirects.
pub struct Browser {
    pub base: String,
    /// The `Origin` its posts carry: the site's public origin.
    pub origin: String,
    client: awc::Client,
    /// Shared by the `also_at` twins of this browser.
    jar: Rc<RefCell<BTreeMap<String, String>>>,
    pub user_agent: String,
    /// An `X-Forwarded-For` sent with every request, as a proxy in front of
    /// the frontend would add it (the test client is then that proxy).
    forwarded_for: RefCell<Option<String>>,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            origin: base.to_owned(),
            client: awc::Client::builder()
                .disable_redirects()
                .timeout(Duration::from_secs(30))
                .finish(),
            jar: Rc::default(),
            user_agent: "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0"
                .into(),
            forwarded_for: RefCell::new(None),
        }
    }

    /// Sends `X-Forwarded-For: ip` from now on (`None`: no header).
    pub fn forwarded_for(&self, ip: Option<&str>) {
        *self.forwarded_for.borrow_mut() = ip.map(str::to_owned);
    }

    /// A copy of this browser's cookies, pointed at another server (another
    /// frontend instance); later changes on either side are not shared.
    pub fn at(&self, base: &str) -> Browser {
        let b = Browser::new(base);
        *b.jar.borrow_mut() = self.jar.borrow().clone();
        b
    }

    /// The same browser at another origin of the same host, sharing one
    /// cookie jar: browsers scope cookies by host, not port, so both
    /// frontends get whichever cookie either of them set last.
    pub fn also_at(&self, base: &str) -> Browser {
        let b = Browser::new(base);
        Browser { jar: self.jar.clone(), user_agent: self.user_agent.clone(), ..b }
    }

    pub fn cookie(&self) -> Option<String> {
        self.jar.borrow().get(COOKIE).cloned()
    }

    pub fn set_cookie(&self, value: &str) {
        self.jar.borrow_mut().insert(COOKIE.into(), value.into());
    }

    pub fn cookie_header(&self) -> Option<String> {
        let jar = self.jar.borrow();
        (!jar.is_empty())
            .then(|| jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; "))
    }

    /// Any request, with this browser's cookies and user agent; send it
    /// with [`Browser::finish`].
    pub fn request(&self, method: awc::http::Method, path: &str) -> awc::ClientRequest {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .insert_header((header::USER_AGENT, self.user_agent.as_str()));
        if let Some(c) = self.cookie_header() {
            req = req.insert_header((header::COOKIE, c));
        }
        req
    }

    /// A WebSocket handshake at `path`, from this site's pages.
    pub fn websocket(&self, path: &str) -> awc::ws::WebsocketsRequest {
        let url = format!("{}{path}", self.base).replacen("http", "ws", 1);
        let mut req = self.client.ws(url).origin(self.origin.as_str());
        if let Some(c) = self.cookie_header() {
            req = req.header(header::COOKIE, c);
        }
        req
    }

    pub async fn finish(
        &self,
        res: Result<awc::ClientResponse, awc::error::SendRequestError>,
    ) -> Page {
        let mut res = res.expect("request reaches the frontend");
        let status = res.status();
        let headers = res.headers().clone();
        let body = String::from_utf8_lossy(&res.body().limit(8 << 20).await.unwrap()).into_owned();
        let page = Page { status, headers, body };
        for c in page.set_cookies() {
            if c.max_age() == Some(cookie::time::Duration::ZERO) {
                self.jar.borrow_mut().remove(c.name());
            } else {
                self.jar.borrow_mut().insert(c.name().to_owned(), c.value().to_owned());
            }
        }
        page
    }

    pub async fn get(&self, path: &str) -> Page {
        let mut req = self
            .client
            .get(format!("{}{path}", self.base))
            .insert_header((header::ACCEPT, "text/html"))
            .insert_header((header::USER_AGENT, self.user_agent.as_str()));
        if let Some(c) = self.cookie_header() {
            req = req.insert_header((header::COOKIE, c));
        }
        if let Some(ip) = self.forwarded_for.borrow().clone() {
            req = req.insert_header(("x-forwarded-for", ip));
        }
        self.finish(req.send().await).await
    }

    /// A form post as a browser sends it: from our own origin.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let origin = self.origin.clone();
        self.post_with(path, form, &[("origin", origin.as_str())]).await
    }

    pub async fn post_with(
        &self,
        path: &str,
        form: &[(&str, &str)],
        extra: &[(&str, &str)],
    ) -> Page {
        let body = serde_urlencoded::to_string(form).unwrap();
        self.post_raw(path, "application/x-www-form-urlencoded", body, extra).await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: String,
        extra: &[(&str, &str)],
    ) -> Page {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .insert_header((header::CONTENT_TYPE, content_type))
            .insert_header((header::ACCEPT, "text/html"))
            .insert_header((header::USER_AGENT, self.user_agent.as_str()));
        for (k, v) in extra {
            req = req.insert_header((*k, *v));
        }
        if let Some(ip) = self.forwarded_for.borrow().clone() {
            req = req.insert_header(("x-forwarded-for", ip));
        }
        if let Some(c) = self.cookie_header() {
            req = req.insert_header((header::COOKIE, c));
        }
        self.finish(req.send_body(body).await).await
    }

    pub async fn sign_in(&self, username: &str, password: &str) -> Page {
        self.post("/login", &[("username", username), ("password", password), ("next", "")]).await
    }

    /// A sign-in with "keep me signed in" ticked.
    pub async fn sign_in_remembered(&self, username: &str, password: &str) -> Page {
        let form =
            [("username", username), ("password", password), ("remember", "true"), ("next", "")];
        self.post("/login", &form).await
    }

    pub async fn sign_in_ok(&self, username: &str) {
        let page = self.sign_in(username, PASSWORD).await;
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "sign-in of {username} failed:\n{}",
            page.body
        );
        assert!(self.cookie().is_some());
    }

    /// Asks for `path` until this browser is sent to sign in, which must
    /// happen within `limit` of the call (a session ended elsewhere reaches
    /// every frontend through the revocation feed).
    pub async fn signed_out_within(&self, path: &str, limit: Duration) {
        let started = std::time::Instant::now();
        loop {
            let page = self.get(path).await;
            if page.status == StatusCode::SEE_OTHER {
                let login = format!("/login?next={}", path.replace('/', "%2F"));
                assert_eq!(page.location(), Some(login.as_str()));
                return;
            }
            assert!(started.elapsed() < limit, "still signed in after {limit:?}: {}", page.status);
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn sign_out(&self) -> Page {
        self.post("/api/logout", &[]).await
    }
}
