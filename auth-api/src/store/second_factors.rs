//! Second factors in the store: authenticator apps, recovery codes and
//! pending sign-ins, written once for both databases like `queries`.
//!
//! Every "use once" rule is a conditional `UPDATE` or `DELETE` whose row
//! count says who won, so it holds across instances sharing PostgreSQL with
//! no lock held between reading and writing: a TOTP step is accepted only if
//! it is above `last_step`, a recovery code only while `used_at` is NULL, a
//! pending sign-in is taken by exactly one request.

use sqlx::Row;

use super::{
    Store, StoreError,
    queries::{insert_event, on_db},
    records::{NewEvent, PendingSignIn, TotpRecord, amr_to_text},
};

/// What a wrong code did to its pending sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingFailure {
    /// Counted; this many wrong codes so far.
    Counted(u32),
    /// That was the last allowed: the pending sign-in is gone.
    Discarded,
    /// It had already gone (expired, used or discarded).
    Gone,
}

impl Store {
    // ---- authenticator apps ----------------------------------------------------

    pub async fn totp_of(&self, user_id: &str) -> Result<Option<TotpRecord>, StoreError> {
        let sql = "SELECT secret_sealed, created_at, confirmed_at, last_step
                   FROM totp_factors WHERE user_id = $1";
        on_db!(self, |db| {
            let Some(row) = sqlx::query(sql).bind(user_id).fetch_optional(&db.reads).await? else {
                return Ok(None);
            };
            Ok(Some(TotpRecord {
                secret_sealed: row.try_get("secret_sealed")?,
                created_at: row.try_get("created_at")?,
                confirmed_at: row.try_get("confirmed_at")?,
                last_step: row.try_get("last_step")?,
            }))
        })
    }

    /// Stores a new, unconfirmed key for the user, replacing an unconfirmed
    /// one. `false` if the user already has an authenticator app switched on
    /// (it must be switched off first).
    pub async fn put_unconfirmed_totp(
        &self,
        user_id: &str,
        secret_sealed: &[u8],
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql = "INSERT INTO totp_factors (user_id, secret_sealed, created_at, last_step)
                   VALUES ($1, $2, $3, 0)
                   ON CONFLICT (user_id) DO UPDATE
                   SET secret_sealed = excluded.secret_sealed, created_at = excluded.created_at,
                       last_step = 0
                   WHERE totp_factors.confirmed_at IS NULL";
        let stored = on_db!(self, |db| sqlx::query(sql)
            .bind(user_id)
            .bind(secret_sealed)
            .bind(now)
            .execute(&db.writes)
            .await?
            .rows_affected());
        Ok(stored == 1)
    }

