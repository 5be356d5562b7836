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
    dialect::DialectTx as _,
    queries::{end_in, insert_event, on_db},
    records::{FactorAdded, NewEvent, PendingSignIn, TotpRecord, amr_to_text},
};
use crate::domain::EndReason;

/// What a wrong code did to its pending sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingFailure {
    /// Counted; this many attempts so far.
    Counted(u32),
    /// That was the last allowed: the pending sign-in is gone.
    Discarded,
}

/// Inside transaction `$tx`: locks user `$user_id`'s row first (the
/// store's lock order: user row, then session rows, then the revocation
/// feed), so that changes to one user's second factors, and their pending
/// sign-ins, happen one after another on PostgreSQL as on SQLite.
macro_rules! lock_user {
    ($tx:ident, $user_id:expr) => {
        sqlx::query("UPDATE users SET id = id WHERE id = $1")
            .bind($user_id)
            .execute(&mut *$tx)
            .await?;
    };
}
pub(super) use lock_user;

/// The user's second factors (an authenticator app switched on, passkeys),
/// counted; `$1` is the user id.
pub(super) const FACTOR_COUNT: &str =
    "SELECT (SELECT COUNT(*) FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL)
          + (SELECT COUNT(*) FROM passkeys WHERE user_id = $1)";

/// Inside transaction `$tx`: user `$user_id`'s recovery codes become
/// exactly `$hashes`, HMAC'd under the MFA key `$key_id`, created at `$now`
/// (the old set, used or not, dies).
macro_rules! store_recovery_codes {
    ($tx:ident, $user_id:expr, $hashes:expr, $key_id:expr, $now:expr) => {
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind($user_id)
            .execute(&mut *$tx)
            .await?;
        for hash in $hashes {
            sqlx::query(
                "INSERT INTO recovery_codes (code_hash, user_id, created_at, key_id)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(hash)
            .bind($user_id)
            .bind($now)
            .bind($key_id)
            .execute(&mut *$tx)
            .await?;
        }
    };
}

/// `event` saying, after its own detail, how many other sessions ended.
pub(super) fn with_sessions_ended(event: &NewEvent, ended: u64) -> NewEvent {
    let mut event = event.clone();
    if ended > 0 {
        let ended = format!("{ended} other session(s) ended");
        event.detail = Some(match event.detail {
            Some(detail) => format!("{detail}; {ended}"),
            None => ended,
        });
    }
    event
}

/// What comes with every new second factor, in its transaction.
pub struct NewFactor<'a> {
    /// Stored if the user has no unused recovery codes.
    pub recovery_hashes: &'a [Vec<u8>],
    /// The id of the MFA key they are HMAC'd under (`mfa::key::KeyId`).
    pub recovery_key_id: &'a str,
    /// The session that added it: it has proven the factor (`amr`).
    pub session_id: &'a str,
    pub amr: &'a [String],
    /// When it is the user's first factor, their other sessions end (they
    /// proved a password only), published until this time.
    pub revoked_until: i64,
    pub event: &'a NewEvent,
}

/// The rest of a new factor's transaction `$tx` for user `$user_id`, who
/// `$had_factor` before it: recovery codes if the user has no unused ones,
/// the adding session's `amr`, and, for a first factor, the end of every
/// other session of theirs; then the event and the commit. Evaluates to
/// `Ok(Some(FactorAdded))`.
macro_rules! factor_added {
    ($tx:ident, $user_id:expr, $had_factor:expr, $added:expr) => {{
        let added: &NewFactor<'_> = $added;
        let now = added.event.at;
        let unused: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind($user_id)
        .fetch_one(&mut *$tx)
        .await?;
        let codes_issued = unused == 0;
        if codes_issued {
            store_recovery_codes!($tx, $user_id, added.recovery_hashes, added.recovery_key_id, now);
        }
        let adder = sqlx::query("UPDATE sessions SET amr = $2 WHERE id = $1 AND ended_at IS NULL")
            .bind(added.session_id)
            .bind(amr_to_text(added.amr))
            .execute(&mut *$tx)
            .await?
            .rows_affected();
        if adder != 1 {
            // The session adding it ended meanwhile: nothing is added.
            return Ok(None);
        }
        let ended = if $had_factor {
            0
        } else {
            let others: [&str; 2] = [$user_id, added.session_id];
            let reason = EndReason::SecondFactorAdded;
            end_in!($tx, "user_id = $3 AND id <> $4", &others, reason, now, added.revoked_until)
        };
        insert_event!(&mut *$tx, &with_sessions_ended(added.event, ended));
        $tx.commit().await?;
        Ok(Some(FactorAdded { codes_issued, ended }))
    }};
}
pub(super) use {factor_added, store_recovery_codes};

