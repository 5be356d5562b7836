//! `cloakroom-bench`: the load driver behind `just bench`.
//!
//! It starts release builds of both servers as child processes on ports the
//! kernel picks on 127.0.0.1, each stack on a fresh database, runs the
//! benchmarks of `scenarios` (bounded in count and time), stops the servers
//! and writes BENCHMARKS.md, adding criterion's micro-benchmark estimates
//! (`cargo bench -p frontend`, run by `just bench` first).
//!
//! The frontend must be built with `--features bench` for the naïve
//! baseline; the driver checks that before it measures anything.

mod cpu;
mod flows;
mod http;
mod load;
mod report;
mod scenarios;
mod servers;
mod upstream;
mod weight;

use std::{path::PathBuf, sync::Arc, time::Duration};

use clap::Parser;
use http::{Conn, Error, Req};
use scenarios::Scale;
use servers::{Env, Server};

#[derive(Parser)]
#[command(about = "Benchmarks Cloakroom's release builds and writes BENCHMARKS.md")]
struct Args {
    /// Folder holding the release `auth-api` and `frontend` binaries.
    #[arg(long)]
    bin_dir: PathBuf,
    /// Where criterion wrote its estimates (`$CARGO_TARGET_DIR/criterion`).
    #[arg(long)]
    criterion_dir: PathBuf,
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
    /// The command to record in the report.
    #[arg(long, default_value = "just bench")]
    command: String,
    /// The site folder holding the release hydration bundle, for the page
    /// weight (benchmark 13): `just bench` builds it there with
    /// `LEPTOS_SITE_ROOT=… scripts/wasm.sh release`. Without it (or without a
    /// browser), those rows are reported as skipped.
    #[arg(long)]
    site_dir: Option<PathBuf>,
    /// A smoke run: fewer rounds, users and trials (the report says so).
    #[arg(long)]
    quick: bool,
    /// An admin URL of a throwaway PostgreSQL server, for the PostgreSQL rows
    /// (`scripts/pg.sh` sets it).
    #[arg(long, env = "TEST_POSTGRES_URL")]
    postgres_url: Option<String>,
    /// Instead of benchmarking: load one page for `--seconds` (signed in with
    /// `--signed-in`) and print the frontend's pid, for `perf record -p`.
    #[arg(long, value_name = "PATH")]
    profile_page: Option<String>,
    #[arg(long, requires = "profile_page")]
    signed_in: bool,
    /// With `--profile-page`: the request carries `X-Bench-Mode: public-twin`.
    #[arg(long, requires = "profile_page")]
    twin: bool,
    /// Instead of benchmarking: refresh grants at the auth-api alone for
    /// `--seconds`, printing the auth-api's pid, for `perf record -p`.
    #[arg(long, conflicts_with = "profile_page")]
    profile_grants: bool,
    /// With `--profile-grants`: offer this many grants per second (open loop)
    /// instead of a closed loop.
    #[arg(long, requires = "profile_grants")]
    offered: Option<f64>,
    /// With `--profile-grants`: after the grants, as many clients fetching
    /// JWKS (what HTTP alone costs), at the same offered rate if any.
    #[arg(long, requires = "profile_grants")]
    floor: bool,
    #[arg(long, default_value_t = 20)]
    seconds: u64,
}

/// Access-token lifetime of the short-token stack (benchmarks 3 and 4).
const SHORT_TTL: i64 = 20;

/// The open-loop rate of benchmark 6's second row: well under what the
/// closed loop reaches here, so it shows a grant's own latency rather than
/// the queue of 32 clients waiting for 2 cores.
const PACED_GRANTS: f64 = 1000.0;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    let dir = match tempfile::Builder::new().prefix("cloakroom-bench-").tempdir() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("bench: no temporary folder: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = run(args, dir.path()).await {
        // Keep the servers' logs for whoever reads this.
        eprintln!("bench: {e}\nbench: the servers' logs are in {}", dir.keep().display());
        std::process::exit(1);
    }
}

fn step(what: &str) {
    eprintln!("bench: {what}");
}

/// Criterion's benchmarks copied into BENCHMARKS.md: id and what it measures.
const MICRO: [(&str, &str); 8] = [
    ("cookie/seal", "seal the session cookie (AES-256-GCM)"),
    ("cookie/open", "open it from the `Cookie` header"),
    ("verify/cold", "verify an access token: EdDSA signature and claims"),
    ("verify/cached", "verify a token this process verified before"),
    (
        "guard/fast_path",
        "the guard's whole decision on a cookie it has seen: digest, revocations, token time",
    ),
    (
        "guard/first_view",
        "… on a cookie it has not seen (token verified before): open, verify, remember",
    ),
    ("argon2/hash", "one argon2id hash, the auth-api's parameters (m = 19 MiB, t = 2, p = 1)"),
    ("argon2/hash_on_every_core", "one such hash on each core at once: the whole round"),
];

