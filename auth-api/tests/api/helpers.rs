//! Test plumbing: fresh databases, spawn an app, make clients, create users.
//! Helpers hide plumbing, never assertions.

use std::{sync::Arc, time::Duration};

use actix_web::{dev::ServerHandle, web};
use auth_api::{
    audit::Actor,
    clock::ManualClock,
    config::Settings,
    domain::{Password, Username},
    passwords::policy::PasswordPolicy,
    startup::Application,
    state::AppState,
    store::Store,
};
use awc::http::StatusCode;
use serde_json::{Value, json};
use shared::{Role, TokenResponse};

pub const CLIENT_ID: &str = "cloakroom-frontend";
pub const CLIENT_SECRET: &str = "test-client-secret-0123456789abcdef";
pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub base: String,
    /// The private `/metrics` listener's base URL.
    pub metrics_base: String,
    pub clock: ManualClock,
    pub settings: Settings,
    pub state: web::Data<AppState>,
    pub db_url: String,
    handle: ServerHandle,
    // Keeps the database folder alive for the test's duration.
    pub dir: Arc<tempfile::TempDir>,
}

pub fn test_settings(db_url: &str) -> Settings {
    let mut settings =
        shared_settings::test_settings(db_url, "http://cloakroom.test", CLIENT_ID, CLIENT_SECRET);
    // The frontend's origin the passkey tests play (`tests/api/passkeys.rs`).
    settings.public_origins = vec!["https://app.example.com".into()];
    settings
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on(&TestDb::sqlite(), &ManualClock::starting_now(), tweak).await
}

/// An instance on `db` reading `clock`; several on one database and clock
/// are what a deployment of several auth-apis is.
pub async fn spawn_app_on(
    db: &TestDb,
    clock: &ManualClock,
    tweak: impl FnOnce(&mut Settings),
) -> TestApp {
    shared::telemetry::init_for_tests();
    let mut settings = test_settings(&db.url);
    tweak(&mut settings);
    start(settings, clock.clone(), db.dir.clone()).await
}

#[path = "../support/postgres.rs"]
mod postgres;
#[path = "../support/settings.rs"]
mod shared_settings;
pub use postgres::POSTGRES_VAR;

/// A fresh, empty database for one test.
pub struct TestDb {
    pub url: String,
    /// Holds the SQLite file (for PostgreSQL, nothing) for the test's duration.
    dir: Arc<tempfile::TempDir>,
}

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        // A folder that does not exist yet: the app must create it.
        let url = format!("sqlite://{}/nested/auth.db", dir.path().display());
        Self { url, dir }
    }

    /// A new database on the server at `TEST_POSTGRES_URL`, or `None` when it
    /// is not set: the test is then skipped, saying why on stderr. In CI
    /// (`CI=true`) the PostgreSQL tests must run, so there it fails instead.
    /// The databases are left behind; the throwaway server of `scripts/pg.sh`
    /// is deleted whole.
    pub async fn postgres() -> Option<Self> {
        let (_, url, _) = postgres::fresh_database("cloakroom_test").await?;
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        Some(Self { url, dir })
    }

    /// The store on this database, migrated.
    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url).await.expect("store connects");
        store.migrate().await.expect("store migrates");
        store
    }
}

async fn start(settings: Settings, clock: ManualClock, dir: Arc<tempfile::TempDir>) -> TestApp {
    let app = Application::build_with_clock(settings.clone(), Arc::new(clock.clone()))
        .await
        .expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    // Empty when a test turned the listener off.
    let metrics_base =
        app.metrics_port().map(|port| format!("http://127.0.0.1:{port}")).unwrap_or_default();
    let handle = app.handle();
    let state = app.state();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        base,
        metrics_base,
        clock,
        db_url: settings.database_url.clone(),
        settings,
        state,
        handle,
        dir,
    }
}

pub fn client() -> awc::Client {
    awc::Client::builder().timeout(Duration::from_secs(40)).finish()
}

/// A decoded response: status, headers we care about, JSON body (or Null).
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub headers: awc::http::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("<no error field>")
    }
}

