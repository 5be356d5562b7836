//! WAL checkpoints, off the writer.
//!
//! By default SQLite checkpoints inside the commit that grows the WAL past
//! 1,000 pages, and with `synchronous = NORMAL` a checkpoint syncs the WAL
//! and the database file: 1–5 ms here, several times a second under refresh
//! load, spent on the single writer every rotation waits for (p99 of refresh
//! grants at 1,000/s: 6–8 ms with p50 under 2 ms). So the writer never
//! checkpoints (`wal_autocheckpoint = 0`, see `SqliteStore::connect`) and
//! this task does it on a reader connection. A PASSIVE checkpoint takes no
//! lock the writer needs: it copies what no reader still uses and leaves the
//! rest for the next round, so the WAL stays bounded by about one interval
//! of writes.

use std::time::Duration;

use sqlx::SqlitePool;
use tokio::sync::mpsc;

const INTERVAL: Duration = Duration::from_millis(250);

/// Runs checkpoints until dropped (with the store that owns it).
#[derive(Debug, Clone)]
pub(super) struct Checkpointer {
    _alive: mpsc::Sender<()>,
}

impl Checkpointer {
    pub(super) fn start(pool: SqlitePool) -> Self {
        let (alive, mut stopped) = mpsc::channel::<()>(1);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(INTERVAL);
            let mut failing = false;
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    // Every handle is gone: the store was dropped.
                    _ = stopped.recv() => break,
                }
                if pool.is_closed() {
                    break;
                }
                // A failed round (a full disk, say) loses nothing: the frames
                // stay in the WAL, where readers find them, until one succeeds.
                match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
                    Ok(_) if failing => {
                        failing = false;
                        tracing::info!("WAL checkpoints succeed again");
                    }
                    Ok(_) => {}
                    // Said once per outage, not four times a second.
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "WAL checkpoint failed; retrying quietly");
                    }
                    Err(_) => {}
                }
            }
        });
        Self { _alive: alive }
    }
}
