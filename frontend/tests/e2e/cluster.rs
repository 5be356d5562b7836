//! A scaled-out deployment on one machine: two auth-api processes and two
//! frontend processes on one PostgreSQL database, and, when asked for, a load
//! balancer in front of the auth-apis. Hides plumbing, never assertions.
//!
//! Every server is its own OS process, so "per process" means what it means
//! in production: each frontend has its own single-flight table, key cache
//! and revocation set, and killing an auth-api is `SIGKILL`, after which the
//! kernel, not the program, closes its connections (the database's too).
//!
//! - A frontend is this crate's binary (`CARGO_BIN_EXE_frontend`), configured
//!   through the environment as a deployment configures it.
//! - An auth-api is this test binary started again to run only
//!   [`auth_api_process`], which does what `auth-api serve` does. Cargo
//!   builds a package's binaries for that package's tests only: the
//!   frontend's tests have no `auth-api` executable, and a leftover
//!   `target/debug/auth-api` could be older than the code under test.
//!
//! Processes share no clock, so tokens expire in real time: tests that need
//! refreshes use a short `ACCESS_TOKEN_TTL`.

use std::{
    collections::VecDeque,
    io::{BufRead, BufReader, Read, Write},
    net::SocketAddr,
    path::Path,
    process::{Child, ChildStdin, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use auth_api::{
    audit::Actor,
    domain::{Password, Username},
    passwords::policy::PasswordPolicy,
    store::Store,
};
use base64::Engine;
use sqlx::Connection;

use crate::harness::{CLIENT_ID, CLIENT_SECRET, PASSWORD};

// The auth-api tests' scratch-database helper, shared rather than copied.
#[path = "../../../auth-api/tests/support/postgres.rs"]
mod postgres;
#[path = "../../../auth-api/tests/support/variables.rs"]
mod variables;
const ISSUER: &str = "http://auth.cloakroom.test";
/// How long a process may take to announce its port.
const STARTUP: Duration = Duration::from_secs(30);

/// Where the frontends send their auth-api calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// Frontend 1 calls auth-api A, frontend 2 calls auth-api B: every
    /// hand-over between the frontends is also one between the auth-apis.
    Pinned,
    /// Both frontends call the load balancer, which spreads connections over
    /// A and B and skips one that refuses them.
    Balanced,
}

pub struct Options {
    /// `ACCESS_TOKEN_TTL`, seconds.
    pub access_ttl: u32,
    pub routing: Routing,
}

impl Default for Options {
    fn default() -> Self {
        Self { access_ttl: 300, routing: Routing::Pinned }
    }
}

pub struct Cluster {
    /// The frontends' origins, frontend 1 first.
    pub front: [String; 2],
    /// The auth-apis' base URLs, A first.
    pub auth: [String; 2],
    /// Their private `/metrics` listeners' base URLs.
    auth_metrics: [String; 2],
    pub balancer: Option<Balancer>,
    /// Killed when the cluster is dropped.
    frontends: Vec<Process>,
    /// `None` once killed.
    auth_apis: [Option<Process>; 2],
    store: Store,
    database: String,
    admin_url: String,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts everything on a fresh database, or returns `None` (the test is
    /// then skipped, saying why) when no PostgreSQL server is configured.
    pub async fn start(options: Options) -> Option<Self> {
        let (admin_url, db_url, database) = postgres::fresh_database("cloakroom_e2e").await?;
        // Migrated here so users can be added before the first request; the
        // auth-apis find the schema current.
        let store = Store::connect(&db_url).await.expect("the test database");
        store.migrate().await.expect("the schema");

        let (a, b) = futures::join!(
            start_auth_api("auth-api A", &db_url, &options),
            start_auth_api("auth-api B", &db_url, &options)
        );
        let auth = [a.1, b.1];
        let auth_metrics = [a.3, b.3];
        let balancer = match options.routing {
            Routing::Pinned => None,
            Routing::Balanced => Some(Balancer::start([a.2, b.2]).await),
        };
        let targets = match &balancer {
            None => auth.clone(),
            Some(lb) => [lb.url(), lb.url()],
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let keys = cookie_keys();
        let (one, two) = futures::join!(
            start_frontend("frontend 1", &targets[0], &keys, dir.path()),
            start_frontend("frontend 2", &targets[1], &keys, dir.path())
        );
        Some(Self {
            front: [one.1, two.1],
            auth,
            auth_metrics,
            balancer,
            frontends: vec![one.0, two.0],
            auth_apis: [Some(a.0), Some(b.0)],
            store,
            database,
            admin_url,
            _dir: dir,
        })
    }

    pub async fn add_user(&self, name: &str) {
        let username = Username::parse(name).expect("a valid username");
        let password = Password::parse(PASSWORD.into()).unwrap();
        let password = PasswordPolicy::default().accept(password, name).await.unwrap();
        auth_api::users::add(&self.store, username, password, &[], Actor::Cli, unix_now())
            .await
            .expect("the user is stored")
            .expect("a new user");
    }

    /// `SIGKILL`s auth-api `i` (0 is A) and reaps it.
    pub fn kill_auth_api(&mut self, i: usize) {
        let mut process = self.auth_apis[i].take().expect("auth-api still running");
        process.kill();
    }

    /// One sample of auth-api `i`'s `/metrics`, e.g.
    /// `refreshes_total{result="rotated"}`; 0 when absent.
    pub async fn metric(&self, i: usize, sample: &str) -> f64 {
        let text = self.metrics_text(i).await;
        text.lines()
            .find_map(|l| l.strip_prefix(sample).and_then(|rest| rest.strip_prefix(' ')))
            .map_or(0.0, |v| v.trim().parse().expect("a number"))
    }

    /// `metric` summed over the auth-apis still running.
    pub async fn metric_sum(&self, sample: &str) -> f64 {
        let mut sum = 0.0;
        for i in self.running() {
            sum += self.metric(i, sample).await;
        }
        sum
    }

    /// Every call to `/auth/token` the auth-apis still running have answered,
    /// whatever the outcome.
    pub async fn token_calls(&self) -> f64 {
        let mut sum = 0.0;
        for i in self.running() {
            sum += self
                .metrics_text(i)
                .await
                .lines()
                .filter(|l| l.starts_with("http_requests_total{route=\"/auth/token\""))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>();
        }
        sum
    }

    /// The sessions the revocation feed of auth-api `i` lists as ended.
    pub async fn revocations_in_force(&self, i: usize) -> usize {
        self.feed(i).await.revoked.len()
    }

    /// The epoch of auth-api `i`'s revocation feed.
    pub async fn feed_epoch(&self, i: usize) -> String {
        self.feed(i).await.epoch
    }

    /// A full read of auth-api `i`'s revocation feed.
    async fn feed(&self, i: usize) -> shared::RevocationFeed {
        let mut res = awc::Client::default()
            .get(format!("{}/auth/revocations", self.auth[i]))
            .basic_auth(CLIENT_ID, CLIENT_SECRET)
            .send()
            .await
            .expect("the feed answers");
        res.json().await.expect("a feed")
    }

    /// How many database connections LISTEN for session ends: one per
    /// running auth-api.
    pub async fn listening_connections(&self) -> usize {
        let mut admin = sqlx::PgConnection::connect(&self.admin_url).await.expect("admin");
        let pids: Vec<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'",
        )
        .bind(&self.database)
        .fetch_all(&mut admin)
        .await
        .expect("pg_stat_activity");
        let _ = admin.close().await;
        pids.len()
    }

    /// When the PostgreSQL server last started (changes with a restart).
    pub async fn postgres_started(&self) -> String {
        let mut admin = sqlx::PgConnection::connect(&self.admin_url).await.expect("admin");
        let started: String = sqlx::query_scalar("SELECT pg_postmaster_start_time()::TEXT")
            .fetch_one(&mut admin)
            .await
            .expect("pg_postmaster_start_time");
        let _ = admin.close().await;
        started
    }

    /// What frontend `i` (0 is frontend 1) has logged lately.
    pub fn frontend_output(&self, i: usize) -> String {
        self.frontends[i].output()
    }

    fn running(&self) -> impl Iterator<Item = usize> + '_ {
        (0..2).filter(|&i| self.auth_apis[i].is_some())
    }

    async fn metrics_text(&self, i: usize) -> String {
        let mut res = awc::Client::default()
            .get(format!("{}/metrics", self.auth_metrics[i]))
            .send()
            .await
            .expect("/metrics answers");
        String::from_utf8(res.body().await.expect("a body").to_vec()).expect("text")
    }
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs() as i64
}

/// One random cookie key, as `COOKIE_KEYS` spells it; both frontends get it.
fn cookie_keys() -> String {
    base64::engine::general_purpose::STANDARD.encode(cookie::Key::generate().master())
}

/// The frontend's own variables; with the auth-api's, every one either server
/// reads, cleared before a child gets its own: nothing from the developer's
/// shell may leak into a test deployment.
const FRONTEND_VARIABLES: &[&str] = &[
    "AUTH_API_URL",
    "AUTH_API_ALLOW_HTTP",
    "COOKIE_KEYS",
    "COOKIE_SECURE",
    "PUBLIC_ORIGIN",
    "TRUSTED_PROXIES",
    "TRACE_FROM_PROXIES",
    "UPSTREAMS",
    "UPSTREAM_CA_FILE",
    "RUST_LOG",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_RESOURCE_ATTRIBUTES",
];

pub(crate) fn clean_command(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    for var in variables::VARIABLES.iter().chain(FRONTEND_VARIABLES) {
        cmd.env_remove(var);
    }
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("LEPTOS_") {
            cmd.env_remove(var);
        }
    }
    cmd
}