/// What comes with removing a second factor, in its transaction.
pub struct RemovedFactor<'a> {
    /// The session that removes it goes on; the user's others end (one of
    /// them may have proven the factor on a stolen phone).
    pub keep_session: &'a str,
    pub revoked_until: i64,
    pub event: &'a NewEvent,
}

/// The rest of a factor's removal in transaction `$tx` for user `$user_id`:
/// the user's other sessions end, the event (saying how many) is written,
/// and the transaction commits. Evaluates to `Ok(Some(ended))`.
macro_rules! factor_removed {
    ($tx:ident, $user_id:expr, $removed:expr) => {{
        let removed: &RemovedFactor<'_> = $removed;
        let now = removed.event.at;
        let others: [&str; 2] = [$user_id, removed.keep_session];
        let reason = EndReason::SecondFactorRemoved;
        let ended =
            end_in!($tx, "user_id = $3 AND id <> $4", &others, reason, now, removed.revoked_until);
        insert_event!(&mut *$tx, &with_sessions_ended(removed.event, ended));
        $tx.commit().await?;
        Ok(Some(ended))
    }};
}
pub(super) use factor_removed;

/// How many pending sign-ins one user may have open: a right password opens
/// one each time, and each brings its own attempts at the code.
const OPEN_PENDING_PER_USER: i64 = 3;

impl Store {
    // ---- authenticator apps ----------------------------------------------------

    pub async fn totp_of(&self, user_id: &str) -> Result<Option<TotpRecord>, StoreError> {
        let sql = "SELECT secret_sealed, created_at, confirmed_at, setup_session_id, last_step
                   FROM totp_factors WHERE user_id = $1";
        on_db!(self, |db| {
            let Some(row) = sqlx::query(sql).bind(user_id).fetch_optional(&db.reads).await? else {
                return Ok(None);
            };
            Ok(Some(TotpRecord {
                secret_sealed: row.try_get("secret_sealed")?,
                created_at: row.try_get("created_at")?,
                confirmed_at: row.try_get("confirmed_at")?,
                setup_session_id: row.try_get("setup_session_id")?,
                last_step: row.try_get("last_step")?,
            }))
        })
    }

    /// Stores a new, unconfirmed key for the user, set up in session
    /// `session_id` (only it may confirm the key), replacing an unconfirmed
    /// one. `false` if the user already has an authenticator app switched on
    /// (it must be switched off first).
    pub async fn put_unconfirmed_totp(
        &self,
        user_id: &str,
        secret_sealed: &[u8],
        session_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql = "INSERT INTO totp_factors (user_id, secret_sealed, created_at, setup_session_id, last_step)
                   VALUES ($1, $2, $3, $4, 0)
                   ON CONFLICT (user_id) DO UPDATE
                   SET secret_sealed = excluded.secret_sealed, created_at = excluded.created_at,
                       setup_session_id = excluded.setup_session_id, last_step = 0
                   WHERE totp_factors.confirmed_at IS NULL";
        let stored = on_db!(self, |db| sqlx::query(sql)
            .bind(user_id)
            .bind(secret_sealed)
            .bind(now)
            .bind(session_id)
            .execute(&db.writes)
            .await?
            .rows_affected());
        Ok(stored == 1)
    }