async fn run(args: Args, dir: &std::path::Path) -> Result<(), Error> {
    let scale = if args.quick { Scale::quick() } else { Scale::full() };
    let workspace = std::env::current_dir()?;
    // The proxy benchmarks' app, behind every frontend of the run at `/app`.
    let app = upstream::App::start().await?;
    let upstreams = dir.join("upstreams.toml");
    std::fs::write(
        &upstreams,
        format!(
            "[[upstream]]\npath = \"/app\"\nurl = \"http://{}\"\naccess = \"signed-in\"\nkind = \"page\"\n",
            app.addr
        ),
    )?;
    let env = Arc::new(Env::new(args.bin_dir.clone(), workspace, dir.to_owned(), Some(upstreams)));
    let machine = report::Machine::read();
    if let Some(path) = &args.profile_page {
        let mode = if args.twin { Some("public-twin") } else { None };
        return profile_page(&env, dir, path, args.signed_in, mode, args.seconds).await;
    }
    if args.profile_grants {
        let db = format!("sqlite://{}/p.db", dir.display());
        env.add_user(&db).await?;
        let auth = env.start_auth_api("auth-p", &db, 300).await?;
        eprintln!("bench: auth-api pid {} under load", auth.pid().unwrap_or(0));
        let scale = Scale { rounds: 1, measure: Duration::from_secs(args.seconds), ..scale };
        let g = scenarios::refresh_grants(
            "profile".into(),
            &[auth.addr],
            &env,
            scale,
            args.offered,
            args.floor,
            None,
        )
        .await?;
        eprintln!(
            "bench: grants: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
            g.runs.throughput().median,
            g.runs.p50().median,
            g.runs.p99().median
        );
        if let Some(f) = &g.floor {
            eprintln!(
                "bench: floor (JWKS): {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
                f.throughput().median,
                f.p50().median,
                f.p99().median
            );
        }
        auth.stop().await;
        return Ok(());
    }
    // Before any server starts: a missing estimate would fail the run at its end.
    let micro = MICRO
        .into_iter()
        .filter_map(|(id, what)| report::read_micro(&args.criterion_dir, id, what))
        .collect::<Vec<_>>();
    if micro.len() != MICRO.len() {
        return Err(format!(
            "criterion estimates missing under {}: run `just bench`, which runs criterion first",
            args.criterion_dir.display()
        )
        .into());
    }

    // ---- stack A: default token lifetime ----
    let db_a = format!("sqlite://{}/a.db", dir.display());
    env.add_user(&db_a).await?;
    let auth_a = env.start_auth_api("auth-a", &db_a, 300).await?;
    let front_a = env.start_frontend("front-a", &auth_a).await?;
    let with_baseline = baseline_available(&front_a, &env).await?;
    if !with_baseline {
        return Err("the frontend was built without `--features bench`; run `just bench`".into());
    }

    step("1, 9: protected vs public vs naïve pages");
    let me = std::process::id();
    let pages =
        scenarios::pages(front_a.addr, &env, scale, with_baseline, front_a.pid().map(|p| [p, me]))
            .await?;
    step("2: auth-api calls per 1,000 protected views");
    let calls = scenarios::calls_per_views(front_a.addr, auth_a.metrics, &env).await?;
    step("7: revocation latency");
    let revocation =
        scenarios::revocation_latency(front_a.addr, auth_a.addr, &env, scale.trials).await?;
    step("10, 11: the proxy: proxied vs direct, 1 GiB streamed");
    let proxy = scenarios::proxy(
        front_a.addr,
        app.addr,
        front_a.pid().ok_or("the frontend has no pid")?,
        &env,
        scale,
    )
    .await?;
    step("6: refresh grants, SQLite");
    let sqlite = [auth_a.addr];
    let mut grants = vec![
        scenarios::refresh_grants(
            "SQLite, 1 instance".into(),
            &sqlite,
            &env,
            scale,
            None,
            true,
            auth_a.pid().map(|p| [p, me]),
        )
        .await?,
        scenarios::refresh_grants(
            format!("SQLite, 1 instance, {PACED_GRANTS} grants/s offered (open loop)"),
            &sqlite,
            &env,
            scale,
            Some(PACED_GRANTS),
            true,
            None,
        )
        .await?,
    ];
    front_a.stop().await;
    auth_a.stop().await;

    // ---- stack B: short-lived access tokens ----
    let db_b = format!("sqlite://{}/b.db", dir.display());
    env.add_user(&db_b).await?;
    let auth_b = env.start_auth_api("auth-b", &db_b, SHORT_TTL).await?;
    let front_b = env.start_frontend("front-b", &auth_b).await?;
    let storm_trials = if args.quick { 2 } else { 5 };
    let (storm_cookies, _) = scenarios::sign_in_many(front_b.addr, &env, storm_trials, 1).await?;
    let (proxy_storm_cookies, _) =
        scenarios::sign_in_many(front_b.addr, &env, storm_trials, 1).await?;
    let storm_expires = tokio::time::Instant::now() + Duration::from_secs(SHORT_TTL as u64 + 1);

    step("5: login throughput");
    // Both were read at the start (the run stops there without them).
    let median_ns =
        |id: &str| micro.iter().find(|m| m.name == id).map_or(f64::NAN, |m| m.median_ns);
    let (hash_ns, together_ns) = (median_ns("argon2/hash"), median_ns("argon2/hash_on_every_core"));
    let concurrency = 2 * machine.cores;
    let (cookies, elapsed) =
        scenarios::sign_in_many(front_b.addr, &env, scale.users, concurrency).await?;
    let logins = scenarios::Logins {
        count: cookies.len(),
        concurrency,
        elapsed,
        hash_ms: hash_ns / 1e6,
        together_ms: together_ns / 1e6,
        cores: machine.cores,
    };
    step("4: many users");
    let crowd_time = if args.quick { Duration::from_secs(5) } else { Duration::from_secs(30) };
    let crowds =
        scenarios::many_users(front_b.addr, auth_b.metrics, cookies, SHORT_TTL, crowd_time).await?;
    step("3: refresh storm (once the storm sessions' access tokens have expired)");
    tokio::time::sleep_until(storm_expires).await;
    let storm =
        scenarios::refresh_storm(front_b.addr, auth_b.metrics, storm_cookies, "/profile", None)
            .await?;
    step("12: refresh storm through the proxy");
    let proxy_storm = scenarios::refresh_storm(
        front_b.addr,
        auth_b.metrics,
        proxy_storm_cookies,
        "/app/storm",
        Some(&app),
    )
    .await?;
    front_b.stop().await;
    auth_b.stop().await;

    // ---- PostgreSQL: refresh grants with one and two auth-api instances ----
    let postgres_note = match &args.postgres_url {
        Some(admin) => {
            step("6: refresh grants, PostgreSQL");
            let db = postgres::create_database(admin).await?;
            env.add_user(&db.url).await?;
            let one = env.start_auth_api("auth-pg-1", &db.url, 300).await?;
            grants.push(
                scenarios::refresh_grants(
                    "PostgreSQL, 1 instance".into(),
                    &[one.addr],
                    &env,
                    scale,
                    None,
                    false,
                    None,
                )
                .await?,
            );
            let two = env.start_auth_api("auth-pg-2", &db.url, 300).await?;
            grants.push(
                scenarios::refresh_grants(
                    "PostgreSQL, 2 instances (clients alternate)".into(),
                    &[one.addr, two.addr],
                    &env,
                    scale,
                    None,
                    false,
                    None,
                )
                .await?,
            );
            stop_all(vec![one, two]).await;
            db.drop_database().await;
            Some(format!(
                "PostgreSQL: a throwaway local server from `scripts/pg.sh` (initdb defaults, \
                 `fsync=off`), on the same machine. {}",
                postgres::server_version(admin).await.unwrap_or_default()
            ))
        }
        None => Some(
            "PostgreSQL rows missing: PostgreSQL is not installed here (`scripts/pg.sh` found no \
             server binaries)."
                .to_owned(),
        ),
    };

    // ---- benchmark 13: a frontend serving the release bundle, and a browser ----
    step("13: page weight of a first visit to /login (headless Chromium)");
    let weight = match &args.site_dir {
        Some(site) => weight::measure(&env, site).await?,
        None => Err("no `--site-dir` given (`just bench` passes the release bundle's)".into()),
    };
    if let Err(reason) = &weight {
        step(&format!("13: skipped: {reason}"));
    }

    let report = report::Report {
        date: command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        commit: commit(),
        command: args.command.clone(),
        machine,
        scale_note: if args.quick {
            "`--quick`: a smoke run with fewer rounds, users and trials; not for comparison".into()
        } else {
            format!(
                "{} rounds of {} s (+{} s warm-up) per page variant; {} users; {} revocation trials",
                scale.rounds,
                scale.measure.as_secs_f64(),
                scale.warmup.as_secs_f64(),
                scale.users,
                scale.trials
            )
        },
        pages,
        calls,
        storm,
        proxy,
        proxy_storm,
        crowds,
        logins,
        grants,
        postgres_note,
        revocation,
        micro,
        weight,
    };
    std::fs::write(&args.out, report.render())?;
    step(&format!("wrote {}", args.out.display()));
    Ok(())
}

