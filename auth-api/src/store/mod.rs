//! Storage: the only code that speaks SQL.
//!
//! Handlers and the session rules call these methods with domain values and
//! get plain records back; they never see a connection or a query. Every
//! multi-row change is one transaction, so a crash or a full disk leaves the
//! previous state intact. Two backends sit behind the same methods, chosen by
//! the `DATABASE_URL` scheme: SQLite (`sqlite://PATH`, embedded, one
//! instance) and PostgreSQL (`postgres://...`, shared by several instances).
//! Each has its own embedded migrations and its own SQL dialect; the records
//! and the rules for building them from rows are shared here.

mod postgres;
mod sqlite;

use shared::Role;

use crate::{domain::Username, sessions::EndReason};

/// The database: SQLite or PostgreSQL, decided once by `connect`.
#[derive(Debug, Clone)]
pub struct Store(Backend);

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

/// One public method per storage operation, each forwarded to the backend's
/// method of the same name and signature.
macro_rules! forward {
    ($(
        $(#[$doc:meta])*
        pub async fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;
    )*) => {
        impl Store {
            $(
                $(#[$doc])*
                pub async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    match &self.0 {
                        Backend::Sqlite(db) => db.$name($($arg),*).await,
                        Backend::Postgres(db) => db.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
}

impl Store {
    /// Opens the database named by `url`: `sqlite://PATH` (the file and its
    /// folder are created when missing) or `postgres://` / `postgresql://`
    /// (the database must exist). Run `migrate` before use.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let backend = match url.split_once(':').map(|(scheme, _)| scheme) {
            Some("sqlite") => Backend::Sqlite(sqlite::SqliteStore::connect(url).await?),
            Some("postgres" | "postgresql") => {
                Backend::Postgres(postgres::PgStore::connect(url).await?)
            }
            // Only the scheme is echoed: the rest may hold a password.
            scheme => {
                return Err(StoreError::UnsupportedUrl(scheme.unwrap_or_default().to_owned()));
            }
        };
        Ok(Self(backend))
    }

    /// Whether session ends committed by *other* processes are announced to
    /// this one (PostgreSQL LISTEN/NOTIFY), so revocation-feed polls need only
    /// a slow safety-net re-read. SQLite has no such channel.
    pub fn announces_revocations(&self) -> bool {
        matches!(self.0, Backend::Postgres(_))
    }

    /// PostgreSQL: starts listening for session ends committed by any process
    /// on this database and returns the task that calls `wake` for each of
    /// them (and after every reconnection, when some may have been missed),
    /// until it is dropped. `None` on SQLite.
    pub async fn revocation_announcements(
        &self,
        wake: impl Fn() + Send + 'static,
    ) -> Result<Option<impl Future<Output = ()> + Send + 'static>, StoreError> {
        match &self.0 {
            Backend::Sqlite(_) => Ok(None),
            Backend::Postgres(db) => Ok(Some(db.revocation_announcements(wake).await?)),
        }
    }

    pub async fn close(&self) {
        match &self.0 {
            Backend::Sqlite(db) => db.close().await,
            Backend::Postgres(db) => db.close().await,
        }
    }
}

forward! {
    /// Creates or upgrades the schema (each backend has its own migrations).
    pub async fn migrate(&self) -> Result<(), StoreError>;

    pub async fn ping(&self) -> Result<(), StoreError>;

    // ---- users ---------------------------------------------------------------

    /// `None` when the username is taken.
    pub async fn create_user(&self, new: NewUser) -> Result<Option<UserRecord>, StoreError>;

    pub async fn find_user_by_name(
        &self,
        username: &Username,
    ) -> Result<Option<UserRecord>, StoreError>;

    pub async fn find_user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError>;

    /// Every user, by username.
    pub async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError>;

    /// Every user with the count and latest activity of their live sessions.
    pub async fn list_users_with_activity(
        &self,
        live: Liveness,
    ) -> Result<Vec<(UserRecord, u64, Option<i64>)>, StoreError>;

    pub async fn set_password(&self, user_id: &str, hash: &str) -> Result<(), StoreError>;

    // ---- sessions and refresh tokens ------------------------------------------

    /// A new session with its first refresh token, in one transaction.
    pub async fn create_session(
        &self,
        new: &NewSession,
        refresh_hash: &[u8],
    ) -> Result<(), StoreError>;

    /// The refresh token with this hash, with its session and user.
    pub async fn find_refresh(&self, hash: &[u8]) -> Result<Option<RefreshRecord>, StoreError>;

    /// Replaces `old` by `new` if `old` is still current and its session
    /// open. Of any number of racing rotations of one token, in this process
    /// or in others on the same database, exactly one gets `Rotated`; the
    /// others get `AlreadyRotated` once the winner has committed.
    pub async fn rotate_refresh(
        &self,
        old: &[u8],
        new: &[u8],
        sealed_successor: &[u8],
        session_id: &str,
        now: i64,
    ) -> Result<Rotation, StoreError>;

    /// Records use of a session; `last_seen_at` never moves backwards.
    pub async fn touch_session(&self, session_id: &str, now: i64) -> Result<(), StoreError>;

    pub async fn find_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError>;

    /// A user's live sessions, most recently used first.
    pub async fn live_sessions_of(
        &self,
        user_id: &str,
        live: Liveness,
    ) -> Result<Vec<SessionRecord>, StoreError>;

    /// Ends one session and publishes it on the revocation feed, atomically.
    /// `false` if it had already ended.
    pub async fn end_session(
        &self,
        id: &str,
        reason: EndReason,
        now: i64,
        revoked_until: i64,
    ) -> Result<bool, StoreError>;

    /// Ends every open session of a user and publishes each on the
    /// revocation feed. Returns how many ended.
    pub async fn end_user_sessions(
        &self,
        user_id: &str,
        reason: EndReason,
        now: i64,
        revoked_until: i64,
    ) -> Result<u64, StoreError>;

    /// Revocations after `cursor` that still matter at `now`, oldest first,
    /// and the cursor to resume from. A reader that follows the cursor sees
    /// every revocation exactly once, whichever process wrote it.
    pub async fn revocations_after(
        &self,
        cursor: i64,
        now: i64,
        limit: i64,
    ) -> Result<(Vec<(String, i64)>, i64), StoreError>;

    // ---- signing keys ----------------------------------------------------------

    /// Keys that are current or retired after `retired_since` (their tokens may
    /// still be live): the current key first, then the most recently retired.
    pub async fn signing_keys(&self, retired_since: i64) -> Result<Vec<StoredKey>, StoreError>;

    /// Adds `key` as the current key only if there is none (first start; safe
    /// when several instances start at once: exactly one key becomes current).
    pub async fn insert_first_signing_key(&self, key: &NewKey, now: i64) -> Result<(), StoreError>;

    /// Retires the current key (dropping its private half: it will never sign
    /// again) and makes `key` current. Returns the new kid. Concurrent
    /// rotations leave exactly one current key.
    pub async fn rotate_signing_key(&self, key: NewKey, now: i64) -> Result<String, StoreError>;

    // ---- login throttling --------------------------------------------------------

    pub async fn failure_count(&self, key: &str) -> Result<FailureCount, StoreError>;

    /// Counts one failure for each key; a window that has ended starts over.
    /// Concurrent failures are all counted.
    pub async fn record_failure(
        &self,
        keys: &[&str],
        now: i64,
        window: i64,
    ) -> Result<(), StoreError>;

    pub async fn clear_failures(&self, key: &str) -> Result<(), StoreError>;

    // ---- housekeeping -------------------------------------------------------------

    /// Deletes what can no longer matter: refresh tokens and sessions ended or
    /// expired before `before`, revocations past their `until`, throttling
    /// windows that ended.
    pub async fn prune(&self, now: i64, before: i64, window: i64) -> Result<(), StoreError>;
}

/// `url` with any password replaced by `***`, fit for messages and logs.
pub fn redacted_url(url: &str) -> String {
    let (head, query) = url.split_once('?').map_or((url, None), |(h, q)| (h, Some(q)));
    let head = match head.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) =
                rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _password)) => format!("{user}:***@{host}"),
                    None => authority.to_owned(),
                },
                None => authority.to_owned(),
            };
            match path {
                Some(path) => format!("{scheme}://{authority}/{path}"),
                None => format!("{scheme}://{authority}"),
            }
        }
        None => head.to_owned(),
    };
    let Some(query) = query else { return head };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{head}?{}", query.join("&"))
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "unsupported DATABASE_URL scheme {0:?}: expected sqlite://PATH or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
    )]
    UnsupportedUrl(String),
    #[error("could not create the database folder {path}: {source}")]
    CreateDir { path: String, source: std::io::Error },
    /// Shared, because one failed group commit answers several callers.
    #[error("database error: {0}")]
    Database(std::sync::Arc<sqlx::Error>),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        StoreError::Database(std::sync::Arc::new(err))
    }
}

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub roles: Vec<Role>,
    pub created_at: i64,
}

