//! Every query the two databases share: one SQL text (`$N` placeholders,
//! which sqlx's SQLite driver reads too), one set of binds, one row decoder.
//! Each method's body is written once and compiled once per database by
//! `on_db!`, each time with that database's concrete types. Writes go to
//! `writes`, reads to `reads` (the same pool on PostgreSQL).
//!
//! One trap of sharing SQL text: a `$N` left without a bind is NULL to
//! SQLite but an error to PostgreSQL, so a miscounted bind shows only in the
//! PostgreSQL run of the contract tests (CI always runs it; `just test` does
//! when PostgreSQL is installed).

use shared::{AuditEvent, Revocation};
use sqlx::{Row, migrate::Migrator};

use super::{
    Store, StoreError,
    dialect::{DialectTx as _, Topic},
    migrations::Source,
    records::{
        EventFilter, FailureCount, FirstRefresh, KeyRetirement, Liveness, NewEvent, NewKey,
        NewSession, NewUser, RefreshRecord, RefreshState, Rotate, SessionRecord, StoredKey,
        UserActivity, UserChange, UserNow, UserRecord, amr_from_text, amr_to_text, roles_from_text,
        roles_to_text,
    },
};
use crate::domain::{EndReason, Username};

/// Runs `$body` with `$db` bound to the store's `Db`, once per backend: the
/// body is type-checked against SQLite's driver in one arm and PostgreSQL's
/// in the other, so it needs no trait bounds and no dialect-specific copy.
macro_rules! on_db {
    ($store:expr, |$db:ident| $body:expr) => {
        match &$store.0 {
            $crate::store::Backend::Sqlite($db) => $body,
            $crate::store::Backend::Postgres($db) => $body,
        }
    };
}

const USER_COLUMNS: &str = "u.id, u.username, u.password_hash, u.roles, u.created_at, u.disabled_at, u.password_change_required";
const SESSION_COLUMNS: &str = "s.id, s.user_id, s.created_at, s.last_seen_at, s.expires_at, s.remember, s.user_agent, s.ip, s.ended_at, COALESCE(s.auth_time, s.created_at) AS auth_time, s.amr";
/// After `SESSION_COLUMNS`: a session's refresh-token columns and its user,
/// whose `id` is `s.user_id` and whose `created_at` is `user_created_at`.
const REFRESH_COLUMNS: &str = "u.username, u.password_hash, u.roles, u.created_at AS user_created_at, u.disabled_at, u.password_change_required, s.refresh_generation, s.refresh_family, s.refresh_hash, s.refresh_previous_hash, s.refresh_sealed, s.refresh_rotated_at";
/// What a rotation returns of the session it updated (`RETURNING`, where
/// only the updated table may be named: the user's columns come from
/// subqueries), named as `SESSION_COLUMNS` and `REFRESH_COLUMNS` name them.
pub(super) const ROTATED_COLUMNS: &str = "id, user_id, created_at, last_seen_at, expires_at, remember, user_agent, ip, ended_at, COALESCE(auth_time, created_at) AS auth_time, amr,
    refresh_generation, refresh_family, refresh_hash, refresh_previous_hash, refresh_sealed, refresh_rotated_at,
    (SELECT username FROM users WHERE users.id = sessions.user_id) AS username,
    (SELECT password_hash FROM users WHERE users.id = sessions.user_id) AS password_hash,
    (SELECT roles FROM users WHERE users.id = sessions.user_id) AS roles,
    (SELECT created_at FROM users WHERE users.id = sessions.user_id) AS user_created_at,
    (SELECT disabled_at FROM users WHERE users.id = sessions.user_id) AS disabled_at,
    (SELECT password_change_required FROM users WHERE users.id = sessions.user_id) AS password_change_required";
const KEY_COLUMNS: &str = "kid, private_key, public_key, created_at, retired_at";
const EVENT_COLUMNS: &str =
    "id, at, kind, user_id, username, actor_id, actor_name, session_id, ip, user_agent, detail";

/// The liveness rule of `policy::Policy` in SQL, on sessions `s`, with the
/// `Liveness` bound by `bind_liveness` from `$n`.
fn live(n: usize) -> String {
    format!(
        "s.ended_at IS NULL AND s.expires_at > ${n}
         AND s.last_seen_at > CASE WHEN s.remember THEN ${} ELSE ${} END",
        n + 2,
        n + 1
    )
}

/// The condition (values bound from `$3`) on a user's sessions but `keep`.
fn sessions_of<'a>(user_id: &'a str, keep: Option<&'a str>) -> (&'static str, Vec<&'a str>) {
    match keep {
        None => ("user_id = $3", vec![user_id]),
        Some(keep) => ("user_id = $3 AND id <> $4", vec![user_id, keep]),
    }
}

/// Binds a `Liveness` in the order `live` expects.
macro_rules! bind_liveness {
    ($query:expr, $live:expr) => {
        $query.bind($live.now).bind($live.idle_cutoff).bind($live.remember_idle_cutoff)
    };
}

/// A `UserRecord` from the `USER_COLUMNS` of a row (`$id` and `$created_at`
/// name the columns that hold those two).
macro_rules! user {
    ($row:expr, $id:literal, $created_at:literal) => {
        UserRecord {
            id: $row.try_get($id)?,
            username: $row.try_get("username")?,
            password_hash: $row.try_get("password_hash")?,
            roles: roles_from_text(&$row.try_get::<String, _>("roles")?)?,
            created_at: $row.try_get($created_at)?,
            disabled: $row.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
            password_change_required: $row.try_get("password_change_required")?,
        }
    };
}

