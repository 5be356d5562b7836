//! Wakes long-polling `/auth/revocations` requests when a session ends in
//! this process. Ends in other processes (the CLI, other instances) are
//! found by the pollers' periodic re-read of the database.

use tokio::sync::watch;

#[derive(Clone)]
pub struct FeedSignal(watch::Sender<u64>);

impl Default for FeedSignal {
    fn default() -> Self {
        Self(watch::channel(0).0)
    }
}

impl FeedSignal {
    pub fn notify(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Subscribe *before* reading the database, so an end that lands between
    /// the read and the wait is not missed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}
