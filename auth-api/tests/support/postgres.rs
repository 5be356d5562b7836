//! Scratch PostgreSQL databases for tests, shared by the auth-api's API tests
//! and the frontend's multi-instance tests (each includes this file with
//! `#[path]`; it needs only `sqlx` and the standard library).

use std::{
    io::Write,
    sync::atomic::{AtomicUsize, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use sqlx::Connection;

/// The variable naming a PostgreSQL server for the PostgreSQL tests: an
/// admin URL such as `postgres://postgres:PASSWORD@127.0.0.1:5432/postgres`
/// (`scripts/pg.sh` starts a throwaway server and sets it).
pub const POSTGRES_VAR: &str = "TEST_POSTGRES_URL";

/// A new, empty database named `{prefix}_…` on the server at
/// `TEST_POSTGRES_URL`: its admin URL, its URL and its name. `None` when the
/// variable is not set: the test is then skipped, saying why on stderr; in CI
/// (`CI=true`) the PostgreSQL tests must run, so there it fails instead. The
/// databases are left behind; `scripts/pg.sh` deletes its server whole.
pub async fn fresh_database(prefix: &str) -> Option<(String, String, String)> {
    let Some(admin) = std::env::var(POSTGRES_VAR).ok().filter(|url| !url.is_empty()) else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "{POSTGRES_VAR} is not set but CI=true: the PostgreSQL tests must run in CI \
             (run them through scripts/pg.sh)"
        );
        let test = std::thread::current().name().unwrap_or("?").to_owned();
        // Straight to stderr: libtest hides what `eprintln!` prints in passing tests.
        let _ = writeln!(
            std::io::stderr(),
            "{test}: skipped: {POSTGRES_VAR} not set (PostgreSQL not installed?)"
        );
        return None;
    };
    // Unique across test processes sharing one server, and within this one.
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_nanos();
    let name = format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {POSTGRES_VAR}: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    conn.close().await.expect("close the admin connection");
    let url = with_database(&admin, &name);
    Some((admin, url, name))
}

/// `url` (a `postgres://` URL) pointing at database `name` instead.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, ""), |(b, q)| (b, q));
    let (scheme, rest) = base.split_once("://").expect("a postgres://... URL");
    let authority = rest.split_once('/').map_or(rest, |(a, _)| a);
    let query = if query.is_empty() { String::new() } else { format!("?{query}") };
    format!("{scheme}://{authority}/{name}{query}")
}