/// Loads one page with the benchmark's 32 connections, for a profiler.
async fn profile_page(
    env: &Arc<Env>,
    dir: &std::path::Path,
    path: &str,
    signed_in: bool,
    mode: Option<&str>,
    seconds: u64,
) -> Result<(), Error> {
    let db = format!("sqlite://{}/p.db", dir.display());
    env.add_user(&db).await?;
    let auth = env.start_auth_api("auth-p", &db, 300).await?;
    let front = env.start_frontend("front-p", &auth).await?;
    let path: &'static str = Box::leak(path.to_owned().into_boxed_str());
    let stats = scenarios::load_page(
        front.addr,
        env,
        path,
        signed_in,
        mode,
        Duration::from_secs(seconds),
        || {
            eprintln!("bench: frontend pid {} under load", front.pid().unwrap_or(0));
        },
    )
    .await?;
    eprintln!(
        "bench: {path}: {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
        stats.throughput(),
        stats.p50(),
        stats.p99(),
        stats.errors
    );
    front.stop().await;
    auth.stop().await;
    Ok(())
}

/// True if the frontend honours `X-Bench-Mode` (built with the feature):
/// a page view then swaps the refresh token, so the cookie changes.
async fn baseline_available(front: &Server, env: &Env) -> Result<bool, Error> {
    let mut conn = Conn::open(front.addr).await?;
    let cookie = flows::sign_in(&mut conn, front.addr, env).await?;
    let headers = [("x-bench-mode", "naive".to_owned())];
    let resp = conn.send(Req::get("/profile").cookie(Some(&cookie)).headers(&headers)).await?;
    Ok(resp.status == 200 && resp.set_cookie.is_some())
}

