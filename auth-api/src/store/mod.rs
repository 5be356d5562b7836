//! Storage: the only code that speaks SQL.
//!
//! Handlers and the session rules call these methods with domain values and
//! get plain records back; they never see a connection or a query. Every
//! multi-row change is one transaction, so a crash or a full disk leaves the
//! previous state intact. Two backends sit behind the same methods, chosen by
//! the `DATABASE_URL` scheme: SQLite (`sqlite://PATH`, embedded, one
//! instance) and PostgreSQL (`postgres://...`, shared by several instances).
//!
//! ## One query, two databases
//!
//! A query is written once, in [`queries`]: sqlx's SQLite driver reads
//! PostgreSQL's `$N` placeholders, so one SQL text, one set of binds and one
//! row decoder serve both, and the contract tests (`tests/api/store.rs`) run
//! each against both. Where the databases truly differ, the difference is an
//! item of [`dialect`] or lives in the backend's own folder, and nowhere else:
//! - `sqlite/`: the connection setup (one writer, WAL), refresh rotation
//!   through group commit (one `UPDATE … FROM (VALUES …)` per batch),
//!   WAL checkpointing;
//! - `postgres/`: rotation as one conditional `UPDATE` per grant (its row
//!   lock orders racers), the advisory locks that order the revocation feed and signing-key
//!   rotations, and LISTEN/NOTIFY announcements of session ends.
//!
//! Why an enum over the two backends, with each query's body expanded into
//! both arms (`on_db!` in `queries`), rather than the alternatives:
//! - sqlx's `Any` driver maps values at run time and cannot express what
//!   differs (PostgreSQL's arrays and LISTEN, SQLite's group commit on a
//!   typed connection), so both drivers would still be needed beside it;
//! - functions generic over `sqlx::Database` need a dozen higher-ranked
//!   bounds (encode, decode, column index, executor per type) that Rust does
//!   not imply from a trait, and a forwarding method per query to reach them
//!   from a non-generic `Store`: more text about types than SQL.
//!
//! Expanded per arm, a body is type-checked against each driver concretely,
//! and [`Store`] stays the one non-generic face the rest of the service uses.

mod dialect;
mod error;
mod mfa_keys;
mod migrations;
mod passkeys;
mod postgres;
mod queries;
mod records;
mod second_factors;
mod sqlite;
mod url;

use sqlx::{Pool, Postgres, Sqlite};

pub use error::StoreError;
pub use mfa_keys::{CodesUnderKey, Reseal};
pub use queries::Pruned;
pub use records::{
    Ceremony, EventFilter, FactorAdded, FailureCount, FirstRefresh, KeyRetirement, Liveness,
    NewEvent, NewKey, NewSession, NewUser, PasskeyRecord, PendingSignIn, RefreshRecord,
    RefreshState, Rotate, SessionRecord, StoredKey, TotpRecord, UserActivity, UserChange, UserNow,
    UserRecord,
};
pub use second_factors::{NewFactor, PendingFailure, RemovedFactor};
pub use url::redacted_url;

use dialect::Dialect;
use migrations::Embedded;

/// The database: SQLite or PostgreSQL, decided once by `connect`.
#[derive(Debug, Clone)]
pub struct Store(Backend);

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(Db<Sqlite>),
    Postgres(Db<Postgres>),
}

/// One backend's connections. Reads and writes go to different pools only on
/// SQLite (many readers, one writer); on PostgreSQL both are the same pool.
#[derive(Debug)]
struct Db<D: Dialect> {
    reads: Pool<D>,
    writes: Pool<D>,
    /// What runs beside the pools (SQLite: group commit, checkpoints).
    tasks: D::Tasks,
}

impl<D: Dialect> Db<D> {
    fn migrations(&self) -> &'static [Embedded] {
        D::MIGRATIONS
    }

    fn byte_order(&self) -> &'static str {
        D::BYTE_ORDER
    }

    fn incarnation(&self) -> &'static str {
        D::INCARNATION
    }
}

// By hand: a derive would require `D: Clone`, which the drivers' marker types are not.
impl<D: Dialect> Clone for Db<D> {
    fn clone(&self) -> Self {
        Self { reads: self.reads.clone(), writes: self.writes.clone(), tasks: self.tasks.clone() }
    }
}

impl Store {
    /// Opens the database named by `url`: `sqlite://PATH` (the file and its
    /// folder are created when missing) or `postgres://` / `postgresql://`
    /// (the database must exist). Run `migrate` before use.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let backend = match url.split_once(':').map(|(scheme, _)| scheme) {
            Some("sqlite") => Backend::Sqlite(Db::<Sqlite>::connect(url).await?),
            Some("postgres" | "postgresql") => {
                Backend::Postgres(Db::<Postgres>::connect(url).await?)
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
}