    /// Switches the unconfirmed key set up in session `session_id` on, with
    /// `step` as its first used step; then as for every new factor (see
    /// `factor_added`). `None` if there was no such key or `step` was not
    /// above its last.
    pub async fn confirm_totp(
        &self,
        user_id: &str,
        step: i64,
        added: &NewFactor<'_>,
    ) -> Result<Option<FactorAdded>, StoreError> {
        let now = added.event.at;
        on_db!(self, |db| {
            let mut tx = db.writes.begin().await?;
            lock_user!(tx, user_id);
            let had: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM passkeys WHERE user_id = $1")
                .bind(user_id)
                .fetch_one(&mut *tx)
                .await?;
            let confirmed = sqlx::query(
                "UPDATE totp_factors SET confirmed_at = $2, last_step = $3
                 WHERE user_id = $1 AND confirmed_at IS NULL AND last_step < $3
                   AND setup_session_id = $4",
            )
            .bind(user_id)
            .bind(now)
            .bind(step)
            .bind(added.session_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if confirmed != 1 {
                return Ok(None);
            }
            factor_added!(tx, user_id, had > 0, added)
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
    /// if no passkey is left (they stand in for a second factor the user no
    /// longer has), and ends the user's other sessions (see `factor_removed`).
    /// `None` if there was none; else how many sessions ended.
    pub async fn delete_totp(
        &self,
        user_id: &str,
        removed: &RemovedFactor<'_>,
    ) -> Result<Option<u64>, StoreError> {
        on_db!(self, |db| {
            let mut tx = db.writes.begin().await?;
            lock_user!(tx, user_id);
            let deleted = sqlx::query("DELETE FROM totp_factors WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                return Ok(None);
            }
            // The codes stand in for second factors: they go with the last.
            sqlx::query(
                "DELETE FROM recovery_codes WHERE user_id = $1
                 AND NOT EXISTS (SELECT 1 FROM passkeys WHERE user_id = $1)",
            )
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
            factor_removed!(tx, user_id, removed)
        })
    }

    /// Every second factor of the user goes (an administrator's reset), with
    /// their pending sign-ins and every session of theirs (published on the
    /// revocation feed until `revoked_until`); records `event`. How many
    /// factors there were, and how many sessions ended.
    pub async fn reset_second_factors(
        &self,
        user_id: &str,
        event: &NewEvent,
        revoked_until: i64,
    ) -> Result<(u64, u64), StoreError> {
        on_db!(self, |db| {
            let mut tx = db.writes.begin().await?;
            lock_user!(tx, user_id);
            let apps = sqlx::query(
                "DELETE FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL",
            )
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let passkeys = sqlx::query("DELETE FROM passkeys WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let factors = apps + passkeys;
            for table in
                ["totp_factors", "recovery_codes", "pending_sign_ins", "webauthn_ceremonies"]
            {
                sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
            }
            let reason = EndReason::SecondFactorsReset;
            let ended = end_in!(tx, "user_id = $3", &[user_id], reason, event.at, revoked_until);
            insert_event!(&mut *tx, event);
            tx.commit().await?;
            Ok((factors, ended))
        })
    }

    /// Whether the user has a second factor: an authenticator app switched
    /// on, or a passkey.
    #[tracing::instrument(level = "debug", name = "store.has_second_factor", skip_all)]
    pub async fn has_second_factor(&self, user_id: &str) -> Result<bool, StoreError> {
        let count: i64 = on_db!(self, |db| sqlx::query_scalar(FACTOR_COUNT)
            .bind(user_id)
            .fetch_one(&db.reads)
            .await?);
        Ok(count > 0)
    }

    // ---- recovery codes --------------------------------------------------------

    /// A new set of recovery codes (HMAC'd under MFA key `key_id`) replaces
    /// every old one (used or not); records `event`. `false` (nothing
    /// changed) if the user has no second factor for them to stand in for.
    pub async fn replace_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[Vec<u8>],
        key_id: &str,
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        on_db!(self, |db| {
            let mut tx = db.writes.begin().await?;
            lock_user!(tx, user_id);
            let factors: i64 =
                sqlx::query_scalar(FACTOR_COUNT).bind(user_id).fetch_one(&mut *tx).await?;
            if factors == 0 {
                return Ok(false);
            }
            store_recovery_codes!(tx, user_id, hashes, key_id, event.at);
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
            lock_user!(tx, &pending.user_id);
            // The oldest beyond the newest few go: the password does not buy
            // an attacker ever more attempts at the code in parallel.
            sqlx::query(
                "DELETE FROM pending_sign_ins WHERE user_id = $1 AND token_hash NOT IN
                   (SELECT token_hash FROM pending_sign_ins WHERE user_id = $1
                    ORDER BY created_at DESC, token_hash LIMIT $2)",
            )
            .bind(&pending.user_id)
            .bind(OPEN_PENDING_PER_USER - 1)
            .execute(&mut *tx)
            .await?;
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

    /// Claims one of the pending sign-in's `max` attempts before the code is
    /// checked: the attempt's number, or `None` if none is left (or it
    /// expired). One atomic increment, so instances racing each other cannot
    /// get more than `max` attempts between them.
    pub async fn claim_pending_attempt(
        &self,
        token_hash: &[u8],
        max: u32,
        now: i64,
    ) -> Result<Option<u32>, StoreError> {
        let sql = "UPDATE pending_sign_ins SET failures = failures + 1
                   WHERE token_hash = $1 AND failures < $2 AND expires_at > $3
                   RETURNING failures";
        let attempt: Option<i64> = on_db!(self, |db| sqlx::query_scalar(sql)
            .bind(token_hash)
            .bind(i64::from(max))
            .bind(now)
            .fetch_optional(&db.writes)
            .await?);
        Ok(attempt.map(|n| u32::try_from(n).unwrap_or(u32::MAX)))
    }

    /// A claimed attempt was wrong: at `max` the pending sign-in is discarded.
    pub async fn pending_attempt_failed(
        &self,
        token_hash: &[u8],
        attempt: u32,
        max: u32,
    ) -> Result<PendingFailure, StoreError> {
        if attempt < max {
            return Ok(PendingFailure::Counted(attempt));
        }
        let sql = "DELETE FROM pending_sign_ins WHERE token_hash = $1";
        on_db!(self, |db| sqlx::query(sql)
            .bind(token_hash)
            .execute(&db.writes)
            .await?
            .rows_affected());
        Ok(PendingFailure::Discarded)
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
