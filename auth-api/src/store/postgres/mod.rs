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
//! Only these differences live here; every other query is shared with SQLite
//! (`store::queries`).
//!
//! Connections are plain TCP or a Unix socket: this build has no TLS, so the
//! database must be on loopback or a private network (`sslmode=require`
//! fails to connect rather than going on in clear text).

use std::{str::FromStr, time::Duration};

use sqlx::{
    PgConnection, Postgres,
    postgres::{PgConnectOptions, PgPoolOptions, PgRow},
};

use super::{
    Db, Rotate, StoreError,
    dialect::{Dialect, DialectTx, Topic},
    migrations,
    queries::ROTATED_COLUMNS,
};

mod announcements;

use announcements::{CHANNEL, follow_announcements, listen};

/// Connections per instance. Requests hold one only for a statement or a
/// short transaction (long-polls hold none while they wait); the revocation
/// listener keeps one for itself.
const MAX_CONNECTIONS: u32 = 16;
/// How long a request waits for a connection before it answers 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Advisory locks, in the two-key space (`pg_advisory_xact_lock(int, int)`),
/// which never overlaps the one-key space that sqlx's migrator locks in.
const LOCK_CLASS: i32 = 0x436c_6b72; // "Clkr"
const REVOCATIONS_LOCK: i32 = 1;
const SIGNING_KEYS_LOCK: i32 = 2;
const USERS_LOCK: i32 = 3;

impl Dialect for Postgres {
    /// The announcement listener is started by `revocation_announcements`.
    type Tasks = ();
    const MIGRATIONS: &'static [migrations::Embedded] = migrations::POSTGRES;
    const BYTE_ORDER: &'static str = " COLLATE \"C\"";
    // In UTC, so that connections with other `TimeZone` settings agree.
    const INCARNATION: &'static str =
        "to_char(pg_postmaster_start_time() AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISSUS')";
}

impl DialectTx for PgConnection {
    /// Appends ended sessions to the feed and announces them (the
    /// announcement goes out when the transaction commits).
    ///
    /// Feed readers resume after the highest id they have seen. An identity
    /// value is taken when a row is inserted, not when its transaction
    /// commits: with two writers, one could take id 7, the other id 8 and
    /// commit first, and a reader that saw 8 would skip 7 for good once it
    /// committed. Holding this lock from the insert to the commit makes ids
    /// commit in the order they are taken. It serialises only session ends,
    /// never reads.
    async fn publish_revocations(
        &mut self,
        session_ids: &[String],
        until: i64,
        stale_before: Option<i64>,
    ) -> Result<(), sqlx::Error> {
        advisory_lock(self, REVOCATIONS_LOCK).await?;
        sqlx::query(
            "INSERT INTO revocations (session_id, until, stale_before)
             SELECT unnest($1::TEXT[]), $2, $3",
        )
        .bind(session_ids)
        .bind(until)
        .bind(stale_before)
        .execute(&mut *self)
        .await?;
        self.announce_feed().await
    }

    async fn announce_feed(&mut self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_notify($1, '')").bind(CHANNEL).execute(&mut *self).await?;
        Ok(())
    }

    async fn lock(&mut self, topic: Topic) -> Result<(), sqlx::Error> {
        let key = match topic {
            Topic::SigningKeys => SIGNING_KEYS_LOCK,
            Topic::Users => USERS_LOCK,
        };
        advisory_lock(self, key).await
    }
}

/// Takes lock `key` of our class until the transaction ends.
async fn advisory_lock(tx: &mut PgConnection, key: i32) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(LOCK_CLASS)
        .bind(key)
        .execute(tx)
        .await?;
    Ok(())
}

impl Db<Postgres> {
    /// Connects to an existing database at `postgres://...`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?.application_name("cloakroom-auth-api");
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(Self { reads: pool.clone(), writes: pool, tasks: () })
    }

    /// LISTENs before returning, so an instance that has started misses no
    /// announcement; the returned task keeps listening until dropped.
    pub async fn revocation_announcements(
        &self,
        wake: impl Fn() + Send + 'static,
    ) -> Result<impl Future<Output = ()> + Send + 'static, StoreError> {
        let listener = listen(&self.writes).await?;
        Ok(follow_announcements(self.writes.clone(), listener, wake))
    }

    /// One statement, so one round trip and no transaction around it. Of
    /// racing rotations (here or in another instance), the first `UPDATE`
    /// locks the session's row; the others wait for it to commit, then
    /// re-evaluate their conditions on the committed row (READ COMMITTED
    /// does that for `UPDATE`), match nothing and return `None`.
    pub async fn rotate_refresh(&self, rotation: Rotate) -> Result<Option<PgRow>, StoreError> {
        let sql = format!(
            "UPDATE sessions SET refresh_generation = refresh_generation + 1,
                 refresh_previous_hash = refresh_hash, refresh_hash = $1, refresh_sealed = $2,
                 refresh_family = COALESCE(refresh_family, $3), refresh_rotated_at = $4,
                 last_seen_at = GREATEST(last_seen_at, $4)
             WHERE id = $5 AND refresh_generation = $6 AND refresh_hash = $7
               AND ended_at IS NULL AND expires_at > $4
               AND last_seen_at > CASE WHEN remember THEN $8 ELSE $9 END
               AND NOT EXISTS (SELECT 1 FROM users WHERE users.id = sessions.user_id AND users.disabled_at IS NOT NULL)
             RETURNING {ROTATED_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(&rotation.hash)
            .bind(&rotation.sealed)
            .bind(&rotation.family)
            .bind(rotation.live.now)
            .bind(&rotation.session_id)
            .bind(rotation.generation)
            .bind(&rotation.current)
            .bind(rotation.live.remember_idle_cutoff)
            .bind(rotation.live.idle_cutoff)
            .fetch_optional(&self.writes)
            .await?;
        Ok(row)
    }
}