// ---- the auth-api process ---------------------------------------------------

/// Set in the environment of an auth-api child; see [`auth_api_process`].
const AUTH_API_CHILD: &str = "CLOAKROOM_E2E_AUTH_API_PROCESS";
/// libtest's name for [`auth_api_process`].
const AUTH_API_ENTRY: &str = "cluster::auth_api_process";
const AUTH_API_PORT_LINE: &str = "cloakroom-e2e: auth-api listening on port ";

/// Not a test: the body of an auth-api process of a [`Cluster`], which runs
/// this binary again with only this "test" selected and `AUTH_API_CHILD`
/// set. Without that variable it does nothing.
///
/// What `auth-api serve` does (see `auth-api/src/main.rs`): the settings come
/// from the environment through the real command line, the server from
/// `Application::build`, with the system clock.
#[test]
#[ignore = "not a test: the auth-api process of the multi-instance tests"]
fn auth_api_process() {
    use clap::Parser;

    if std::env::var_os(AUTH_API_CHILD).is_none() {
        return;
    }
    // The parent holds our stdin open; when it ends, killed or not, so do we.
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let cli = auth_api::cli::Cli::try_parse_from(["auth-api"]).expect("the auth-api settings");
    let _telemetry =
        shared::telemetry::init("cloakroom-auth-api", &cli.telemetry).expect("the span exporter");
    actix_web::rt::System::new().block_on(async {
        let settings = auth_api::config::Settings::from_args(cli.database_url, &cli.serve)
            .expect("valid auth-api settings");
        let app = auth_api::startup::Application::build(settings).await.expect("auth-api starts");
        let metrics = app.metrics_port().expect("METRICS_ADDR is set");
        println!("{AUTH_API_PORT_LINE}{} metrics {metrics}", app.port());
        std::io::stdout().flush().expect("stdout");
        app.run_until_stopped().await.expect("auth-api serves");
    });
}

