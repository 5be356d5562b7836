//! The PostgreSQL backend: one database shared by several auth-api
//! instances (and the CLI), each with its own pool.
//!
//! What several writers change, and how each stays correct:
//! - refresh rotation is a conditional `UPDATE ... WHERE rotated_at IS NULL`;
//!   in READ COMMITTED a racing rotation of the same token waits on the row
//!   lock, re-checks the condition against the committed row and updates
//!   nothing, so exactly one successor is ever minted;
//! - revocation-feed ids are assigned under an advisory lock held to commit,
//!   so they become visible in order (see `publish_revocations`), and every
//!   end is announced with NOTIFY in the same transaction;
//! - at most one signing key is current: a partial unique index, plus an
//!   advisory lock that serialises rotations;
//! - login-failure counters are single-statement upserts.
//!
//! Connections are plain TCP or a Unix socket: this build has no TLS, so the
//! database must be on loopback or a private network (`sslmode=require`
//! fails to connect rather than going on in clear text).

use std::{str::FromStr, time::Duration};

use sqlx::{
    PgConnection, PgPool,
    postgres::{PgConnectOptions, PgListener, PgPoolOptions},
};

use super::{
    FailureCount, KEY_COLUMNS, Liveness, NewKey, NewSession, NewUser, REFRESH_COLUMNS,
    RefreshRecord, RefreshRow, Rotation, SESSION_COLUMNS, SessionRecord, StoreError, StoredKey,
    USER_COLUMNS, UserActivityRow, UserRecord, UserRow, activity, failure_count, live_revocations,
    roles_to_text, users,
};
use crate::{domain::Username, sessions::EndReason};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per instance. Requests hold one only for a statement or a
/// short transaction (long-polls hold none while they wait); the revocation
/// listener keeps one for itself.
const MAX_CONNECTIONS: u32 = 16;
/// How long a request waits for a connection before it answers 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The NOTIFY channel on which session ends are announced (per database).
const CHANNEL: &str = "cloakroom_revocations";

/// Advisory locks, in the two-key space (`pg_advisory_xact_lock(int, int)`),
/// which never overlaps the one-key space that sqlx's migrator locks in.
const LOCK_CLASS: i32 = 0x436c_6b72; // "Clkr"
const REVOCATIONS_LOCK: i32 = 1;
const SIGNING_KEYS_LOCK: i32 = 2;

/// The listener's reconnection delays: doubling from the first to the last.
const RECONNECT_FIRST: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(10);
/// A listener connection that lasted this long resets the delay.
const RECONNECT_STABLE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

/// The liveness condition on `s`, with `Liveness::now` bound at `$n` and
/// `Liveness::idle_cutoff` at `$n+1`.
fn live_condition(n: usize) -> String {
    format!("s.ended_at IS NULL AND s.expires_at > ${n} AND s.last_seen_at > ${}", n + 1)
}

impl PgStore {
    /// Connects to an existing database at `postgres://...`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?.application_name("cloakroom-auth-api");
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// sqlx's migrator holds a session advisory lock while it runs, so
    /// instances starting together migrate one after another.
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