/// A `SessionRecord` from the `SESSION_COLUMNS` of a row.
macro_rules! session {
    ($row:expr) => {
        SessionRecord {
            id: $row.try_get("id")?,
            user_id: $row.try_get("user_id")?,
            created_at: $row.try_get("created_at")?,
            last_seen_at: $row.try_get("last_seen_at")?,
            expires_at: $row.try_get("expires_at")?,
            remember: $row.try_get("remember")?,
            user_agent: $row.try_get("user_agent")?,
            ip: $row.try_get("ip")?,
            ended_at: $row.try_get("ended_at")?,
            auth_time: $row.try_get("auth_time")?,
            amr: amr_from_text(&$row.try_get::<String, _>("amr")?),
        }
    };
}

/// A `RefreshRecord` from the `SESSION_COLUMNS` and `REFRESH_COLUMNS` of a row.
macro_rules! refresh_record {
    ($row:expr) => {
        RefreshRecord {
            session: session!($row),
            user: user!($row, "user_id", "user_created_at"),
            refresh: RefreshState {
                generation: $row.try_get("refresh_generation")?,
                family: $row.try_get("refresh_family")?,
                current: $row.try_get("refresh_hash")?,
                previous: $row.try_get("refresh_previous_hash")?,
                sealed: $row.try_get("refresh_sealed")?,
                rotated_at: $row.try_get("refresh_rotated_at")?,
            },
        }
    };
}

/// Inside the open transaction `$tx`: ends the open sessions where
/// `$condition` holds for `$values` (bound from `$3`), publishes them on the
/// revocation feed, and evaluates to how many ended.
macro_rules! end_in {
    ($tx:ident, $condition:expr, $values:expr, $reason:expr, $now:expr, $revoked_until:expr) => {{
        let sql = format!(
            "UPDATE sessions SET ended_at = $1, end_reason = $2
             WHERE {} AND ended_at IS NULL RETURNING id",
            $condition
        );
        let mut query = sqlx::query(&sql).bind($now).bind($reason.as_str());
        for value in $values {
            query = query.bind(*value);
        }
        let rows = query.fetch_all(&mut *$tx).await?;
        let ids = rows.iter().map(|row| row.try_get(0)).collect::<Result<Vec<String>, _>>()?;
        if !ids.is_empty() {
            $tx.publish_revocations(&ids, $revoked_until, None).await?;
        }
        ids.len() as u64
    }};
}

/// Inside the open transaction `$tx`, holding `Topic::Users` from then on:
/// returns early with `NotFound` if user `$user_id` does not exist, or with
/// `LastAdmin` if the change (which `$removes` an administrator when true)
/// would leave no active administrator.
macro_rules! unless_last_admin {
    ($tx:ident, $user_id:expr, $removes:expr) => {{
        $tx.lock(Topic::Users).await?;
        // Active: not disabled and not on a temporary password (who may do
        // nothing until they change it, and may never, if it was lost).
        let sql = "SELECT roles, disabled_at, password_change_required FROM users WHERE id = $1";
        let row: Option<(String, Option<i64>, bool)> =
            sqlx::query_as(sql).bind($user_id).fetch_optional(&mut *$tx).await?;
        let Some((roles, disabled_at, temporary)) = row else {
            return Ok(UserChange::NotFound);
        };
        let admin = disabled_at.is_none()
            && !temporary
            && roles_from_text(&roles)?.contains(&shared::Role::Admin);
        if admin && $removes {
            let sql = "SELECT COUNT(*) FROM users WHERE id <> $1 AND disabled_at IS NULL
                       AND password_change_required = $2 AND (',' || roles || ',') LIKE '%,admin,%'";
            let others: i64 = sqlx::query_scalar(sql)
                .bind($user_id)
                .bind(false)
                .fetch_one(&mut *$tx)
                .await?;
            if others == 0 {
                return Ok(UserChange::LastAdmin);
            }
        }
    }};
}