/// The process, its base URL, its address and its metrics base URL.
pub(crate) async fn start_auth_api(
    name: &str,
    db_url: &str,
    options: &Options,
) -> (Process, String, SocketAddr, String) {
    start_auth_api_with(name, db_url, options, &[]).await
}

/// The same with more variables (e.g. `OTEL_EXPORTER_OTLP_ENDPOINT`).
pub(crate) async fn start_auth_api_with(
    name: &str,
    db_url: &str,
    options: &Options,
    extra: &[(&str, &str)],
) -> (Process, String, SocketAddr, String) {
    let mut cmd = clean_command(&std::env::current_exe().expect("the test binary"));
    cmd.args(["--exact", AUTH_API_ENTRY, "--ignored", "--nocapture", "--test-threads=1"])
        .env(AUTH_API_CHILD, "1")
        .env("DATABASE_URL", db_url)
        .env("AUTH_API_ADDR", "127.0.0.1:0")
        .env("METRICS_ADDR", "127.0.0.1:0")
        .env("AUTH_ISSUER", ISSUER)
        .env("AUTH_CLIENT_ID", CLIENT_ID)
        .env("AUTH_CLIENT_SECRETS", CLIENT_SECRET)
        .env("MFA_ENCRYPTION_KEY", crate::harness::MFA_KEY)
        .env("ACCESS_TOKEN_TTL", options.access_ttl.to_string())
        // One user signs in from dozens of browsers here (crash.rs: 32, plus
        // sign-ins orphaned by a kill): none may be superseded.
        .env("MAX_SESSIONS_PER_USER", "1000")
        .env("RUST_LOG", "warn")
        .envs(extra.iter().copied());
    let (process, (port, metrics)) = Process::start(name, cmd, |line| {
        // Not at the start of the line: libtest has written the test's name there.
        let (port, metrics) = line.split_once(AUTH_API_PORT_LINE)?.1.split_once(" metrics ")?;
        Some((port.trim().parse().ok()?, metrics.trim().parse::<u16>().ok()?))
    })
    .await;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    (process, format!("http://{addr}"), addr, format!("http://127.0.0.1:{metrics}"))
}

