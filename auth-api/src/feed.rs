//! Wakes long-polling `/auth/revocations` requests when a session ends,
//! and names what the feed says besides revocations: its epoch and the keys
//! cut off.
//!
//! Ends in this process wake the polls directly. Ends in other processes
//! (other instances, the CLI) reach them in one of two ways, chosen by the
//! store: on PostgreSQL each end is announced with NOTIFY and this instance's
//! listener (started in `startup.rs`) wakes the polls within milliseconds;
//! on SQLite nothing announces them, and the polls' periodic re-read of the
//! database is what finds them.

use std::{
    fmt::Write as _,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::tokens::random_bytes;

/// A fresh feed epoch: 128 random bits, hex. Each auth-api sets one as it
/// starts (`Store::renew_feed_epoch`): restoring a database means starting
/// the auth-api on it, so a restored copy, which kept its backup's epoch and
/// hands out its backup's ids again, always shows a new epoch to readers.
pub fn new_epoch() -> String {
    hex(&random_bytes::<16>())
}

/// The feed's `keys`: changes whenever the list of keys cut off does, so a
/// poll that names the list it knows answers at once when it changed.
pub fn keys_tag(retired: &[String]) -> String {
    let mut digest = Sha256::new();
    for kid in retired {
        digest.update(kid.as_bytes());
        digest.update(b"\n");
    }
    hex(&digest.finalize()[..8])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// How often a waiting poll re-reads the database when ends made elsewhere
/// are not announced (SQLite): this bounds how late they are seen.
const RECHECK_UNANNOUNCED: Duration = Duration::from_millis(500);
/// The same with announcements (PostgreSQL): only a safety net for those lost
/// while the listener was reconnecting, so rare that it costs nothing.
const RECHECK_ANNOUNCED: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct FeedSignal {
    wakes: watch::Sender<u64>,
    recheck: Duration,
    closing: Arc<AtomicBool>,
}

impl FeedSignal {
    /// `announced`: whether every process's ends will be announced through
    /// `notify` (see `Store::announces_revocations`).
    pub fn new(announced: bool) -> Self {
        Self {
            wakes: watch::channel(0).0,
            recheck: if announced { RECHECK_ANNOUNCED } else { RECHECK_UNANNOUNCED },
            closing: Arc::default(),
        }
    }

    /// The server is stopping: every waiting poll answers now with what it
    /// has (readers poll again, elsewhere), and new ones do not wait, so a
    /// graceful stop is not held up to `MAX_WAIT` by readers with no news.
    pub fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.notify();
    }

    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    pub fn notify(&self) {
        self.wakes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Subscribe *before* reading the database, so an end that lands between
    /// the read and the wait is not missed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.wakes.subscribe()
    }

    /// How long a waiting poll may sleep before it re-reads the database.
    pub fn recheck(&self) -> Duration {
        self.recheck
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stopping server's waiting polls are woken, not left to their nap.
    #[tokio::test]
    async fn closing_wakes_every_waiting_poll() {
        let feed = FeedSignal::new(false);
        let mut waiting = feed.subscribe();
        assert!(!feed.is_closing());
        feed.close();
        tokio::time::timeout(Duration::from_millis(100), waiting.changed())
            .await
            .expect("woken at once")
            .expect("the feed lives");
        assert!(feed.is_closing());
    }

    #[test]
    fn epochs_are_random_and_the_keys_tag_follows_the_list() {
        assert_ne!(new_epoch(), new_epoch());
        assert_eq!(new_epoch().len(), 32);
        let none = keys_tag(&[]);
        let one = keys_tag(&["a".into()]);
        assert_ne!(none, one);
        assert_eq!(one, keys_tag(&["a".into()]));
        assert_ne!(keys_tag(&["ab".into()]), keys_tag(&["a".into(), "b".into()]));
    }
}
