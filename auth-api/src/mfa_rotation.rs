//! Rotating `MFA_ENCRYPTION_KEY` with no outage (the steps are in
//! `docs/operations.md`). The variable lists the new key first and the old
//! one after it; every instance then seals and HMACs under the new key and
//! still opens and verifies under both. `auth-api mfa rekey` re-seals every
//! authenticator-app key under the new key, a bounded batch per transaction.
//! Recovery codes cannot be re-HMAC'd (only their hashes are kept), so
//! `auth-api mfa status` counts those still under older keys: an old key
//! stays listed until nothing depends on it (each such code used, or its
//! user's set regenerated), or the operator accepts that those codes stop.
//!
//! This module reports and re-seals; it never decides to drop a key.

use std::fmt;

use crate::{
    mfa::key::{KeyId, MfaKeys, OpenError, SealedBy},
    store::{CodesUnderKey, Reseal, Store, StoreError},
};

/// Authenticator-app keys re-sealed per transaction unless told otherwise.
pub const DEFAULT_BATCH: i64 = 200;
/// User ids named in a report, at most (the rest are counted).
const NAMED: usize = 10;

/// Records the only key's id for the unused recovery codes that have none
/// (made before key ids were recorded, by the one key configured then: a
/// version that knew no lists had one key). With several keys listed,
/// which one made them cannot be told, so they stay unrecorded.
pub async fn record_single_key(store: &Store, keys: &MfaKeys) -> Result<u64, StoreError> {
    match keys.len() {
        1 => store.record_recovery_key(&keys.current().id().to_string()).await,
        _ => Ok(0),
    }
}

/// What depends on which key.
#[derive(Debug)]
pub struct Status {
    current: KeyId,
    older: Vec<KeyId>,
    totp: TotpTally,
    recovery: Vec<CodesUnderKey>,
}

#[derive(Debug, Default)]
struct TotpTally {
    current: u64,
    /// Under an older key, or from before key ids: `mfa rekey` re-seals them.
    to_reseal: u64,
    /// Sealed under no listed key (or altered): their apps stopped working.
    lost: Vec<(String, OpenError)>,
}

/// What `mfa rekey` did, and the status after it.
#[derive(Debug)]
pub struct Rekeyed {
    resealed: u64,
    /// Changed by their user while being re-sealed; left as the user made them.
    changed_meanwhile: u64,
    status: Status,
}

/// What depends on which key. With a single key listed it first records
/// that key for the unrecorded recovery codes, as every start does.
pub async fn status(store: &Store, keys: &MfaKeys) -> Result<Status, StoreError> {
    record_single_key(store, keys).await?;
    let mut totp = TotpTally::default();
    let mut after = String::new();
    loop {
        let page = store.totp_keys_after(&after, DEFAULT_BATCH).await?;
        let Some((last, _)) = page.last() else { break };
        after = last.clone();
        for (user_id, sealed) in page {
            match keys.sealed_by(&sealed) {
                SealedBy::Current => totp.current += 1,
                SealedBy::Other(id) if !keys.ids().any(|k| k == id) => {
                    totp.lost.push((user_id, OpenError::UnknownKey(id)));
                }
                // Whether it opens is only known by trying.
                _ => match keys.open(&user_id, &sealed) {
                    Ok(_) => totp.to_reseal += 1,
                    Err(e) => totp.lost.push((user_id, e)),
                },
            }
        }
    }
    Ok(Status {
        current: keys.current().id(),
        older: keys.ids().skip(1).collect(),
        totp,
        recovery: store.unused_recovery_codes_by_key().await?,
    })
}

/// Re-seals every authenticator-app key not yet under the current key,
/// `batch` users per transaction. Safe to run again, and beside running
/// instances (each change is conditional on the value it replaces).
pub async fn rekey(store: &Store, keys: &MfaKeys, batch: i64) -> Result<Rekeyed, StoreError> {
    let mut resealed = 0;
    let mut changed_meanwhile = 0;
    let mut after = String::new();
    loop {
        let page = store.totp_keys_after(&after, batch).await?;
        let Some((last, _)) = page.last() else { break };
        after = last.clone();
        let changes: Vec<Reseal> = page
            .into_iter()
            .filter(|(_, sealed)| keys.sealed_by(sealed) != SealedBy::Current)
            .filter_map(|(user_id, old)| {
                // One that does not open is left as it is (`status` names it).
                let secret = keys.open(&user_id, &old).ok()?;
                let new = keys.seal(&user_id, &secret);
                Some(Reseal { user_id, old, new })
            })
            .collect();
        let changed = store.reseal_totp_keys(&changes).await?;
        resealed += changed;
        changed_meanwhile += changes.len() as u64 - changed;
    }
    Ok(Rekeyed { resealed, changed_meanwhile, status: status(store, keys).await? })
}

impl Status {
    /// Whether anything still depends on a key other than the current one.
    pub fn older_keys_needed(&self) -> bool {
        self.totp.to_reseal > 0 || self.recovery.iter().any(|c| !self.is_current(c))
    }

    fn is_current(&self, codes: &CodesUnderKey) -> bool {
        codes.key_id.as_deref() == Some(self.current.to_string().as_str())
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let older: Vec<String> = self.older.iter().map(KeyId::to_string).collect();
        writeln!(f, "current key: {}", self.current)?;
        match older.is_empty() {
            true => writeln!(f, "older keys listed: none")?,
            false => writeln!(f, "older keys listed: {}", older.join(", "))?,
        }
        let t = &self.totp;
        writeln!(
            f,
            "authenticator apps: {} under the current key, {} to re-seal (`auth-api mfa rekey`), \
             {} that open under no listed key",
            t.current,
            t.to_reseal,
            t.lost.len()
        )?;
        for (user_id, why) in t.lost.iter().take(NAMED) {
            writeln!(f, "  user {user_id}: {why}")?;
        }
        if t.lost.len() > NAMED {
            writeln!(f, "  … and {} more", t.lost.len() - NAMED)?;
        }
        writeln!(f, "unused recovery codes, by the key that made them:")?;
        if self.recovery.is_empty() {
            writeln!(f, "  none")?;
        }
        for codes in &self.recovery {
            let whose = match codes.key_id.as_deref() {
                None => "made before key ids were recorded (by the key configured then)".into(),
                Some(_) if self.is_current(codes) => "current key".to_owned(),
                Some(id) if older.iter().any(|o| o == id) => format!("older key {id} (listed)"),
                Some(id) => format!("key {id}, no longer listed: these codes no longer work"),
            };
            writeln!(f, "  {whose}: {} code(s) of {} user(s)", codes.codes, codes.users)?;
        }
        if self.older_keys_needed() {
            write!(
                f,
                "older keys are still needed: keep them listed after the current one until the \
                 counts above are 0 (re-seal the apps; recovery codes go when used or regenerated), \
                 or accept that the codes left stop working"
            )
        } else {
            write!(f, "nothing depends on an older key: it can be removed from MFA_ENCRYPTION_KEY")
        }
    }
}

impl fmt::Display for Rekeyed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "re-sealed {} authenticator-app key(s) under key {}",
            self.resealed, self.status.current
        )?;
        if self.changed_meanwhile > 0 {
            writeln!(
                f,
                "{} changed by their users meanwhile (left as they are; run again to check)",
                self.changed_meanwhile
            )?;
        }
        write!(f, "{}", self.status)
    }
}