    /// LISTENs before returning, so an instance that has started misses no
    /// announcement; the returned task keeps listening until dropped.
    pub async fn revocation_announcements(
        &self,
        wake: impl Fn() + Send + 'static,
    ) -> Result<impl Future<Output = ()> + Send + 'static, StoreError> {
        let listener = listen(&self.pool).await?;
        Ok(follow_announcements(self.pool.clone(), listener, wake))
    }

    // ---- users -------------------------------------------------------------

    pub async fn create_user(&self, new: NewUser) -> Result<Option<UserRecord>, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let roles = roles_to_text(&new.roles);
        let inserted = sqlx::query(
            "INSERT INTO users (id, username, password_hash, roles, created_at) VALUES ($1, $2, $3, $4, $5)
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
        username: &Username,
    ) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.username = $1");
        let row: Option<UserRow> =
            sqlx::query_as(&sql).bind(username.as_str()).fetch_optional(&self.pool).await?;
        row.map(UserRecord::try_from).transpose()
    }

    pub async fn find_user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1");
        let row: Option<UserRow> = sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await?;
        row.map(UserRecord::try_from).transpose()
    }

    /// `COLLATE "C"`: byte order, as SQLite sorts, whatever the server's locale.
    pub async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.username COLLATE \"C\"");
        users(sqlx::query_as(&sql).fetch_all(&self.pool).await?)
    }

    pub async fn list_users_with_activity(
        &self,
        live: Liveness,
    ) -> Result<Vec<(UserRecord, u64, Option<i64>)>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, COUNT(s.id) AS session_count, MAX(s.last_seen_at) AS last_seen
             FROM users u LEFT JOIN sessions s ON s.user_id = u.id AND {}
             GROUP BY u.id ORDER BY u.username COLLATE \"C\"",
            live_condition(1)
        );
        let rows: Vec<UserActivityRow> = sqlx::query_as(&sql)
            .bind(live.now)
            .bind(live.idle_cutoff)
            .fetch_all(&self.pool)
            .await?;
        activity(rows)
    }

    pub async fn set_password(&self, user_id: &str, hash: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
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
             VALUES ($1, $2, $3, $3, $4, $5, $6, $7)",
        )
        .bind(&new.id)
        .bind(&new.user_id)
        .bind(new.now)
        .bind(new.expires_at)
        .bind(new.remember)
        .bind(&new.user_agent)
        .bind(&new.ip)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO refresh_tokens (hash, session_id, issued_at) VALUES ($1, $2, $3)")
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
             WHERE r.hash = $1"
        );
        let row: Option<RefreshRow> =
            sqlx::query_as(&sql).bind(hash).fetch_optional(&self.pool).await?;
        row.map(RefreshRecord::try_from).transpose()
    }

    /// Of racing rotations (here or in another instance), the first `UPDATE`
    /// locks the token's row; the others wait for its transaction to end,
    /// then re-evaluate `rotated_at IS NULL` on the committed row (READ
    /// COMMITTED does that for `UPDATE`), match nothing and report
    /// `AlreadyRotated`. If the winner rolls back, one waiter wins instead.
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
            "UPDATE refresh_tokens SET rotated_at = $1, successor_hash = $2, successor_sealed = $3
             WHERE hash = $4 AND rotated_at IS NULL",
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
        let live = sqlx::query(
            "UPDATE sessions SET last_seen_at = GREATEST(last_seen_at, $1) WHERE id = $2 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(session_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if live == 0 {
            return Ok(Rotation::SessionEnded);
        }
        sqlx::query("INSERT INTO refresh_tokens (hash, session_id, issued_at) VALUES ($1, $2, $3)")
            .bind(new)
            .bind(session_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Rotation::Rotated)
    }

    pub async fn touch_session(&self, session_id: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = GREATEST(last_seen_at, $1) WHERE id = $2")
            .bind(now)
            .bind(session_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn find_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.id = $1");
        Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await?)
    }

    pub async fn live_sessions_of(
        &self,
        user_id: &str,
        live: Liveness,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.user_id = $1 AND {}
             ORDER BY s.last_seen_at DESC, s.created_at DESC",
            live_condition(2)
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
        let mut tx = self.pool.begin().await?;
        let ended = sqlx::query(
            "UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE id = $3 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(reason.as_str())
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if ended == 1 {
            publish_revocations(&mut tx, &[id.to_owned()], revoked_until).await?;
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
        let mut tx = self.pool.begin().await?;
        let ids: Vec<String> = sqlx::query_scalar(
            "UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE user_id = $3 AND ended_at IS NULL
             RETURNING id",
        )
        .bind(now)
        .bind(reason.as_str())
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?;
        if !ids.is_empty() {
            publish_revocations(&mut tx, &ids, revoked_until).await?;
        }
        tx.commit().await?;
        Ok(ids.len() as u64)
    }

    pub async fn revocations_after(
        &self,
        cursor: i64,
        now: i64,
        limit: i64,
    ) -> Result<(Vec<(String, i64)>, i64), StoreError> {
        let rows: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT id, session_id, until FROM revocations WHERE id > $1 ORDER BY id LIMIT $2",
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
             WHERE retired_at IS NULL OR retired_at > $1
             ORDER BY retired_at IS NOT NULL, retired_at DESC, created_at DESC, kid COLLATE \"C\""
        );
        Ok(sqlx::query_as(&sql).bind(retired_since).fetch_all(&self.pool).await?)
    }

    /// Instances starting together all try this: the partial unique index
    /// `signing_keys_one_current` admits one current key, a second insert
    /// waits for the first to commit, then conflicts and does nothing.
    pub async fn insert_first_signing_key(&self, key: &NewKey, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, private_key, public_key, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )
        .bind(&key.kid)
        .bind(&key.seed[..])
        .bind(&key.public[..])
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Serialised by an advisory lock: without it, a second rotation's
    /// `UPDATE` would not see the key the first one inserted (it was not in
    /// its snapshot), would retire nothing, and its insert would then break
    /// the one-current-key index. With it, each rotation retires the key the
    /// previous one made current.
    pub async fn rotate_signing_key(&self, key: NewKey, now: i64) -> Result<String, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(LOCK_CLASS)
            .bind(SIGNING_KEYS_LOCK)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE signing_keys SET retired_at = $1, private_key = NULL WHERE retired_at IS NULL",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, private_key, public_key, created_at) VALUES ($1, $2, $3, $4)",
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
            sqlx::query_as("SELECT failures, window_start FROM login_failures WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        Ok(failure_count(row))
    }

    /// Each upsert is atomic (`ON CONFLICT DO UPDATE` locks the row), so
    /// failures counted at once by several instances all count.
    pub async fn record_failure(
        &self,
        keys: &[&str],
        now: i64,
        window: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for key in keys {
            sqlx::query(
                "INSERT INTO login_failures (key, failures, window_start) VALUES ($1, 1, $2)
                 ON CONFLICT (key) DO UPDATE SET
                   failures = CASE WHEN login_failures.window_start + $3 <= excluded.window_start
                                   THEN 1 ELSE login_failures.failures + 1 END,
                   window_start = CASE WHEN login_failures.window_start + $3 <= excluded.window_start
                                   THEN excluded.window_start ELSE login_failures.window_start END",
            )
            .bind(key)
            .bind(now)
            .bind(window)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn clear_failures(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_failures WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- housekeeping -----------------------------------------------------------

    pub async fn prune(&self, now: i64, before: i64, window: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM sessions WHERE (ended_at IS NOT NULL AND ended_at < $1) OR expires_at < $1",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM revocations WHERE until < $1").bind(now).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM login_failures WHERE window_start + $1 < $2")
            .bind(window)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Appends ended sessions to the revocation feed and announces them, inside
/// the caller's transaction (the announcement goes out when it commits).
///
/// Feed readers resume after the highest id they have seen. An identity
/// value is taken when a row is inserted, not when its transaction commits:
/// with two writers, one could take id 7, the other id 8 and commit first,
/// and a reader that saw 8 would skip 7 for good once it committed. Holding
/// this lock from the insert to the commit makes ids commit in the order
/// they are taken. It serialises only session ends, never reads.
async fn publish_revocations(
    tx: &mut PgConnection,
    session_ids: &[String],
    until: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(LOCK_CLASS)
        .bind(REVOCATIONS_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO revocations (session_id, until) SELECT unnest($1::TEXT[]), $2")
        .bind(session_ids)
        .bind(until)
        .execute(&mut *tx)
        .await?;
    sqlx::query("SELECT pg_notify($1, '')").bind(CHANNEL).execute(&mut *tx).await?;
    Ok(())
}

async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Calls `wake` for every announcement; when the connection is lost, logs,
/// reconnects with a growing delay and wakes once more (announcements made
/// while it was away are lost; the pollers' re-read finds their rows). Ends
/// only when the pool is closed, or when the task is dropped.
async fn follow_announcements(pool: PgPool, listener: PgListener, wake: impl Fn()) {
    let mut listener = Some(listener);
    let mut delay = RECONNECT_FIRST;
    loop {
        let mut current = match listener.take() {
            Some(current) => current,
            None => match listen(&pool).await {
                Ok(current) => {
                    tracing::info!("revocation listener reconnected");
                    wake();
                    current
                }
                Err(sqlx::Error::PoolClosed) => return,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?delay, "revocation listener cannot reconnect");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(RECONNECT_MAX);
                    continue;
                }
            },
        };
        let up_since = tokio::time::Instant::now();
        let error = loop {
            match current.try_recv().await {
                Ok(Some(_)) => wake(),
                // sqlx noticed the loss and has already reconnected and
                // listens again; what was announced meanwhile is lost.
                Ok(None) => {
                    tracing::warn!("revocation listener lost its connection; reconnected");
                    wake();
                }
                Err(e) => break e,
            }
        };
        drop(current);
        if matches!(error, sqlx::Error::PoolClosed) {
            return;
        }
        if up_since.elapsed() >= RECONNECT_STABLE {
            delay = RECONNECT_FIRST;
        }
        tracing::warn!(error = %error, retry_in = ?delay, "revocation listener lost its connection");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(RECONNECT_MAX);
    }
}
