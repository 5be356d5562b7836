//! The store's side of rotating `MFA_ENCRYPTION_KEY` (`crate::mfa_rotation`):
//! authenticator-app keys read a page at a time and re-sealed in bounded
//! transactions, each change conditional on the value read, so a user who
//! re-enrols meanwhile keeps the new key; unused recovery codes counted per
//! MFA key.

use sqlx::Row;

use super::{Store, StoreError, queries::on_db};

/// One authenticator-app key to re-seal: `new` replaces `old` if the row
/// still holds `old`.
#[derive(Debug, Clone)]
pub struct Reseal {
    pub user_id: String,
    pub old: Vec<u8>,
    pub new: Vec<u8>,
}

/// Unused recovery codes HMAC'd under one MFA key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodesUnderKey {
    /// `None`: made before key ids were recorded.
    pub key_id: Option<String>,
    pub codes: u64,
    pub users: u64,
}

impl Store {
    /// Up to `limit` authenticator-app keys (user id, sealed value), of the
    /// users after `after` in user-id order (`""`: from the first).
    pub async fn totp_keys_after(
        &self,
        after: &str,
        limit: i64,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let sql = "SELECT user_id, secret_sealed FROM totp_factors
                   WHERE user_id > $1 ORDER BY user_id LIMIT $2";
        on_db!(self, |db| {
            let rows = sqlx::query(sql).bind(after).bind(limit).fetch_all(&db.reads).await?;
            rows.iter()
                .map(|row| Ok((row.try_get("user_id")?, row.try_get("secret_sealed")?)))
                .collect()
        })
    }

    /// Applies `changes` in one transaction; how many rows still held their
    /// `old` value and were changed.
    pub async fn reseal_totp_keys(&self, changes: &[Reseal]) -> Result<u64, StoreError> {
        let sql = "UPDATE totp_factors SET secret_sealed = $3
                   WHERE user_id = $1 AND secret_sealed = $2";
        if changes.is_empty() {
            return Ok(0);
        }
        on_db!(self, |db| {
            let mut tx = db.writes.begin().await?;
            let mut changed = 0;
            for change in changes {
                changed += sqlx::query(sql)
                    .bind(&change.user_id)
                    .bind(&change.old)
                    .bind(&change.new)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
            Ok(changed)
        })
    }

    /// Unused recovery codes, and whose they are, per MFA key id.
    pub async fn unused_recovery_codes_by_key(&self) -> Result<Vec<CodesUnderKey>, StoreError> {
        let sql = "SELECT key_id, COUNT(*) AS codes, COUNT(DISTINCT user_id) AS users
                   FROM recovery_codes WHERE used_at IS NULL
                   GROUP BY key_id ORDER BY key_id";
        on_db!(self, |db| {
            let rows = sqlx::query(sql).fetch_all(&db.reads).await?;
            rows.iter()
                .map(|row| {
                    let count = |name| row.try_get::<i64, _>(name).map(|n| n.max(0) as u64);
                    Ok(CodesUnderKey {
                        key_id: row.try_get("key_id")?,
                        codes: count("codes")?,
                        users: count("users")?,
                    })
                })
                .collect()
        })
    }

    /// Records `key_id` for every unused recovery code that has none; how many.
    pub async fn record_recovery_key(&self, key_id: &str) -> Result<u64, StoreError> {
        let sql = "UPDATE recovery_codes SET key_id = $1 WHERE key_id IS NULL AND used_at IS NULL";
        let recorded = on_db!(self, |db| sqlx::query(sql)
            .bind(key_id)
            .execute(&db.writes)
            .await?
            .rows_affected());
        Ok(recorded)
    }
}
