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
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::{
    FailureCount, KEY_COLUMNS, Liveness, NewKey, NewSession, NewUser, REFRESH_COLUMNS,
    RefreshRecord, RefreshRow, Rotation, SESSION_COLUMNS, SessionRecord, StoreError, StoredKey,
    USER_COLUMNS, UserActivityRow, UserRecord, UserRow, activity, failure_count, live_revocations,
    roles_to_text, users,
};
use crate::{domain::Username, sessions::EndReason};
use checkpoint::Checkpointer;
use group_commit::{GroupCommit, Rotate};

mod checkpoint;
mod group_commit;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Reads only.
    pool: SqlitePool,
    /// Every write, one at a time.
    writer: SqlitePool,
    /// Refresh-token rotations, batched onto `writer`.
    rotations: GroupCommit,
    /// Checkpoints the WAL, mostly on a reader connection.
    _checkpoints: Checkpointer,
}

/// How long a connection waits for a lock held by another connection.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const LIVE: &str = "s.ended_at IS NULL AND s.expires_at > ? AND s.last_seen_at > ?";

impl SqliteStore {
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
        let rotations = GroupCommit::start(writer.clone());
        let _checkpoints = Checkpointer::start(pool.clone(), writer.clone());
        Ok(Self { pool, writer, rotations, _checkpoints })
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.writer).await?;
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }

    // ---- users -------------------------------------------------------------

    pub async fn create_user(&self, new: NewUser) -> Result<Option<UserRecord>, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let roles = roles_to_text(&new.roles);
        let inserted = sqlx::query(
            "INSERT INTO users (id, username, password_hash, roles, created_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (username) DO NOTHING",
        )
        .bind(&id)
        .bind(new.username.as_str())
        .bind(&new.password_hash)
        .bind(&roles)
        .bind(new.now)
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok((inserted == 1).then(|| UserRecord {
            id,
            username: new.username.as_str().to_owned(),
            password_hash: new.password_hash,
            roles: new.roles,
            created_at: new.now,
        }))
    }

    pub async fn find_user_by_name(
        &self,
        username: &Username,
    ) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.username = ?");
        let row: Option<UserRow> =
            sqlx::query_as(&sql).bind(username.as_str()).fetch_optional(&self.pool).await?;
        row.map(UserRecord::try_from).transpose()
    }

    pub async fn find_user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = ?");
        let row: Option<UserRow> = sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await?;
        row.map(UserRecord::try_from).transpose()
    }

    pub async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.username");
        users(sqlx::query_as(&sql).fetch_all(&self.pool).await?)
    }

    pub async fn list_users_with_activity(
        &self,
        live: Liveness,
    ) -> Result<Vec<(UserRecord, u64, Option<i64>)>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, COUNT(s.id) AS session_count, MAX(s.last_seen_at) AS last_seen
             FROM users u LEFT JOIN sessions s ON s.user_id = u.id AND {LIVE}
             GROUP BY u.id ORDER BY u.username"
        );
        let rows: Vec<UserActivityRow> = sqlx::query_as(&sql)
            .bind(live.now)
            .bind(live.idle_cutoff)
            .fetch_all(&self.pool)
            .await?;
        activity(rows)
    }

    pub async fn set_password(&self, user_id: &str, hash: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(hash)
            .bind(user_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    // ---- sessions and refresh tokens ----------------------------------------

    pub async fn create_session(
        &self,
        new: &NewSession,
        refresh_hash: &[u8],
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at, remember, user_agent, ip)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&new.id)
        .bind(&new.user_id)
        .bind(new.now)
        .bind(new.now)
        .bind(new.expires_at)
        .bind(new.remember)
        .bind(&new.user_agent)
        .bind(&new.ip)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO refresh_tokens (hash, session_id, issued_at) VALUES (?, ?, ?)")
            .bind(refresh_hash)
            .bind(&new.id)
            .bind(new.now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn find_refresh(&self, hash: &[u8]) -> Result<Option<RefreshRecord>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS}, {REFRESH_COLUMNS}
             FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id JOIN users u ON u.id = s.user_id
             WHERE r.hash = ?"
        );
        let row: Option<RefreshRow> =
            sqlx::query_as(&sql).bind(hash).fetch_optional(&self.pool).await?;
        row.map(RefreshRecord::try_from).transpose()
    }

    /// Goes through the group-commit task (see `group_commit`). When the
    /// rotation did not win, a read tells a lost race from an ended session;
    /// the batch has committed, so any reader sees what the `UPDATE` saw.
    pub async fn rotate_refresh(
        &self,
        old: &[u8],
        new: &[u8],
        sealed_successor: &[u8],
        session_id: &str,
        now: i64,
    ) -> Result<Rotation, StoreError> {
        let won = self
            .rotations
            .rotate(Rotate {
                old: old.to_vec(),
                new: new.to_vec(),
                sealed_successor: sealed_successor.to_vec(),
                session_id: session_id.to_owned(),
                now,
            })
            .await?;
        if won {
            return Ok(Rotation::Rotated);
        }
        let rotated: Option<bool> =
            sqlx::query_scalar("SELECT rotated_at IS NOT NULL FROM refresh_tokens WHERE hash = ?")
                .bind(old)
                .fetch_optional(&self.pool)
                .await?;
        Ok(if rotated == Some(true) { Rotation::AlreadyRotated } else { Rotation::SessionEnded })
    }

    pub async fn touch_session(&self, session_id: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = MAX(last_seen_at, ?) WHERE id = ?")
            .bind(now)
            .bind(session_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub async fn find_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.id = ?");
        Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await?)
    }

    pub async fn live_sessions_of(
        &self,
        user_id: &str,
        live: Liveness,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.user_id = ? AND {LIVE}
             ORDER BY s.last_seen_at DESC, s.created_at DESC"
        );
        Ok(sqlx::query_as(&sql)
            .bind(user_id)
            .bind(live.now)
            .bind(live.idle_cutoff)
            .fetch_all(&self.pool)
            .await?)
    }

    pub async fn end_session(
        &self,
        id: &str,
        reason: EndReason,
        now: i64,
        revoked_until: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        let ended = sqlx::query(
            "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL",
        )
        .bind(now)
        .bind(reason.as_str())
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if ended == 1 {
            sqlx::query("INSERT INTO revocations (session_id, until) VALUES (?, ?)")
                .bind(id)
                .bind(revoked_until)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(ended == 1)
    }

    pub async fn end_user_sessions(
        &self,
        user_id: &str,
        reason: EndReason,
        now: i64,
        revoked_until: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.writer.begin().await?;
        let ids: Vec<String> = sqlx::query_scalar(
            "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE user_id = ? AND ended_at IS NULL
             RETURNING id",
        )
        .bind(now)
        .bind(reason.as_str())
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?;
        for id in &ids {
            sqlx::query("INSERT INTO revocations (session_id, until) VALUES (?, ?)")
                .bind(id)
                .bind(revoked_until)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(ids.len() as u64)
    }

    /// Writers are serialised by SQLite, so ids become visible in order.
    pub async fn revocations_after(
        &self,
        cursor: i64,
        now: i64,
        limit: i64,
    ) -> Result<(Vec<(String, i64)>, i64), StoreError> {
        let rows: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT id, session_id, until FROM revocations WHERE id > ? ORDER BY id LIMIT ?",
        )
        .bind(cursor)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(live_revocations(rows, cursor, now))
    }

    // ---- signing keys --------------------------------------------------------

    pub async fn signing_keys(&self, retired_since: i64) -> Result<Vec<StoredKey>, StoreError> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM signing_keys
             WHERE retired_at IS NULL OR retired_at > ?
             ORDER BY retired_at IS NOT NULL, retired_at DESC, created_at DESC, kid"
        );
        Ok(sqlx::query_as(&sql).bind(retired_since).fetch_all(&self.pool).await?)
    }

    /// One statement, and SQLite runs one writer at a time: the check and
    /// the insert cannot interleave with another writer's.
    pub async fn insert_first_signing_key(&self, key: &NewKey, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, private_key, public_key, created_at)
             SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE retired_at IS NULL)",
        )
        .bind(&key.kid)
        .bind(&key.seed[..])
        .bind(&key.public[..])
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub async fn rotate_signing_key(&self, key: NewKey, now: i64) -> Result<String, StoreError> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "UPDATE signing_keys SET retired_at = ?, private_key = NULL WHERE retired_at IS NULL",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, private_key, public_key, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(&key.kid)
        .bind(&key.seed[..])
        .bind(&key.public[..])
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(key.kid)
    }

    // ---- login throttling ------------------------------------------------------

    pub async fn failure_count(&self, key: &str) -> Result<FailureCount, StoreError> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT failures, window_start FROM login_failures WHERE key = ?")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        Ok(failure_count(row))
    }

    pub async fn record_failure(
        &self,
        keys: &[&str],
        now: i64,
        window: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        for key in keys {
            sqlx::query(
                "INSERT INTO login_failures (key, failures, window_start) VALUES (?, 1, ?)
                 ON CONFLICT (key) DO UPDATE SET
                   failures = CASE WHEN login_failures.window_start + ? <= excluded.window_start
                                   THEN 1 ELSE login_failures.failures + 1 END,
                   window_start = CASE WHEN login_failures.window_start + ? <= excluded.window_start
                                   THEN excluded.window_start ELSE login_failures.window_start END",
            )
            .bind(key)
            .bind(now)
            .bind(window)
            .bind(window)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn clear_failures(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_failures WHERE key = ?")
            .bind(key)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    // ---- housekeeping -----------------------------------------------------------

    pub async fn prune(&self, now: i64, before: i64, window: i64) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "DELETE FROM sessions WHERE (ended_at IS NOT NULL AND ended_at < ?) OR expires_at < ?",
        )
        .bind(before)
        .bind(before)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM revocations WHERE until < ?").bind(now).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM login_failures WHERE window_start + ? < ?")
            .bind(window)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