pub async fn read(mut res: awc::ClientResponse) -> Reply {
    let status = res.status();
    let headers = res.headers().clone();
    let content_type =
        headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let bytes = res.body().limit(4 << 20).await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    Reply { status, content_type, headers, body }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn add_user(&self, name: &str, roles: &[Role]) -> String {
        let username = Username::parse(name).unwrap();
        let password = Password::parse(PASSWORD.into()).unwrap();
        let password = PasswordPolicy::default().accept(password, name).await.unwrap();
        let now = self.state.now();
        auth_api::users::add(&self.state.store, username, password, roles, Actor::Cli, now)
            .await
            .unwrap()
            .expect("new user")
            .id
    }

    /// POST JSON to a client endpoint with the right client credentials.
    pub async fn post_client(&self, path: &str, body: &Value) -> Reply {
        let res = client()
            .post(self.url(path))
            .basic_auth(CLIENT_ID, CLIENT_SECRET)
            .send_json(body)
            .await
            .expect("request");
        read(res).await
    }

    pub async fn get_client(&self, path: &str) -> Reply {
        let res = client()
            .get(self.url(path))
            .basic_auth(CLIENT_ID, CLIENT_SECRET)
            .send()
            .await
            .expect("request");
        read(res).await
    }

    /// A "remember me" sign-in from a browser at 203.0.113.7.
    pub async fn login(&self, username: &str, password: &str) -> Reply {
        self.login_with(username, password, true).await
    }

    pub async fn login_with(&self, username: &str, password: &str, remember: bool) -> Reply {
        self.post_client(
            "/auth/token",
            &json!({"grant_type": "password", "username": username, "password": password,
                    "remember": remember, "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0",
                    "ip": "203.0.113.7"}),
        )
        .await
    }

    /// Signs in with `password` and returns the access token.
    pub async fn login_ok_with(&self, username: &str, password: &str) -> String {
        let reply = self.login(username, password).await;
        assert_eq!(reply.status, StatusCode::OK, "login of {username}: {}", reply.body);
        reply.body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn login_ok(&self, username: &str) -> TokenResponse {
        let reply = self.login(username, PASSWORD).await;
        assert_eq!(reply.status, StatusCode::OK, "login of {username}: {}", reply.body);
        serde_json::from_value(reply.body).expect("token response")
    }

    pub async fn refresh(&self, refresh_token: &str) -> Reply {
        self.post_client(
            "/auth/token",
            &json!({"grant_type": "refresh_token", "refresh_token": refresh_token}),
        )
        .await
    }

    pub async fn get_bearer(&self, path: &str, token: &str) -> Reply {
        let res = client().get(self.url(path)).bearer_auth(token).send().await.expect("request");
        read(res).await
    }

    pub async fn post_bearer(&self, path: &str, token: &str, body: &Value) -> Reply {
        read(client().post(self.url(path)).bearer_auth(token).send_json(body).await.unwrap()).await
    }

    pub async fn patch_bearer(&self, path: &str, token: &str, body: &Value) -> Reply {
        read(client().patch(self.url(path)).bearer_auth(token).send_json(body).await.unwrap()).await
    }

    /// `POST /auth/password` with the signed-in user's token.
    pub async fn change_password(&self, token: &str, current: &str, new: &str) -> Reply {
        let body = json!({"current_password": current, "new_password": new});
        self.post_bearer("/auth/password", token, &body).await
    }

    pub async fn delete_bearer(&self, path: &str, token: &str) -> Reply {
        let res = client().delete(self.url(path)).bearer_auth(token).send().await.expect("request");
        read(res).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        read(client().get(self.url(path)).send().await.expect("request")).await
    }

    /// The value of one Prometheus sample, e.g. `logins_total{result="ok"}`; 0 if absent.
    pub async fn metric(&self, sample: &str) -> f64 {
        let url = format!("{}/metrics", self.metrics_base);
        let mut res = client().get(url).send().await.expect("metrics");
        let text = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(sample).and_then(|rest| rest.strip_prefix(' ')))
            .map_or(0.0, |v| v.trim().parse().unwrap())
    }

    /// Stops this instance and starts a new one on the same database and clock.
    pub async fn restart(self) -> TestApp {
        self.handle.stop(true).await;
        start(self.settings.clone(), self.clock.clone(), self.dir.clone()).await
    }
}

#[path = "../support/variables.rs"]
mod variables;
pub use variables::VARIABLES;

/// The binary, isolated from the developer's setup: it reads `.env` from its
/// working directory and the ones above it (a checkout where `just dev` ran
/// has one), and every variable it knows from the environment.
pub fn binary() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_auth-api"));
    cmd.current_dir(std::env::temp_dir());
    for var in VARIABLES.iter().chain(&["RUST_LOG"]) {
        cmd.env_remove(var);
    }
    // Not the default port: tests run side by side, and so may a real one.
    cmd.env("METRICS_ADDR", "127.0.0.1:0");
    cmd
}

/// The real binary serving (`auth-api serve`) in its own process, on ports
/// the kernel picked; killed (`SIGKILL`) when dropped. Its output is kept and
/// shown if the test fails.
pub struct Served {
    child: std::process::Child,
    pub base: String,
    /// The `/metrics` listener's base URL; `None` when turned off.
    pub metrics: Option<String>,
    log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Served {
    /// `auth-api serve` on `db_url` with the test client and `env` on top.
    pub fn start(db_url: &str, env: &[(&str, &str)]) -> Self {
        use std::io::BufRead;
        let mut child = binary()
            .args(["serve", "--addr", "127.0.0.1:0", "--database-url", db_url])
            .env("AUTH_CLIENT_ID", CLIENT_ID)
            .env("AUTH_CLIENT_SECRET", CLIENT_SECRET)
            .env("MFA_ENCRYPTION_KEY", "B3R8oBlS0cL0Y0Ut2m1Tq8Cq6pT3K5wJtGq8a0bWcVI=")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the auth-api starts");
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let outputs: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("piped")),
            Box::new(child.stderr.take().expect("piped")),
        ];
        for output in outputs {
            let (tx, log) = (tx.clone(), log.clone());
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(output).lines().map_while(Result::ok) {
                    log.lock().expect("not poisoned").push(line.clone());
                    let _ = tx.send(line);
                }
            });
        }
        drop(tx);
        let mut served = Self { child, base: String::new(), metrics: None, log };
        // The metrics line comes first, then the listening line.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                panic!("the auth-api did not start:\n{}", served.log());
            };
            // Text or JSON lines alike: the address, up to what follows it.
            if let Some(rest) = line.split("metrics served at ").nth(1) {
                served.metrics = rest.split_once("/metrics").map(|(base, _)| base.to_owned());
            }
            if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
                let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                served.base = format!("http://127.0.0.1:{port}");
                return served;
            }
        }
    }

    /// `SIGTERM`: what an orchestrator sends to stop it.
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
    }

    /// How the process ended, once it has, or `None` after `limit`.
    pub fn exit_status(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("waits") {
                return Some(status);
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `SIGKILL`: no shutdown, no flush; whatever was not committed is lost.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("---- output of the auth-api ----\n{}", self.log());
        }
    }
}