#[derive(Debug)]
pub struct NewUser {
    pub username: crate::domain::Username,
    pub password_hash: String,
    pub roles: Vec<Role>,
    pub now: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub remember: bool,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub ended_at: Option<i64>,
}

#[derive(Debug)]
pub struct NewSession {
    pub id: String,
    pub user_id: String,
    pub now: i64,
    pub expires_at: i64,
    pub remember: bool,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// A refresh token's row, with its session and user.
#[derive(Debug)]
pub struct RefreshRecord {
    pub session: SessionRecord,
    pub user: UserRecord,
    pub rotated_at: Option<i64>,
    pub successor_hash: Option<Vec<u8>>,
    pub successor_sealed: Option<Vec<u8>>,
}

/// What `rotate_refresh` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Rotation {
    Rotated,
    /// Another request rotated this token first; read it again and take the grace path.
    AlreadyRotated,
    /// The session ended meanwhile.
    SessionEnded,
}

/// Bounds that decide whether a session is live; see `sessions::Policy`.
#[derive(Debug, Clone, Copy)]
pub struct Liveness {
    pub now: i64,
    /// Sessions last seen at or before this are idle-expired.
    pub idle_cutoff: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredKey {
    pub kid: String,
    /// The Ed25519 seed; `None` once the key is retired and may no longer sign.
    #[sqlx(rename = "private_key")]
    pub seed: Option<Vec<u8>>,
    #[sqlx(rename = "public_key")]
    pub public: Vec<u8>,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

/// A fresh key pair from `tokens::keys::generate`.
#[derive(Clone)]
pub struct NewKey {
    pub kid: String,
    pub seed: [u8; 32],
    pub public: [u8; 32],
}

#[derive(Debug, Clone, Copy, Default)]
pub struct FailureCount {
    pub failures: u32,
    pub window_start: i64,
}

fn roles_to_text(roles: &[Role]) -> String {
    roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
}

fn roles_from_text(text: &str) -> Result<Vec<Role>, StoreError> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<Role>().map_err(|e| StoreError::Corrupt(e.to_string())))
        .collect()
}

