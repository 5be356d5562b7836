//! Wakes long-polling `/auth/revocations` requests when a session ends.
//!
//! Ends in this process wake the polls directly. Ends in other processes
//! (other instances, the CLI) reach them in one of two ways, chosen by the
//! store: on PostgreSQL each end is announced with NOTIFY and this instance's
//! listener (started in `startup.rs`) wakes the polls within milliseconds;
//! on SQLite nothing announces them, and the polls' periodic re-read of the
//! database is what finds them.

use std::time::Duration;

use tokio::sync::watch;

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
}

impl FeedSignal {
    /// `announced`: whether every process's ends will be announced through
    /// `notify` (see `Store::announces_revocations`).
    pub fn new(announced: bool) -> Self {
        Self {
            wakes: watch::channel(0).0,
            recheck: if announced { RECHECK_ANNOUNCED } else { RECHECK_UNANNOUNCED },
        }
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
