//! The SQLite backend: one file, WAL journal, a pool of readers and a single
//! writer connection. SQLite admits one writer at a time; with several
//! writing connections the losers of each race sleep in SQLite's busy
//! handler (1, 2, 5, 10, … ms backoff), which under 32 concurrent refreshes
//! put p99 at 66–81 ms. One writer makes them queue, fairly and without
//! sleeping, for the pool's connection instead, and refresh-token rotations,
//! the one write on a hot path, are batched onto it (`group_commit`).
//! Readers never wait for it (WAL). Only one process (one auth-api) should
//! use the file.

use std::{str::FromStr, time::Duration};

use sqlx::{
    Sqlite, SqliteConnection,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
    },
};

use super::{
    Db, Rotate, StoreError,
    dialect::{Dialect, DialectTx, Topic},
    migrations,
};
use checkpoint::Checkpointer;
use group_commit::GroupCommit;

mod checkpoint;
mod group_commit;

/// How long a connection waits for a lock held by another connection.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The tasks that live as long as the store.
#[derive(Debug, Clone)]
pub struct Tasks {
    /// Refresh-token rotations, batched onto the writer.
    rotations: GroupCommit,
    /// Checkpoints the WAL, mostly on a reader connection.
    _checkpoints: Checkpointer,
}

impl Dialect for Sqlite {
    type Tasks = Tasks;
    const MIGRATIONS: &'static [migrations::Embedded] = migrations::SQLITE;
    const BYTE_ORDER: &'static str = "";
    const INCARNATION: &'static str = "''";
}

/// SQLite has one writer at a time: ids commit in the order they are taken
/// and rotations never overlap, without any lock of ours.
impl DialectTx for SqliteConnection {
    async fn publish_revocations(
        &mut self,
        session_ids: &[String],
        until: i64,
        stale_before: Option<i64>,
    ) -> Result<(), sqlx::Error> {
        let sql = "INSERT INTO revocations (session_id, until, stale_before) VALUES ($1, $2, $3)";
        for id in session_ids {
            sqlx::query(sql).bind(id).bind(until).bind(stale_before).execute(&mut *self).await?;
        }
        Ok(())
    }

    /// Nothing announces on SQLite: waiting polls re-read twice a second.
    async fn announce_feed(&mut self) -> Result<(), sqlx::Error> {
        Ok(())
    }

    /// One writer connection: transactions on it never interleave.
    async fn lock(&mut self, _: Topic) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

impl Db<Sqlite> {
    /// Opens (and creates, with its folder) the database at `sqlite://PATH`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            // WAL lets readers proceed while one writer commits; NORMAL sync is
            // durable across application crashes (not power loss of the last
            // transaction), the usual trade for WAL.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let path = options.get_filename();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        // The writer first: it creates the file. It does not checkpoint by
        // itself (see `checkpoint`); without that task the WAL would grow
        // without bound.
        //
        // Neither pool pings a connection before lending it (sqlx's default):
        // a SQLite connection is a file this process holds open, so that ping
        // can find nothing wrong, yet it costs a round trip to the
        // connection's thread on every query's path (three hand-offs become
        // two). sqlx still pings a connection as it returns to the pool, off
        // the query's path; that is what catches one a cancelled query left
        // mid-statement.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .test_before_acquire(false)
            .connect_with(
                options
                    .clone()
                    .pragma("wal_autocheckpoint", "0")
                    .pragma("journal_size_limit", checkpoint::WAL_SIZE_LIMIT),
            )
            .await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        let tasks = Tasks {
            rotations: GroupCommit::start(writer.clone()),
            _checkpoints: Checkpointer::start(pool.clone(), writer.clone(), BUSY_TIMEOUT),
        };
        Ok(Self { reads: pool, writes: writer, tasks })
    }

    /// Goes through the group-commit task (see `group_commit`).
    pub async fn rotate_refresh(&self, rotation: Rotate) -> Result<Option<SqliteRow>, StoreError> {
        self.tasks.rotations.rotate(rotation).await
    }
}