    /// Switches the unconfirmed key on, with `step` as its first used step,
    /// in one transaction with: `recovery_hashes` stored if the user has no
    /// unused recovery codes (`true` then), the session `session_id` marked
    /// as having proven it (`amr`), and `event`. `None` if there was no
    /// unconfirmed key or `step` was not above its last.
    pub async fn confirm_totp(
        &self,
        user_id: &str,
        step: i64,
        recovery_hashes: &[Vec<u8>],
        session_id: &str,
        amr: &[String],
        event: &NewEvent,
    ) -> Result<Option<bool>, StoreError> {
        let now = event.at;
        on_db!(self, |db| {
            let mut tx = db.writes.begin().await?;
            let confirmed = sqlx::query(
                "UPDATE totp_factors SET confirmed_at = $2, last_step = $3
                 WHERE user_id = $1 AND confirmed_at IS NULL AND last_step < $3",
            )
            .bind(user_id)
            .bind(now)
            .bind(step)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if confirmed != 1 {
                return Ok(None);
            }
            let unused: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
            )
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
            let issue_codes = unused == 0;
            if issue_codes {
                sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                for hash in recovery_hashes {
                    sqlx::query(
                        "INSERT INTO recovery_codes (code_hash, user_id, created_at) VALUES ($1, $2, $3)",
                    )
                    .bind(hash)
                    .bind(user_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            sqlx::query("UPDATE sessions SET amr = $2 WHERE id = $1 AND ended_at IS NULL")
                .bind(session_id)
                .bind(amr_to_text(amr))
                .execute(&mut *tx)
                .await?;
            insert_event!(&mut *tx, event);
            tx.commit().await?;
            Ok(Some(issue_codes))
        })
    }

    /// Accepts time step `step` of the user's confirmed key: `true` exactly
    /// once per step, and never for a step at or below one already used
    /// (RFC 6238 §5.2: a code is good once), whichever instance asks.
    pub async fn use_totp_step(&self, user_id: &str, step: i64) -> Result<bool, StoreError> {
        let sql = "UPDATE totp_factors SET last_step = $2
                   WHERE user_id = $1 AND confirmed_at IS NOT NULL AND last_step < $2";
        let used = on_db!(self, |db| sqlx::query(sql)
            .bind(user_id)
            .bind(step)
            .execute(&db.writes)
            .await?
            .rows_affected());
        Ok(used == 1)
    }

    /// Switches the authenticator app off, and with it the recovery codes
    /// (they stand in for a second factor the user no longer has); records
    /// `event`. `false` if there was none.
    pub async fn delete_totp(&self, user_id: &str, event: &NewEvent) -> Result<bool, StoreError> {
        on_db!(self, |db| {
            let mut tx = db.writes.begin().await?;
            let deleted = sqlx::query("DELETE FROM totp_factors WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                return Ok(false);
            }
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            insert_event!(&mut *tx, event);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Every second factor of the user goes (an administrator's reset), with
    /// their pending sign-ins; records `event`. How many factors there were.
    pub async fn reset_second_factors(
        &self,
        user_id: &str,
        event: &NewEvent,
    ) -> Result<u64, StoreError> {
        on_db!(self, |db| {
            let mut tx = db.writes.begin().await?;
            let factors = sqlx::query(
                "DELETE FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL",
            )
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            for table in ["totp_factors", "recovery_codes", "pending_sign_ins"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
            }
            insert_event!(&mut *tx, event);
            tx.commit().await?;
            Ok(factors)
        })
    }

    /// Whether the user has a second factor switched on.
    pub async fn has_second_factor(&self, user_id: &str) -> Result<bool, StoreError> {
        let sql =
            "SELECT COUNT(*) FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL";
        let count: i64 =
            on_db!(self, |db| sqlx::query_scalar(sql).bind(user_id).fetch_one(&db.reads).await?);
        Ok(count > 0)
    }

    // ---- recovery codes --------------------------------------------------------

    /// A new set of recovery codes replaces every old one (used or not);
    /// records `event`. `false` (nothing changed) if the user has no second
    /// factor for them to stand in for.
    pub async fn replace_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[Vec<u8>],
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        on_db!(self, |db| {
            let mut tx = db.writes.begin().await?;
            // Locks the factor's row (PostgreSQL) so that switching it off
            // cannot interleave and leave codes without a factor.
            let factor = sqlx::query(
                "UPDATE totp_factors SET last_step = last_step
                 WHERE user_id = $1 AND confirmed_at IS NOT NULL",
            )
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if factor == 0 {
                return Ok(false);
            }
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            for hash in hashes {
                sqlx::query(
                    "INSERT INTO recovery_codes (code_hash, user_id, created_at) VALUES ($1, $2, $3)",
                )
                .bind(hash)
                .bind(user_id)
                .bind(event.at)
                .execute(&mut *tx)
                .await?;
            }
            insert_event!(&mut *tx, event);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Spends the recovery code with this hash: `true` exactly once.
    pub async fn use_recovery_code(
        &self,
        user_id: &str,
        hash: &[u8],
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE recovery_codes SET used_at = $3
                   WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL";
        let used = on_db!(self, |db| sqlx::query(sql)
            .bind(user_id)
            .bind(hash)
            .bind(now)
            .execute(&db.writes)
            .await?
            .rows_affected());
        Ok(used == 1)
    }

    pub async fn recovery_codes_left(&self, user_id: &str) -> Result<u32, StoreError> {
        let sql = "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL";
        let count: i64 =
            on_db!(self, |db| sqlx::query_scalar(sql).bind(user_id).fetch_one(&db.reads).await?);
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    // ---- pending sign-ins ------------------------------------------------------

    /// Stores a pending sign-in under `token_hash`, with `event`.
    pub async fn create_pending_sign_in(
        &self,
        token_hash: &[u8],
        pending: &PendingSignIn,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        on_db!(self, |db| {
            let mut tx = db.writes.begin().await?;
            sqlx::query(
                "INSERT INTO pending_sign_ins
                   (token_hash, user_id, password_hash, created_at, expires_at, failures,
                    remember, user_agent, ip, device)
                 VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, $9)",
            )
            .bind(token_hash)
            .bind(&pending.user_id)
            .bind(&pending.password_hash)
            .bind(pending.created_at)
            .bind(pending.expires_at)
            .bind(pending.remember)
            .bind(&pending.user_agent)
            .bind(&pending.ip)
            .bind(&pending.device)
            .execute(&mut *tx)
            .await?;
            insert_event!(&mut *tx, event);
            tx.commit().await?;
        });
        Ok(())
    }

    /// The pending sign-in with this hash, unless it expired by `now`.
    pub async fn find_pending_sign_in(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> Result<Option<PendingSignIn>, StoreError> {
        let sql = "SELECT user_id, password_hash, created_at, expires_at, failures, remember,
                          user_agent, ip, device
                   FROM pending_sign_ins WHERE token_hash = $1 AND expires_at > $2";
        on_db!(self, |db| {
            let Some(row) =
                sqlx::query(sql).bind(token_hash).bind(now).fetch_optional(&db.reads).await?
            else {
                return Ok(None);
            };
            Ok(Some(PendingSignIn {
                user_id: row.try_get("user_id")?,
                password_hash: row.try_get("password_hash")?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
                failures: u32::try_from(row.try_get::<i64, _>("failures")?).unwrap_or(u32::MAX),
                remember: row.try_get("remember")?,
                user_agent: row.try_get("user_agent")?,
                ip: row.try_get("ip")?,
                device: row.try_get("device")?,
            }))
        })
    }

    /// Counts a wrong code against the pending sign-in; at `max` wrong codes
    /// it is discarded. The count is one atomic increment, so instances
    /// racing each other cannot get more than `max` tries between them.
    pub async fn pending_sign_in_failed(
        &self,
        token_hash: &[u8],
        max: u32,
    ) -> Result<PendingFailure, StoreError> {
        on_db!(self, |db| {
            let mut tx = db.writes.begin().await?;
            let failures: Option<i64> = sqlx::query_scalar(
                "UPDATE pending_sign_ins SET failures = failures + 1
                 WHERE token_hash = $1 RETURNING failures",
            )
            .bind(token_hash)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(failures) = failures else {
                return Ok(PendingFailure::Gone);
            };
            let failures = u32::try_from(failures).unwrap_or(u32::MAX);
            let outcome = if failures >= max {
                sqlx::query("DELETE FROM pending_sign_ins WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(&mut *tx)
                    .await?;
                PendingFailure::Discarded
            } else {
                PendingFailure::Counted(failures)
            };
            tx.commit().await?;
            Ok(outcome)
        })
    }

    /// Takes the pending sign-in (it is used up): `true` for exactly one
    /// caller, and only before it expires.
    pub async fn take_pending_sign_in(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql = "DELETE FROM pending_sign_ins WHERE token_hash = $1 AND expires_at > $2";
        let taken = on_db!(self, |db| sqlx::query(sql)
            .bind(token_hash)
            .bind(now)
            .execute(&db.writes)
            .await?
            .rows_affected());
        Ok(taken == 1)
    }
}