// ---- rows, as both backends select them ----------------------------------------
//
// The column lists carry no placeholders, so both dialects use them as they
// are; the row types below turn what they select into records.

const USER_COLUMNS: &str = "u.id, u.username, u.password_hash, u.roles, u.created_at";
const SESSION_COLUMNS: &str = "s.id, s.user_id, s.created_at, s.last_seen_at, s.expires_at, s.remember, s.user_agent, s.ip, s.ended_at";
/// After `SESSION_COLUMNS`: the rest of a refresh token's row with its user.
/// Sessions and users both have `id` and `created_at`; the user's come as
/// `s.user_id` and `user_created_at`.
const REFRESH_COLUMNS: &str =
    "u.username, u.password_hash, u.roles, u.created_at AS user_created_at,
     r.rotated_at, r.successor_hash, r.successor_sealed";
const KEY_COLUMNS: &str = "kid, private_key, public_key, created_at, retired_at";

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    username: String,
    password_hash: String,
    roles: String,
    created_at: i64,
}

impl TryFrom<UserRow> for UserRecord {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self, StoreError> {
        Ok(UserRecord {
            id: row.id,
            username: row.username,
            password_hash: row.password_hash,
            roles: roles_from_text(&row.roles)?,
            created_at: row.created_at,
        })
    }
}