/// The process and its origin.
async fn start_frontend(
    name: &str,
    auth_api_url: &str,
    keys: &str,
    cwd: &Path,
) -> (Process, String) {
    start_frontend_with(name, auth_api_url, keys, cwd, &[]).await
}

/// The same with more variables (e.g. `UPSTREAMS`).
pub(crate) async fn start_frontend_with(
    name: &str,
    auth_api_url: &str,
    keys: &str,
    cwd: &Path,
    extra: &[(&str, &str)],
) -> (Process, String) {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace");
    let mut cmd = clean_command(Path::new(env!("CARGO_BIN_EXE_frontend")));
    // A folder with no `.env` in it or above it: `just dev` writes one into
    // the workspace, and the frontend would read it.
    cmd.current_dir(cwd)
        .env("LEPTOS_CONFIG", workspace.join("Leptos.toml"))
        .env("LEPTOS_SITE_ROOT", crate::harness::site_root())
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .env("METRICS_ADDR", "127.0.0.1:0")
        .env("AUTH_API_URL", auth_api_url)
        .env("AUTH_ISSUER", ISSUER)
        .env("AUTH_CLIENT_ID", CLIENT_ID)
        .env("AUTH_CLIENT_SECRETS", CLIENT_SECRET)
        .env("COOKIE_KEYS", keys)
        .env("COOKIE_SECURE", "false")
        // Its start-up line (info) names the port; warnings explain failures.
        .env("RUST_LOG", "warn,frontend=info")
        .envs(extra.iter().copied());
    let (process, port) = Process::start(name, cmd, |line| {
        // A line of text, or the message of a JSON one (`LOG_FORMAT=json`).
        let (_, rest) = line.split_once("frontend listening on ")?;
        let port = rest.split_once("(port ")?.1.split_once(')')?.0;
        port.parse::<u16>().ok()
    })
    .await;
    (process, format!("http://127.0.0.1:{port}"))
}

// ---- processes --------------------------------------------------------------

/// A child process, killed when dropped. Its output is kept (the last lines)
/// and shown if the test fails.
pub(crate) struct Process {
    name: String,
    child: Child,
    /// Held open: an auth-api child exits when it closes.
    _stdin: Option<ChildStdin>,
    log: Arc<Mutex<VecDeque<String>>>,
}