async fn stop_all(servers: Vec<Server>) {
    for s in servers {
        s.stop().await;
    }
}

fn command_output(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn commit() -> String {
    let head = command_output("git", &["rev-parse", "--short=12", "HEAD"]);
    let dirty =
        !command_output("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty();
    if dirty { format!("{head} + uncommitted changes") } else { head }
}

mod postgres {
    //! A database of its own on the throwaway server, dropped afterwards.

    use sqlx::{Connection, Executor, PgConnection};

    use crate::http::Error;

    pub struct Database {
        admin: String,
        name: String,
        pub url: String,
    }

    pub async fn create_database(admin: &str) -> Result<Database, Error> {
        let name = format!("cloakroom_bench_{}", hex(&crate::servers::random::<6>()));
        let mut conn = PgConnection::connect(admin).await?;
        conn.execute(format!("CREATE DATABASE {name}").as_str()).await?;
        let url = with_database(admin, &name);
        Ok(Database { admin: admin.to_owned(), name, url })
    }

    impl Database {
        pub async fn drop_database(self) {
            if let Ok(mut conn) = PgConnection::connect(&self.admin).await {
                let _ = conn
                    .execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str())
                    .await;
            }
        }
    }

    pub async fn server_version(admin: &str) -> Result<String, Error> {
        let mut conn = PgConnection::connect(admin).await?;
        let (v,): (String,) = sqlx::query_as("SELECT version()").fetch_one(&mut conn).await?;
        Ok(v.split(" on ").next().unwrap_or(&v).to_owned() + ".")
    }

    /// The admin URL with its database replaced.
    fn with_database(admin: &str, name: &str) -> String {
        let (base, query) = admin.split_once('?').map_or((admin, None), |(b, q)| (b, Some(q)));
        let scheme_end = base.find("://").map_or(0, |i| i + 3);
        let path_start = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
        let mut url = format!("{}/{name}", &base[..path_start]);
        if let Some(q) = query {
            url = format!("{url}?{q}");
        }
        url
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn swaps_the_database_in_the_url() {
            assert_eq!(
                super::with_database("postgres://postgres@127.0.0.1:5433/postgres", "x"),
                "postgres://postgres@127.0.0.1:5433/x"
            );
            assert_eq!(
                super::with_database("postgres://u@h:1/db?host=/tmp/s", "x"),
                "postgres://u@h:1/x?host=/tmp/s"
            );
            assert_eq!(super::with_database("postgres://h:1", "x"), "postgres://h:1/x");
        }
    }
}