fn users(rows: Vec<UserRow>) -> Result<Vec<UserRecord>, StoreError> {
    rows.into_iter().map(UserRecord::try_from).collect()
}

/// `USER_COLUMNS` plus `session_count` and `last_seen` of the live sessions.
#[derive(sqlx::FromRow)]
struct UserActivityRow {
    #[sqlx(flatten)]
    user: UserRow,
    session_count: i64,
    last_seen: Option<i64>,
}

fn activity(rows: Vec<UserActivityRow>) -> Result<Vec<(UserRecord, u64, Option<i64>)>, StoreError> {
    rows.into_iter()
        .map(|row| Ok((row.user.try_into()?, row.session_count.max(0) as u64, row.last_seen)))
        .collect()
}

/// What `SESSION_COLUMNS, REFRESH_COLUMNS` select.
#[derive(sqlx::FromRow)]
struct RefreshRow {
    #[sqlx(flatten)]
    session: SessionRecord,
    username: String,
    password_hash: String,
    roles: String,
    user_created_at: i64,
    rotated_at: Option<i64>,
    successor_hash: Option<Vec<u8>>,
    successor_sealed: Option<Vec<u8>>,
}

impl TryFrom<RefreshRow> for RefreshRecord {
    type Error = StoreError;

    fn try_from(row: RefreshRow) -> Result<Self, StoreError> {
        let user = UserRecord {
            id: row.session.user_id.clone(),
            username: row.username,
            password_hash: row.password_hash,
            roles: roles_from_text(&row.roles)?,
            created_at: row.user_created_at,
        };
        Ok(RefreshRecord {
            session: row.session,
            user,
            rotated_at: row.rotated_at,
            successor_hash: row.successor_hash,
            successor_sealed: row.successor_sealed,
        })
    }
}

/// Keeps the revocations that still matter at `now` from rows of
/// `(id, session_id, until)` in id order, with the cursor after the last row.
fn live_revocations(
    rows: Vec<(i64, String, i64)>,
    cursor: i64,
    now: i64,
) -> (Vec<(String, i64)>, i64) {
    let next = rows.last().map_or(cursor, |r| r.0);
    let live = rows.into_iter().filter(|r| r.2 > now).map(|(_, sid, until)| (sid, until)).collect();
    (live, next)
}

fn failure_count(row: Option<(i64, i64)>) -> FailureCount {
    row.map_or_else(FailureCount::default, |(failures, window_start)| FailureCount {
        failures: failures.clamp(0, i64::from(u32::MAX)) as u32,
        window_start,
    })
}

#[cfg(test)]
mod tests {
    use super::redacted_url;

    #[test]
    fn redacted_urls_keep_everything_but_the_password() {
        for (url, shown) in [
            ("sqlite://data/auth.db", "sqlite://data/auth.db"),
            ("postgres://app@db:5432/auth", "postgres://app@db:5432/auth"),
            ("postgres://app:s3cret@db:5432/auth", "postgres://app:***@db:5432/auth"),
            (
                "postgresql://app:p%40ss@db/auth?sslmode=disable",
                "postgresql://app:***@db/auth?sslmode=disable",
            ),
            (
                "postgres:///auth?host=/run/pg&password=s3cret",
                "postgres:///auth?host=/run/pg&password=***",
            ),
        ] {
            assert_eq!(redacted_url(url), shown);
        }
    }
}
