//! Passkeys in the store, and the WebAuthn ceremonies under way, written
//! once for both databases like `queries`. A ceremony is taken (deleted and
//! returned) in one statement, so its challenge answers exactly once,
//! whichever instance is asked.

use sqlx::Row;

use super::{
    Store, StoreError,
    dialect::DialectTx as _,
    queries::{end_in, insert_event, on_db},
    records::{Ceremony, FactorAdded, NewEvent, PasskeyRecord, amr_to_text},
    second_factors::{
        FACTOR_COUNT, NewFactor, RemovedFactor, factor_added, factor_removed, lock_user,
        store_recovery_codes, with_sessions_ended,
    },
};
use crate::domain::EndReason;

const PASSKEY_COLUMNS: &str =
    "credential_id, user_id, name, passkey, counter, created_at, last_used_at";

/// A `PasskeyRecord` from the `PASSKEY_COLUMNS` of a row.
macro_rules! passkey {
    ($row:expr) => {
        PasskeyRecord {
            credential_id: $row.try_get("credential_id")?,
            user_id: $row.try_get("user_id")?,
            name: $row.try_get("name")?,
            passkey: $row.try_get("passkey")?,
            counter: $row.try_get("counter")?,
            created_at: $row.try_get("created_at")?,
            last_used_at: $row.try_get("last_used_at")?,
        }
    };
}

impl Store {
    /// The user's passkeys, oldest first.
    pub async fn passkeys_of(&self, user_id: &str) -> Result<Vec<PasskeyRecord>, StoreError> {
        let sql = format!(
            "SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, name"
        );
        on_db!(self, |db| {
            let rows = sqlx::query(&sql).bind(user_id).fetch_all(&db.reads).await?;
            rows.iter().map(|row| Ok(passkey!(row))).collect()
        })
    }

    /// The passkey with this credential id, whoever's it is.
    pub async fn passkey(&self, credential_id: &[u8]) -> Result<Option<PasskeyRecord>, StoreError> {
        let sql = format!("SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE credential_id = $1");
        on_db!(self, |db| {
            match sqlx::query(&sql).bind(credential_id).fetch_optional(&db.reads).await? {
                Some(row) => Ok(Some(passkey!(row))),
                None => Ok(None),
            }
        })
    }

    /// Registers a passkey; then as for every new factor (see
    /// `factor_added`). `None` if that credential is registered already.
    pub async fn add_passkey(
        &self,
        new: &PasskeyRecord,
        added: &NewFactor<'_>,
    ) -> Result<Option<FactorAdded>, StoreError> {
        on_db!(self, |db| {
            let mut tx = db.writes.begin().await?;
            lock_user!(tx, &new.user_id);
            let had: i64 =
                sqlx::query_scalar(FACTOR_COUNT).bind(&new.user_id).fetch_one(&mut *tx).await?;
            let inserted = sqlx::query(
                "INSERT INTO passkeys (credential_id, user_id, name, passkey, created_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (credential_id) DO NOTHING",
            )
            .bind(&new.credential_id)
            .bind(&new.user_id)
            .bind(&new.name)
            .bind(&new.passkey)
            .bind(new.created_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted != 1 {
                return Ok(None);
            }
            factor_added!(tx, new.user_id.as_str(), had > 0, added)
        })
    }

    /// Records a use of the passkey with signature counter `counter`: its
    /// updated state and when. `false`, and nothing recorded, if the counter
    /// did not move forward from the last accepted one (a use raced by
    /// another with a higher counter, or a cloned authenticator); a counter
    /// of 0 is accepted only from an authenticator that keeps none.
    pub async fn passkey_used(
        &self,
        credential_id: &[u8],
        passkey: &str,
        counter: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE passkeys SET passkey = $2, counter = $3, last_used_at = $4
                   WHERE credential_id = $1 AND (counter < $3 OR (counter = 0 AND $3 = 0))";
        let used = on_db!(self, |db| sqlx::query(sql)
            .bind(credential_id)
            .bind(passkey)
            .bind(counter)
            .bind(now)
            .execute(&db.writes)
            .await?
            .rows_affected());
        Ok(used == 1)
    }

    /// Removes one of the user's passkeys, and the recovery codes with it if
    /// it was their last second factor; ends the user's other sessions (see
    /// `factor_removed`). `None` if the user has no such passkey; else how
    /// many sessions ended.
    pub async fn delete_passkey(
        &self,
        user_id: &str,
        credential_id: &[u8],
        removed: &RemovedFactor<'_>,
    ) -> Result<Option<u64>, StoreError> {
        on_db!(self, |db| {
            let mut tx = db.writes.begin().await?;
            lock_user!(tx, user_id);
            let deleted =
                sqlx::query("DELETE FROM passkeys WHERE user_id = $1 AND credential_id = $2")
                    .bind(user_id)
                    .bind(credential_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            if deleted == 0 {
                return Ok(None);
            }
            sqlx::query(
                "DELETE FROM recovery_codes WHERE user_id = $1
                 AND NOT EXISTS (SELECT 1 FROM passkeys WHERE user_id = $1)
                 AND NOT EXISTS (SELECT 1 FROM totp_factors
                                 WHERE user_id = $1 AND confirmed_at IS NOT NULL)",
            )
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
            factor_removed!(tx, user_id, removed)
        })
    }

    // ---- ceremonies ------------------------------------------------------------

    pub async fn put_ceremony(
        &self,
        id_hash: &[u8],
        ceremony: &Ceremony,
    ) -> Result<(), StoreError> {
        let sql =
            "INSERT INTO webauthn_ceremonies (id_hash, purpose, user_id, pending_hash, origin, state, expires_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7)";
        on_db!(self, |db| sqlx::query(sql)
            .bind(id_hash)
            .bind(&ceremony.purpose)
            .bind(&ceremony.user_id)
            .bind(&ceremony.pending_hash)
            .bind(&ceremony.origin)
            .bind(&ceremony.state)
            .bind(ceremony.expires_at)
            .execute(&db.writes)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Takes the ceremony with this id for `purpose`: its state for exactly
    /// one caller, and only before it expires.
    pub async fn take_ceremony(
        &self,
        id_hash: &[u8],
        purpose: &str,
        now: i64,
    ) -> Result<Option<Ceremony>, StoreError> {
        let sql = "DELETE FROM webauthn_ceremonies
                   WHERE id_hash = $1 AND purpose = $2 AND expires_at > $3
                   RETURNING purpose, user_id, pending_hash, origin, state, expires_at";
        on_db!(self, |db| {
            let row = sqlx::query(sql)
                .bind(id_hash)
                .bind(purpose)
                .bind(now)
                .fetch_optional(&db.writes)
                .await?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(Ceremony {
                purpose: row.try_get("purpose")?,
                user_id: row.try_get("user_id")?,
                pending_hash: row.try_get("pending_hash")?,
                origin: row.try_get("origin")?,
                state: row.try_get("state")?,
                expires_at: row.try_get("expires_at")?,
            }))
        })
    }
}