/// Writes audit event `$event` through `$executor` (a pool or a transaction).
macro_rules! insert_event {
    ($executor:expr, $event:expr) => {{
        let event: &NewEvent = $event;
        sqlx::query(
            "INSERT INTO audit_events
               (at, kind, user_id, username, actor_id, actor_name, session_id, ip, user_agent, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(event.at)
        .bind(event.kind)
        .bind(&event.user_id)
        .bind(&event.username)
        .bind(&event.actor_id)
        .bind(&event.actor_name)
        .bind(&event.session_id)
        .bind(&event.ip)
        .bind(&event.user_agent)
        .bind(&event.detail)
        .execute($executor)
        .await?
        .rows_affected()
    }};
}

// The second-factor queries (`second_factors`, `passkeys`) are written the same way.
pub(super) use {end_in, insert_event, on_db};

// The queries a sign-in or a refresh makes are spans of their own
// (`store.…`): a slow grant's trace shows whether the database was the wait.
impl Store {
    /// Creates or upgrades the schema. On PostgreSQL, instances starting
    /// together migrate one after another (sqlx's migrator takes an advisory
    /// lock first); SQLite has one instance.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        on_db!(self, |db| {
            let migrations = Source(db.migrations());
            Migrator::new(migrations).await?.run(&db.writes).await?;
            Ok(())
        })
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        on_db!(self, |db| sqlx::query("SELECT 1").execute(&db.reads).await?.rows_affected());
        Ok(())
    }

    /// Live sessions (by `live`), for the `sessions_active` gauge.
    pub async fn count_live_sessions(&self, at: Liveness) -> Result<i64, StoreError> {
        let sql = format!("SELECT COUNT(*) FROM sessions s WHERE {}", live(1));
        let count: i64 = on_db!(self, |db| {
            bind_liveness!(sqlx::query_scalar(&sql), at).fetch_one(&db.reads).await?
        });
        Ok(count)
    }

    /// Each pool's name, size and idle connections now (SQLite: `reads` and
    /// `writes`; PostgreSQL: one pool serves both, `shared`).
    pub fn pool_usage(&self) -> Vec<(&'static str, u32, usize)> {
        match &self.0 {
            super::Backend::Sqlite(db) => vec![
                ("reads", db.reads.size(), db.reads.num_idle()),
                ("writes", db.writes.size(), db.writes.num_idle()),
            ],
            super::Backend::Postgres(db) => vec![("shared", db.reads.size(), db.reads.num_idle())],
        }
    }

    pub async fn close(&self) {
        on_db!(self, |db| {
            db.reads.close().await;
            db.writes.close().await;
        })
    }

    // ---- users -------------------------------------------------------------

    /// `None` when the username is taken.
    pub async fn create_user(&self, new: NewUser) -> Result<Option<UserRecord>, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let sql = "INSERT INTO users (id, username, password_hash, roles, created_at, password_change_required)
                   VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (username) DO NOTHING";
        let inserted = on_db!(self, |db| sqlx::query(sql)
            .bind(&id)
            .bind(new.username.as_str())
            .bind(&new.password_hash)
            .bind(roles_to_text(&new.roles))
            .bind(new.now)
            .bind(new.password_change_required)
            .execute(&db.writes)
            .await?
            .rows_affected());
        Ok((inserted == 1).then(|| UserRecord {
            id,
            username: new.username.as_str().to_owned(),
            password_hash: new.password_hash,
            roles: new.roles,
            created_at: new.now,
            disabled: false,
            password_change_required: new.password_change_required,
        }))
    }

    #[tracing::instrument(level = "debug", name = "store.find_user_by_name", skip_all)]
    pub async fn find_user_by_name(
        &self,
        name: &Username,
    ) -> Result<Option<UserRecord>, StoreError> {
        self.find_user("username", name.as_str()).await
    }

    pub async fn find_user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        self.find_user("id", id).await
    }

    async fn find_user(&self, column: &str, value: &str) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.{column} = $1");
        on_db!(self, |db| match sqlx::query(&sql).bind(value).fetch_optional(&db.reads).await? {
            Some(row) => Ok(Some(user!(row, "id", "created_at"))),
            None => Ok(None),
        })
    }

    /// Every user with the count and latest activity of their live sessions
    /// and whether they have a second factor, by username (byte order).
    pub async fn list_users_with_activity(
        &self,
        live_at: Liveness,
    ) -> Result<Vec<UserActivity>, StoreError> {
        on_db!(self, |db| {
            let sql = format!(
                "SELECT {USER_COLUMNS}, COUNT(s.id) AS session_count, MAX(s.last_seen_at) AS last_seen,
                        (SELECT COUNT(*) FROM totp_factors t
                         WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL)
                        + (SELECT COUNT(*) FROM passkeys p WHERE p.user_id = u.id) AS factors
                 FROM users u LEFT JOIN sessions s ON s.user_id = u.id AND {}
                 GROUP BY u.id ORDER BY u.username{}",
                live(1),
                db.byte_order()
            );
            let rows = bind_liveness!(sqlx::query(&sql), live_at).fetch_all(&db.reads).await?;
            let mut users = Vec::with_capacity(rows.len());
            for row in rows {
                let count: i64 = row.try_get("session_count")?;
                users.push(UserActivity {
                    user: user!(row, "id", "created_at"),
                    session_count: count.max(0) as u64,
                    last_seen_at: row.try_get("last_seen")?,
                    second_factor: row.try_get::<i64, _>("factors")? > 0,
                });
            }
            Ok(users)
        })
    }

    /// Every user, by username (byte order).
    pub async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        on_db!(self, |db| {
            let sql = format!(
                "SELECT {USER_COLUMNS} FROM users u ORDER BY u.username{}",
                db.byte_order()
            );
            let rows = sqlx::query(&sql).fetch_all(&db.reads).await?;
            rows.iter().map(|row| Ok(user!(row, "id", "created_at"))).collect()
        })
    }

    /// Sets a user's roles and makes their live sessions' tokens stale on the
    /// revocation feed (frontends refresh them, so the change is seen within
    /// the feed's latency). Refused if it would demote the last active admin.
    pub async fn set_roles(
        &self,
        user_id: &str,
        roles: &[shared::Role],
        live_at: Liveness,
        revoked_until: i64,
    ) -> Result<UserChange, StoreError> {
        let demotes = !roles.contains(&shared::Role::Admin);
        on_db!(self, |db| {
            let mut tx = db.writes.begin().await?;
            unless_last_admin!(tx, user_id, demotes);
            sqlx::query("UPDATE users SET roles = $1 WHERE id = $2")
                .bind(roles_to_text(roles))
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            let sql = format!("SELECT s.id FROM sessions s WHERE s.user_id = $1 AND {}", live(2));
            let ids: Vec<String> = bind_liveness!(sqlx::query_scalar(&sql).bind(user_id), live_at)
                .fetch_all(&mut *tx)
                .await?;
            if !ids.is_empty() {
                tx.publish_revocations(&ids, revoked_until, Some(live_at.now)).await?;
            }
            tx.commit().await?;
            Ok(UserChange::Done(ids.len() as u64))
        })
    }

    /// Disables a user (ending all their sessions at once) or enables them
    /// again. Refused if it would disable the last active admin.
    pub async fn set_disabled(
        &self,
        user_id: &str,
        disabled: bool,
        now: i64,
        revoked_until: i64,
    ) -> Result<UserChange, StoreError> {
        on_db!(self, |db| {
            let mut tx = db.writes.begin().await?;
            unless_last_admin!(tx, user_id, disabled);
            // Disabling twice keeps the first time.
            sqlx::query(
                "UPDATE users SET disabled_at = CASE WHEN $1 THEN COALESCE(disabled_at, $2) END
                 WHERE id = $3",
            )
            .bind(disabled)
            .bind(now)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
            let ended = if disabled {
                end_in!(tx, "user_id = $3", &[user_id], EndReason::Disabled, now, revoked_until)
            } else {
                0
            };
            tx.commit().await?;
            Ok(UserChange::Done(ended))
        })
    }

    /// Deletes a user, ending their sessions first (published on the feed;
    /// the rows go with the user). Their audit events stay. Refused for the
    /// last active admin.
    pub async fn delete_user(
        &self,
        user_id: &str,
        now: i64,
        revoked_until: i64,
    ) -> Result<UserChange, StoreError> {
        on_db!(self, |db| {
            let mut tx = db.writes.begin().await?;
            unless_last_admin!(tx, user_id, true);
            // The row first (disabling it, as it goes anyway): a sign-in
            // racing this either committed its session before, and it is
            // ended below, or finds the user disabled (see `create_session`).
            sqlx::query("UPDATE users SET disabled_at = COALESCE(disabled_at, $1) WHERE id = $2")
                .bind(now)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            let ended =
                end_in!(tx, "user_id = $3", &[user_id], EndReason::Deleted, now, revoked_until);
            sqlx::query("DELETE FROM users WHERE id = $1").bind(user_id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(UserChange::Done(ended))
        })
    }

    // ---- sessions and refresh tokens ------------------------------------------

    /// A new session with its first refresh token, in one transaction, only
    /// if the user still has `password_hash` (the one just verified) and is
    /// not disabled: their roles as of then, or `None`. A sign-in verifies the password for
    /// a while (argon2, maybe a queue); a password change or a disable that
    /// commits meanwhile must not be outlived by the session it allowed.
    /// The first statement updates the user's row to itself: on PostgreSQL
    /// that locks it, so a concurrent change (which updates the row first
    /// too) either commits before this check, or waits and then sees, and
    /// ends, this session; SQLite has one writer.
    /// `signed_in` (the audit event) is written in the same transaction: one
    /// commit for the whole sign-in, and never a session without its event.
    #[tracing::instrument(level = "debug", name = "store.create_session", skip_all)]
    pub async fn create_session(
        &self,
        new: &NewSession,
        refresh: FirstRefresh<'_>,
        password_hash: &str,
        signed_in: &NewEvent,
    ) -> Result<Option<UserNow>, StoreError> {
        on_db!(self, |db| {
            let mut tx = db.writes.begin().await?;
            // What the token will say comes from here, not from the read
            // before the password was verified: a role changed meanwhile
            // published nothing for a session that did not exist yet.
            let row: Option<(String, bool)> = sqlx::query_as(
                "UPDATE users SET password_hash = password_hash
                 WHERE id = $1 AND password_hash = $2 AND disabled_at IS NULL
                 RETURNING roles, password_change_required",
            )
            .bind(&new.user_id)
            .bind(password_hash)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((roles, password_change_required)) = row else {
                return Ok(None);
            };
            // The user's row is held from here (above), so the count stays
            // true until this commits. Only live sessions count (idled-out
            // and expired ones are dead already, whatever their rows say).
            let count =
                format!("SELECT COUNT(*) FROM sessions s WHERE s.user_id = $1 AND {}", live(2));
            let live_now: i64 =
                bind_liveness!(sqlx::query_scalar(&count).bind(&new.user_id), new.live)
                    .fetch_one(&mut *tx)
                    .await?;
            let excess = live_now + 1 - i64::from(new.live_limit.max(1));
            sqlx::query(
                "INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at, remember, user_agent, ip, auth_time, amr,
                                       refresh_generation, refresh_family, refresh_hash)
                 VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $3, $8, 0, $9, $10)",
            )
            .bind(&new.id)
            .bind(&new.user_id)
            .bind(new.now)
            .bind(new.expires_at)
            .bind(new.remember)
            .bind(&new.user_agent)
            .bind(&new.ip)
            .bind(amr_to_text(&new.amr))
            .bind(refresh.family)
            .bind(refresh.hash)
            .execute(&mut *tx)
            .await?;
            insert_event!(&mut *tx, signed_in);
            // Last, as the feed's lock comes last (`dialect`).
            let superseded = if excess > 0 {
                // `excess` is ours, not input, so it is formatted into the
                // SQL. The new session, the newest, is never among the oldest.
                let sql = format!(
                    "UPDATE sessions SET ended_at = $1, end_reason = $2
                     WHERE id IN (SELECT s.id FROM sessions s WHERE s.user_id = $3 AND {}
                                  AND s.id <> $4 ORDER BY s.created_at, s.id LIMIT {excess})
                     RETURNING id",
                    live(5)
                );
                let query = sqlx::query(&sql)
                    .bind(new.now)
                    .bind(EndReason::Superseded.as_str())
                    .bind(&new.user_id)
                    .bind(&new.id);
                let rows = bind_liveness!(query, new.live).fetch_all(&mut *tx).await?;
                let ids =
                    rows.iter().map(|row| row.try_get(0)).collect::<Result<Vec<String>, _>>()?;
                tx.publish_revocations(&ids, new.revoked_until, None).await?;
                ids
            } else {
                Vec::new()
            };
            tx.commit().await?;
            let roles = roles_from_text(&roles)?;
            Ok(Some(UserNow { roles, password_change_required, superseded }))
        })
    }

    /// Session `id` with its user and refresh-token columns.
    #[tracing::instrument(level = "debug", name = "store.find_refresh", skip_all)]
    pub async fn find_refresh(&self, id: &str) -> Result<Option<RefreshRecord>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS}, {REFRESH_COLUMNS}
             FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id = $1"
        );
        on_db!(self, |db| {
            let Some(row) = sqlx::query(&sql).bind(id).fetch_optional(&db.reads).await? else {
                return Ok(None);
            };
            Ok(Some(refresh_record!(row)))
        })
    }

    /// Replaces the session's current refresh token by its successor, if
    /// `rotation.current` is still its current token (at that generation),
    /// the session live and its user enabled: the session and user as they
    /// are now, or `None` (the token is not current, or the session is not
    /// live: read it to tell which). One statement either way (SQLite:
    /// through group commit; `sqlite/`, `postgres/` say how), so the common
    /// grant costs one database operation. Of any number of racing rotations
    /// of one generation, in this process or in others on the same
    /// database, exactly one gets `Some`.
    #[tracing::instrument(level = "debug", name = "store.rotate_refresh", skip_all)]
    pub async fn rotate_refresh(
        &self,
        rotation: Rotate,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        on_db!(self, |db| {
            let Some(row) = db.rotate_refresh(rotation).await? else {
                return Ok(None);
            };
            Ok(Some(refresh_record!(row)))
        })
    }

    /// The session a token issued before generations (migration 0008)
    /// belongs to, found by the token's hash: such tokens do not name it.
    #[tracing::instrument(level = "debug", name = "store.legacy_refresh_session", skip_all)]
    pub async fn legacy_refresh_session(&self, hash: &[u8]) -> Result<Option<String>, StoreError> {
        let sql = "SELECT session_id FROM refresh_tokens WHERE hash = $1";
        on_db!(self, |db| {
            Ok(sqlx::query_scalar(sql).bind(hash).fetch_optional(&db.reads).await?)
        })
    }

    /// The user proved their password again in this live session: `auth_time`
    /// becomes `now`. `false` if the session has ended.
    pub async fn reauthenticate(&self, session_id: &str, now: i64) -> Result<bool, StoreError> {
        let sql = "UPDATE sessions SET auth_time = $1 WHERE id = $2 AND ended_at IS NULL";
        let updated = on_db!(self, |db| sqlx::query(sql)
            .bind(now)
            .bind(session_id)
            .execute(&db.writes)
            .await?
            .rows_affected());
        Ok(updated == 1)
    }

    /// Records use of a session; `last_seen_at` never moves backwards.
    #[tracing::instrument(level = "debug", name = "store.touch_session", skip_all)]
    pub async fn touch_session(&self, session_id: &str, now: i64) -> Result<(), StoreError> {
        let sql = "UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1";
        on_db!(self, |db| sqlx::query(sql)
            .bind(now)
            .bind(session_id)
            .execute(&db.writes)
            .await?
            .rows_affected());
        Ok(())
    }

    pub async fn find_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.sessions("s.id = $1", id, None).await?.pop())
    }

    /// A user's live sessions, most recently used first.
    pub async fn live_sessions_of(
        &self,
        user_id: &str,
        live_at: Liveness,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        self.sessions(&format!("s.user_id = $1 AND {}", live(2)), user_id, Some(live_at)).await
    }

    /// Sessions where `condition` holds for `value` at `$1` (and `live_at`
    /// from `$2`), most recently used first.
    async fn sessions(
        &self,
        condition: &str,
        value: &str,
        live_at: Option<Liveness>,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s WHERE {condition}
             ORDER BY s.last_seen_at DESC, s.created_at DESC"
        );
        on_db!(self, |db| {
            let mut query = sqlx::query(&sql).bind(value);
            if let Some(live_at) = live_at {
                query = bind_liveness!(query, live_at);
            }
            let rows = query.fetch_all(&db.reads).await?;
            rows.iter().map(|row| Ok(session!(row))).collect()
        })
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
        let ended = self.end_sessions("id = $3", &[id], reason, now, revoked_until).await?;
        Ok(ended == 1)
    }

    /// Ends every open session of a user, except `keep` if given, and
    /// publishes each on the revocation feed. Returns how many ended.
    pub async fn end_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&str>,
        reason: EndReason,
        now: i64,
        revoked_until: i64,
    ) -> Result<u64, StoreError> {
        let (condition, values) = sessions_of(user_id, keep);
        self.end_sessions(condition, &values, reason, now, revoked_until).await
    }

    /// Ends the open sessions where `condition` holds for `values` (from
    /// `$3`) and publishes them, in one transaction.
    async fn end_sessions(
        &self,
        condition: &str,
        values: &[&str],
        reason: EndReason,
        now: i64,
        revoked_until: i64,
    ) -> Result<u64, StoreError> {
        on_db!(self, |db| {
            let mut tx = db.writes.begin().await?;
            let ended = end_in!(tx, condition, values, reason, now, revoked_until);
            tx.commit().await?;
            Ok(ended)
        })
    }

    /// Sets a user's password and ends their other sessions (all but
    /// `keep`), in one transaction: a new password locks out whoever knew
    /// the old one, and never half-way. Returns how many sessions ended.
    pub async fn change_password(
        &self,
        user_id: &str,
        hash: &str,
        keep: Option<&str>,
        now: i64,
        revoked_until: i64,
    ) -> Result<u64, StoreError> {
        let (condition, values) = sessions_of(user_id, keep);
        on_db!(self, |db| {
            let mut tx = db.writes.begin().await?;
            sqlx::query(
                "UPDATE users SET password_hash = $1, password_change_required = $3 WHERE id = $2",
            )
            .bind(hash)
            .bind(user_id)
            .bind(false)
            .execute(&mut *tx)
            .await?;
            // Typing the password again is proof of it, like a sign-in.
            if let Some(keep) = keep {
                sqlx::query("UPDATE sessions SET auth_time = $1 WHERE id = $2")
                    .bind(now)
                    .bind(keep)
                    .execute(&mut *tx)
                    .await?;
            }
            let ended =
                end_in!(tx, condition, &values, EndReason::PasswordChange, now, revoked_until);
            // The kept session's tokens (a temporary-password mark, an old
            // `auth_time`) are stale on every frontend. Published last: the
            // feed's lock comes after every row lock (see `dialect`).
            if let Some(keep) = keep {
                tx.publish_revocations(&[keep.to_owned()], revoked_until, Some(now)).await?;
            }
            tx.commit().await?;
            Ok(ended)
        })
    }

    /// Revocations after `cursor` that still matter at `now`, oldest first,
    /// and the cursor to resume from. Ids become visible in order (see
    /// `publish_revocations`), so a reader that follows the cursor sees every
    /// revocation exactly once, whichever process wrote it.
    ///
    /// A cursor beyond the feed's head was handed out by another history of
    /// this database (a restored backup has the ids of its own time): then
    /// the returned cursor is the head, behind the reader's, which tells it
    /// to start over. `prune` always keeps the newest row, so the head is
    /// never lost to pruning and this cannot happen in one history.
    pub async fn revocations_after(
        &self,
        cursor: i64,
        now: i64,
        limit: i64,
    ) -> Result<(Vec<Revocation>, i64), StoreError> {
        let sql = "SELECT id, session_id, until, stale_before FROM revocations
                   WHERE id > $1 ORDER BY id LIMIT $2";
        let (mut next, mut live) = (cursor, Vec::new());
        on_db!(self, |db| {
            let rows = sqlx::query(sql).bind(cursor).bind(limit).fetch_all(&db.reads).await?;
            for row in &rows {
                next = row.try_get("id")?;
                let until: i64 = row.try_get("until")?;
                if until > now {
                    live.push(Revocation {
                        sid: row.try_get("session_id")?,
                        until,
                        stale_before: row.try_get("stale_before")?,
                    });
                }
            }
            if rows.is_empty() && cursor > 0 {
                let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM revocations")
                    .fetch_one(&db.reads)
                    .await?;
                next = next.min(head);
            }
        });
        Ok((live, next))
    }

    /// The feed's epoch (see `renew_feed_epoch`; on PostgreSQL with the
    /// server's start time, `Dialect::INCARNATION`) and the kids of the
    /// signing keys cut off (`retire_signing_key`) after `removed_since`,
    /// sorted.
    pub async fn feed_state(
        &self,
        removed_since: i64,
    ) -> Result<(String, Vec<String>), StoreError> {
        on_db!(self, |db| {
            let sql = format!(
                "SELECT f.epoch || {} AS epoch, k.kid FROM feed_epoch f
                 LEFT JOIN signing_keys k ON k.removed_at > $1
                 ORDER BY k.kid{}",
                db.incarnation(),
                db.byte_order()
            );
            let rows: Vec<(String, Option<String>)> =
                sqlx::query_as(&sql).bind(removed_since).fetch_all(&db.reads).await?;
            let epoch = rows
                .first()
                .map(|(epoch, _)| epoch.clone())
                .ok_or_else(|| StoreError::Corrupt("the feed has no epoch".into()))?;
            Ok((epoch, rows.into_iter().filter_map(|(_, kid)| kid).collect()))
        })
    }

    /// Gives the feed a new epoch: every reader starts over (one full reload
    /// of the revocations in force). Each auth-api does this as it starts,
    /// because a restored database keeps the epoch of its backup.
    pub async fn renew_feed_epoch(&self, epoch: &str) -> Result<(), StoreError> {
        on_db!(self, |db| sqlx::query("UPDATE feed_epoch SET epoch = $1 WHERE id = 1")
            .bind(epoch)
            .execute(&db.writes)
            .await?
            .rows_affected());
        Ok(())
    }

    // ---- signing keys ----------------------------------------------------------

    /// Keys that are current or retired after `retired_since` (their tokens may
    /// still be live), and not cut off: the current key first, then the most
    /// recently retired.
    pub async fn signing_keys(&self, retired_since: i64) -> Result<Vec<StoredKey>, StoreError> {
        on_db!(self, |db| {
            let sql = format!(
                "SELECT {KEY_COLUMNS} FROM signing_keys
                 WHERE removed_at IS NULL AND (retired_at IS NULL OR retired_at > $1)
                 ORDER BY retired_at IS NOT NULL, retired_at DESC, created_at DESC, kid{}",
                db.byte_order()
            );
            let rows = sqlx::query(&sql).bind(retired_since).fetch_all(&db.reads).await?;
            rows.iter()
                .map(|row| {
                    Ok(StoredKey {
                        kid: row.try_get("kid")?,
                        seed: row.try_get("private_key")?,
                        public: row.try_get("public_key")?,
                        created_at: row.try_get("created_at")?,
                        retired_at: row.try_get("retired_at")?,
                    })
                })
                .collect()
        })
    }

    /// Every key the database holds, newest first: kid, created, retired
    /// (rotated out) and cut off (`retire_signing_key`), for `keys list`.
    pub async fn all_signing_keys(
        &self,
    ) -> Result<Vec<(String, i64, Option<i64>, Option<i64>)>, StoreError> {
        let sql = "SELECT kid, created_at, retired_at, removed_at FROM signing_keys
                   ORDER BY created_at DESC, kid";
        Ok(on_db!(self, |db| sqlx::query_as(sql).fetch_all(&db.reads).await?))
    }

    /// Adds `key` as the current key only if there is none (first start).
    /// Instances starting together all try this. On SQLite, one writer at a
    /// time: the `NOT EXISTS` and the insert cannot interleave with another
    /// writer's. On PostgreSQL both may pass `NOT EXISTS`; the partial unique
    /// index `signing_keys_one_current` then makes the second insert wait for
    /// the first to commit, conflict, and do nothing: one key becomes current.
    pub async fn insert_first_signing_key(&self, key: &NewKey, now: i64) -> Result<(), StoreError> {
        let sql = "INSERT INTO signing_keys (kid, private_key, public_key, created_at)
                   SELECT $1, $2, $3, $4
                   WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE retired_at IS NULL)
                   ON CONFLICT DO NOTHING";
        on_db!(self, |db| sqlx::query(sql)
            .bind(&key.kid)
            .bind(&key.seed[..])
            .bind(&key.public[..])
            .bind(now)
            .execute(&db.writes)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Retires the current key (dropping its private half: it will never sign
    /// again) and makes `key` current. Returns the new kid. Serialised
    /// (`Topic::SigningKeys`): otherwise, on PostgreSQL, a second rotation's
    /// `UPDATE` would not see the key the first inserted (not in its
    /// snapshot), would retire nothing, and break the one-current-key index.
    pub async fn rotate_signing_key(&self, key: NewKey, now: i64) -> Result<String, StoreError> {
        on_db!(self, |db| {
            let mut tx = db.writes.begin().await?;
            tx.lock(Topic::SigningKeys).await?;
            sqlx::query("UPDATE signing_keys SET retired_at = $1, private_key = NULL WHERE retired_at IS NULL")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO signing_keys (kid, private_key, public_key, created_at) VALUES ($1, $2, $3, $4)")
                .bind(&key.kid)
                .bind(&key.seed[..])
                .bind(&key.public[..])
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(key.kid)
    }

    /// Cuts key `kid` off now: it loses its private half and is neither
    /// published nor accepted any more, and the feed names it (announced at
    /// once on PostgreSQL). If it is the current key, `replacement` becomes
    /// current in the same transaction, so some key always signs.
    pub async fn retire_signing_key(
        &self,
        kid: &str,
        replacement: NewKey,
        now: i64,
    ) -> Result<KeyRetirement, StoreError> {
        on_db!(self, |db| {
            let mut tx = db.writes.begin().await?;
            tx.lock(Topic::SigningKeys).await?;
            let row: Option<(Option<i64>, Option<i64>)> =
                sqlx::query_as("SELECT retired_at, removed_at FROM signing_keys WHERE kid = $1")
                    .bind(kid)
                    .fetch_optional(&mut *tx)
                    .await?;
            let current = match row {
                None => return Ok(KeyRetirement::Unknown),
                Some((_, Some(_))) => return Ok(KeyRetirement::AlreadyRetired),
                Some((retired_at, None)) => retired_at.is_none(),
            };
            sqlx::query(
                "UPDATE signing_keys SET removed_at = $1, retired_at = COALESCE(retired_at, $1),
                 private_key = NULL WHERE kid = $2",
            )
            .bind(now)
            .bind(kid)
            .execute(&mut *tx)
            .await?;
            let replaced_by = if current {
                sqlx::query("INSERT INTO signing_keys (kid, private_key, public_key, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(&replacement.kid)
                    .bind(&replacement.seed[..])
                    .bind(&replacement.public[..])
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                Some(replacement.kid)
            } else {
                None
            };
            tx.announce_feed().await?;
            tx.commit().await?;
            Ok(KeyRetirement::Retired { replaced_by })
        })
    }

    // ---- login throttling --------------------------------------------------------

    #[tracing::instrument(level = "debug", name = "store.failure_count", skip_all)]
    pub async fn failure_count(&self, key: &str) -> Result<FailureCount, StoreError> {
        let sql = "SELECT failures, window_start FROM login_failures WHERE key = $1";
        let row: Option<(i64, i64)> =
            on_db!(self, |db| { sqlx::query_as(sql).bind(key).fetch_optional(&db.reads).await? });
        Ok(row.map_or_else(FailureCount::default, |(failures, window_start)| FailureCount {
            failures: failures.clamp(0, i64::from(u32::MAX)) as u32,
            window_start,
        }))
    }

    /// Counts one failure for each key; a window that has ended starts over.
    /// Each upsert is atomic (PostgreSQL's `ON CONFLICT DO UPDATE` locks the
    /// row; SQLite has one writer), so concurrent failures all count, and
    /// each caller gets back the counts its own failure made, in key order.
    #[tracing::instrument(level = "debug", name = "store.record_failure", skip_all)]
    pub async fn record_failure(
        &self,
        keys: &[&str],
        now: i64,
        window: i64,
    ) -> Result<Vec<FailureCount>, StoreError> {
        let sql = "INSERT INTO login_failures (key, failures, window_start) VALUES ($1, 1, $2)
                   ON CONFLICT (key) DO UPDATE SET
                     failures = CASE WHEN login_failures.window_start + $3 <= excluded.window_start
                                     THEN 1 ELSE login_failures.failures + 1 END,
                     window_start = CASE WHEN login_failures.window_start + $3 <= excluded.window_start
                                     THEN excluded.window_start ELSE login_failures.window_start END
                   RETURNING failures, window_start";
        on_db!(self, |db| {
            let mut tx = db.writes.begin().await?;
            let mut counts = Vec::with_capacity(keys.len());
            for key in keys {
                let (failures, window_start): (i64, i64) = sqlx::query_as(sql)
                    .bind(*key)
                    .bind(now)
                    .bind(window)
                    .fetch_one(&mut *tx)
                    .await?;
                let failures = failures.clamp(0, i64::from(u32::MAX)) as u32;
                counts.push(FailureCount { failures, window_start });
            }
            tx.commit().await?;
            Ok(counts)
        })
    }

    /// Takes back one failure counted on `key` (an attempt counted before it
    /// was judged, that turned out right).
    #[tracing::instrument(level = "debug", name = "store.refund_failure", skip_all)]
    pub async fn refund_failure(&self, key: &str) -> Result<(), StoreError> {
        let sql =
            "UPDATE login_failures SET failures = failures - 1 WHERE key = $1 AND failures > 0";
        on_db!(self, |db| sqlx::query(sql).bind(key).execute(&db.writes).await?.rows_affected());
        Ok(())
    }

    #[tracing::instrument(level = "debug", name = "store.clear_failures", skip_all)]
    pub async fn clear_failures(&self, key: &str) -> Result<(), StoreError> {
        let sql = "DELETE FROM login_failures WHERE key = $1";
        on_db!(self, |db| sqlx::query(sql).bind(key).execute(&db.writes).await?.rows_affected());
        Ok(())
    }

    // ---- audit log -----------------------------------------------------------------

    #[tracing::instrument(level = "debug", name = "store.record_event", skip_all)]
    pub async fn record_event(&self, event: &NewEvent) -> Result<(), StoreError> {
        on_db!(self, |db| insert_event!(&db.writes, event));
        Ok(())
    }

    /// Whether user `user_id` has an event of `kind` with `detail` at or
    /// after `since` (so a repeated one need not be written again). One
    /// probe of the `audit_events_lookup` index.
    #[tracing::instrument(level = "debug", name = "store.has_event_since", skip_all)]
    pub async fn has_event_since(
        &self,
        user_id: &str,
        kind: &str,
        detail: &str,
        since: i64,
    ) -> Result<bool, StoreError> {
        let sql = "SELECT COUNT(*) FROM (SELECT 1 FROM audit_events
                   WHERE user_id = $1 AND kind = $2 AND at >= $4 AND detail = $3 LIMIT 1) AS found";
        let count: i64 = on_db!(self, |db| sqlx::query_scalar(sql)
            .bind(user_id)
            .bind(kind)
            .bind(detail)
            .bind(since)
            .fetch_one(&db.reads)
            .await?);
        Ok(count > 0)
    }

    /// Events matching `filter`, newest first, at most `filter.limit`. Their
    /// `kind` stays text: an instance shows events a newer one wrote.
    pub async fn audit_events(&self, filter: &EventFilter) -> Result<Vec<AuditEvent>, StoreError> {
        // Each filter left out is `NULL IS NULL`: one statement, one plan per
        // database, and every value bound, never spliced into the SQL.
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events
             WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR username = $2)
               AND ($3 IS NULL OR kind = $3) AND ($4 IS NULL OR id < $4)
             ORDER BY id DESC LIMIT $5"
        );
        on_db!(self, |db| {
            let rows = sqlx::query(&sql)
                .bind(&filter.user_id)
                .bind(&filter.username)
                .bind(&filter.kind)
                .bind(filter.before)
                .bind(filter.limit)
                .fetch_all(&db.reads)
                .await?;
            rows.iter()
                .map(|row| {
                    Ok(AuditEvent {
                        id: row.try_get("id")?,
                        at: row.try_get("at")?,
                        kind: row.try_get("kind")?,
                        user_id: row.try_get("user_id")?,
                        username: row.try_get("username")?,
                        actor_id: row.try_get("actor_id")?,
                        actor_name: row.try_get("actor_name")?,
                        session_id: row.try_get("session_id")?,
                        ip: row.try_get("ip")?,
                        user_agent: row.try_get("user_agent")?,
                        detail: row.try_get("detail")?,
                    })
                })
                .collect()
        })
    }

    // ---- housekeeping -------------------------------------------------------------

    /// Deletes what can no longer matter: sessions (with their refresh
    /// tokens) ended or expired before `before`, revocations past their
    /// `until`, throttling windows that ended, audit events older than
    /// `audit_before`, expired pending sign-ins and WebAuthn ceremonies, and
    /// authenticator apps set up but left unconfirmed since before `before`.
    ///
    /// In batches, each its own statement and commit, so no other write
    /// waits long behind it: on SQLite every write waits for the one writer,
    /// and one `DELETE` of a month of sessions would hold it for seconds. A
    /// batch's size adapts to take about `PRUNE_BATCH_TARGET` on this
    /// machine; other writes take turns in between.
    pub async fn prune(
        &self,
        now: i64,
        before: i64,
        window: i64,
        audit_before: i64,
    ) -> Result<Pruned, StoreError> {
        // (table, key, condition on `$1`, value)
        let jobs: [(&str, &str, &str, i64); 8] = [
            ("sessions", "id", "ended_at IS NOT NULL AND ended_at < $1", before),
            ("sessions", "id", "expires_at < $1", before),
            // The newest row stays, whatever its age: it is the feed's
            // head, which tells a cursor of this history from one of
            // another (`revocations_after`).
            ("revocations", "id", "until < $1 AND id < (SELECT MAX(id) FROM revocations)", now),
            ("login_failures", "key", "window_start < $1", now - window),
            ("audit_events", "id", "at < $1", audit_before),
            ("pending_sign_ins", "token_hash", "expires_at < $1", now),
            ("webauthn_ceremonies", "id_hash", "expires_at < $1", now),
            ("totp_factors", "user_id", "confirmed_at IS NULL AND created_at < $1", before),
        ];
        let mut pruned = Pruned::default();
        for (table, key, condition, value) in jobs {
            // Rows of different tables cost differently: each starts small.
            let mut size = PRUNE_FIRST_BATCH;
            loop {
                // The size is ours: formatted, so each size is its own
                // prepared statement (a handful, as sizes are powers of two).
                let sql = format!(
                    "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {condition} LIMIT {size})"
                );
                let (deleted, took) = on_db!(self, |db| {
                    let mut conn = db.writes.acquire().await?;
                    let started = std::time::Instant::now();
                    let done = sqlx::query(&sql).bind(value).execute(&mut *conn).await?;
                    (done.rows_affected(), started.elapsed())
                });
                let used = size;
                pruned.rows += deleted;
                pruned.batches += 1;
                pruned.longest = pruned.longest.max(took);
                if took > PRUNE_BATCH_TARGET {
                    size = (size / 2).max(PRUNE_MIN_BATCH);
                } else if took < PRUNE_BATCH_TARGET / 3 && deleted == size {
                    size = (size * 2).min(PRUNE_MAX_BATCH);
                }
                if deleted < used {
                    break;
                }
                // Let waiting writers have the connection before the next batch.
                tokio::task::yield_now().await;
            }
        }
        Ok(pruned)
    }
}

/// The time one pruning batch should hold the writer: well under the ~50 ms
/// a sign-in or a refresh could be kept waiting without anyone noticing.
const PRUNE_BATCH_TARGET: std::time::Duration = std::time::Duration::from_millis(20);
const PRUNE_FIRST_BATCH: u64 = 128;
const PRUNE_MIN_BATCH: u64 = 16;
const PRUNE_MAX_BATCH: u64 = 4096;

/// What `prune` did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pruned {
    pub rows: u64,
    pub batches: u32,
    /// The longest any one batch held the writer.
    pub longest: std::time::Duration,
}