const LOG_LINES: usize = 60;

impl Process {
    /// Starts `cmd` and waits until `port_in` finds its port in a line of
    /// its output.
    async fn start<T: Send + 'static>(
        name: &str,
        mut cmd: Command,
        port_in: fn(&str) -> Option<T>,
    ) -> (Self, T) {
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let tx = Arc::new(Mutex::new(Some(tx)));
        let outputs: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("piped stdout")),
            Box::new(child.stderr.take().expect("piped stderr")),
        ];
        for output in outputs {
            let (log, tx) = (log.clone(), tx.clone());
            // Read to the end, or the child would block on a full pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(output).lines().map_while(Result::ok) {
                    if let Some(port) = port_in(&line)
                        && let Some(tx) = tx.lock().expect("not poisoned").take()
                    {
                        let _ = tx.send(port);
                    }
                    let mut log = log.lock().expect("not poisoned");
                    if log.len() == LOG_LINES {
                        log.pop_front();
                    }
                    log.push_back(line);
                }
            });
        }
        let stdin = child.stdin.take();
        let mut process = Self { name: name.to_owned(), child, _stdin: stdin, log };
        match tokio::time::timeout(STARTUP, rx).await {
            Ok(Ok(port)) => (process, port),
            outcome => {
                process.kill();
                let why = if outcome.is_err() { "did not start in time" } else { "exited" };
                panic!("{name} {why}; its output:\n{}", process.output());
            }
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `SIGTERM`: a graceful stop.
    pub(crate) fn terminate(&self) {
        // SAFETY: a signal to our own child, whose pid is still ours to use
        // (not reaped before `exit_status` or `kill`).
        let sent = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(sent, 0, "SIGTERM to {} failed", self.name);
    }

    /// How the process ended, once it has, or `None` after `limit`.
    pub(crate) async fn exit_status(
        &mut self,
        limit: Duration,
    ) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("waits") {
                return Some(status);
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `SIGKILL`, then reaped.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub(crate) fn output(&self) -> String {
        self.log.lock().map(|l| Vec::from(l.clone()).join("\n")).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let _ = writeln!(
                std::io::stderr(),
                "---- last output of {} ----\n{}",
                self.name,
                self.output()
            );
        }
    }
}

// ---- the load balancer ------------------------------------------------------

/// A TCP load balancer, as any deployment of several auth-apis has: each new
/// connection goes to the next upstream in turn, and an upstream that
/// refuses the connection is skipped for the other. A connection already
/// forwarded stays with its upstream: like any TCP balancer, it cannot replay
/// a request its upstream died in the middle of.
pub struct Balancer {
    addr: SocketAddr,
    forwarded: Arc<[AtomicUsize; 2]>,
    task: actix_web::rt::task::JoinHandle<()>,
}

impl Balancer {
    async fn start(upstreams: [SocketAddr; 2]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("bound");
        let forwarded: Arc<[AtomicUsize; 2]> = Arc::default();
        let counts = forwarded.clone();
        let task = actix_web::rt::spawn(async move {
            let mut turn = 0;
            while let Ok((mut client, _)) = listener.accept().await {
                let first = turn;
                turn = (turn + 1) % upstreams.len();
                let counts = counts.clone();
                actix_web::rt::spawn(async move {
                    for i in (0..upstreams.len()).map(|k| (first + k) % upstreams.len()) {
                        if let Ok(mut upstream) = tokio::net::TcpStream::connect(upstreams[i]).await
                        {
                            counts[i].fetch_add(1, Ordering::Relaxed);
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                            return;
                        }
                    }
                    // Every upstream refused: dropping the client says so.
                });
            }
        });
        Self { addr, forwarded, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections forwarded to upstream `i` (0 is auth-api A) so far.
    pub fn forwarded(&self, i: usize) -> usize {
        self.forwarded[i].load(Ordering::Relaxed)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
