//! The SQLite implementation: one file, WAL journal, a small pool.

use std::{str::FromStr, time::Duration};

use sqlx::{
    Row, SqlitePool,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
    },
};

use super::{
    FailureCount, Liveness, NewKey, NewSession, NewUser, RefreshRecord, Rotation, SessionRecord,
    StoreError, StoredKey, UserRecord, roles_from_text, roles_to_text,
};
use crate::sessions::EndReason;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

const USER_COLUMNS: &str = "u.id, u.username, u.password_hash, u.roles, u.created_at";
const SESSION_COLUMNS: &str = "s.id, s.user_id, s.created_at, s.last_seen_at, s.expires_at, s.remember, s.user_agent, s.ip, s.ended_at";
const LIVE: &str = "s.ended_at IS NULL AND s.expires_at > ? AND s.last_seen_at > ?";

fn user_from_row(row: &SqliteRow) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
        roles: roles_from_text(row.try_get("roles")?)?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Opens (and creates, with its folder) the database at `sqlite://PATH`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if !url.starts_with("sqlite:") {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        }
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            // WAL lets readers proceed while one writer commits; NORMAL sync is
            // durable across application crashes (not power loss of the last
            // transaction), the usual trade for WAL.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let path = options.get_filename();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ---- users -------------------------------------------------------------

    /// `None` when the username is taken.
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
        .execute(&self.pool)
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
        username: &crate::domain::Username,
    ) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.username = ?");
        let row = sqlx::query(&sql).bind(username.as_str()).fetch_optional(&self.pool).await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn find_user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = ?");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.username");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(user_from_row).collect()
    }

    /// Every user with the count and latest activity of their live sessions.
    pub async fn list_users_with_activity(
        &self,
        live: Liveness,
    ) -> Result<Vec<(UserRecord, u64, Option<i64>)>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, COUNT(s.id) AS session_count, MAX(s.last_seen_at) AS last_seen
             FROM users u LEFT JOIN sessions s ON s.user_id = u.id AND {LIVE}
             GROUP BY u.id ORDER BY u.username"
        );
        let rows =
            sqlx::query(&sql).bind(live.now).bind(live.idle_cutoff).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let count: i64 = row.try_get("session_count")?;
                Ok((user_from_row(row)?, count as u64, row.try_get("last_seen")?))
            })
            .collect()
    }

    pub async fn set_password(&self, user_id: &str, hash: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(hash)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- sessions and refresh tokens ----------------------------------------

    pub async fn create_session(
        &self,
        new: &NewSession,
        refresh_hash: &[u8],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
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
            "SELECT {SESSION_COLUMNS}, {USER_COLUMNS}, r.rotated_at, r.successor_hash, r.successor_sealed
             FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id JOIN users u ON u.id = s.user_id
             WHERE r.hash = ?"
        );
        let Some(row) = sqlx::query(&sql).bind(hash).fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        // Both tables have `id` and `created_at`; read the session's by position.
        let session = SessionRecord {
            id: row.try_get(0)?,
            user_id: row.try_get(1)?,
            created_at: row.try_get(2)?,
            last_seen_at: row.try_get(3)?,
            expires_at: row.try_get(4)?,
            remember: row.try_get(5)?,
            user_agent: row.try_get(6)?,
            ip: row.try_get(7)?,
            ended_at: row.try_get(8)?,
        };
        let user = UserRecord {
            id: row.try_get(9)?,
            username: row.try_get(10)?,
            password_hash: row.try_get(11)?,
            roles: roles_from_text(row.try_get(12)?)?,
            created_at: row.try_get(13)?,
        };
        Ok(Some(RefreshRecord {
            session,
            user,
            rotated_at: row.try_get("rotated_at")?,
            successor_hash: row.try_get("successor_hash")?,
            successor_sealed: row.try_get("successor_sealed")?,
        }))
    }

    /// Replaces `old` by `new` if `old` is still current and its session live.
    ///
    /// The conditional `UPDATE ... WHERE rotated_at IS NULL` is the first
    /// statement, so the transaction takes the write lock at once and of two
    /// racing rotations exactly one wins; the loser sees `AlreadyRotated`.
    pub async fn rotate_refresh(
        &self,
        old: &[u8],
        new: &[u8],
        sealed_successor: &[u8],
        session_id: &str,
        now: i64,
    ) -> Result<Rotation, StoreError> {
        let mut tx = self.pool.begin().await?;
        let won = sqlx::query(
            "UPDATE refresh_tokens SET rotated_at = ?, successor_hash = ?, successor_sealed = ?
             WHERE hash = ? AND rotated_at IS NULL",
        )
        .bind(now)
        .bind(new)
        .bind(sealed_successor)
        .bind(old)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if won == 0 {
            return Ok(Rotation::AlreadyRotated);
        }
        let live =
            sqlx::query("UPDATE sessions SET last_seen_at = ? WHERE id = ? AND ended_at IS NULL")
                .bind(now)
                .bind(session_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if live == 0 {
            return Ok(Rotation::SessionEnded);
        }
        sqlx::query("INSERT INTO refresh_tokens (hash, session_id, issued_at) VALUES (?, ?, ?)")
            .bind(new)
            .bind(session_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Rotation::Rotated)
    }

    pub async fn touch_session(&self, session_id: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = MAX(last_seen_at, ?) WHERE id = ?")
            .bind(now)
            .bind(session_id)
            .execute(&self.pool)
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

    /// Ends one session and publishes it on the revocation feed, atomically.
    /// `false` if it had already ended.
    pub async fn end_session(
        &self,
        id: &str,
        reason: EndReason,
        now: i64,
        revoked_until: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
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

    /// Ends every open session of a user (optionally sparing one) and
    /// publishes each on the revocation feed. Returns how many ended.
    pub async fn end_user_sessions(
        &self,
        user_id: &str,
        reason: EndReason,
        now: i64,
        revoked_until: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
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

    /// Revocations after `cursor` that still matter at `now`, oldest first,
    /// and the cursor to resume from.
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
        let next = rows.last().map_or(cursor, |r| r.0);
        let live =
            rows.into_iter().filter(|r| r.2 > now).map(|(_, sid, until)| (sid, until)).collect();
        Ok((live, next))
    }

    // ---- signing keys --------------------------------------------------------

    /// Keys that are current or retired after `retired_since` (their tokens may
    /// still be live): the current key first, then the most recently retired.
    pub async fn signing_keys(&self, retired_since: i64) -> Result<Vec<StoredKey>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT kid, private_key, public_key, created_at, retired_at FROM signing_keys
             WHERE retired_at IS NULL OR retired_at > ?
             ORDER BY retired_at IS NOT NULL, retired_at DESC, created_at DESC, kid",
        )
        .bind(retired_since)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Adds `key` as the current key only if there is none (first start; safe
    /// when several instances start at once).
    pub async fn insert_first_signing_key(&self, key: &NewKey, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, private_key, public_key, created_at)
             SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE retired_at IS NULL)",
        )
        .bind(&key.kid)
        .bind(&key.seed[..])
        .bind(&key.public[..])
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Retires the current key (dropping its private half: it will never sign
    /// again) and makes `key` current. Returns the new kid.
    pub async fn rotate_signing_key(&self, key: NewKey, now: i64) -> Result<String, StoreError> {
        let mut tx = self.pool.begin().await?;
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
        Ok(row.map_or_else(FailureCount::default, |(failures, window_start)| FailureCount {
            failures: failures.clamp(0, i64::from(u32::MAX)) as u32,
            window_start,
        }))
    }

    /// Counts one failure for each key; a window that has ended starts over.
    pub async fn record_failure(
        &self,
        keys: &[&str],
        now: i64,
        window: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
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
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- housekeeping -----------------------------------------------------------

    /// Deletes what can no longer matter: refresh tokens and sessions ended or
    /// expired before `before`, revocations past their `until`, throttling
    /// windows that ended.
    pub async fn prune(&self, now: i64, before: i64, window: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
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
