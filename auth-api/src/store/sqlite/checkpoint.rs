//! WAL checkpoints, mostly off the writer.
//!
//! By default SQLite checkpoints inside the commit that grows the WAL past
//! 1,000 pages, and with `synchronous = NORMAL` a checkpoint syncs the WAL
//! and the database file: 1–5 ms here, several times a second under refresh
//! load, spent on the single writer every rotation waits for (p99 of refresh
//! grants at 1,000/s: 6–8 ms with p50 under 2 ms). So the writer does not
//! checkpoint by itself (`wal_autocheckpoint = 0`, see `Db::<Sqlite>::connect`);
//! this task does, in two steps:
//!
//! 1. Every `INTERVAL`, a PASSIVE checkpoint on a reader connection copies
//!    committed pages into the database file. It takes no lock the writer
//!    needs, so writes go on meanwhile.
//! 2. Step 1 alone never finishes under sustained writes (new frames arrive
//!    while it copies), and SQLite only starts the WAL over once a
//!    checkpoint has caught up: measured at 5,000 grants/s the WAL grew by
//!    70 MB a second until the disk was full. So once the WAL holds more than
//!    `WAL_LIMIT_PAGES`, a RESTART checkpoint runs on the *writer's*
//!    connection: no write can land while it holds it, it catches up (step 1
//!    has copied nearly everything already, so it is short), and it waits
//!    for readers still on old frames so that the next write starts the WAL
//!    over — but only `RESTART_WAIT`, so a long read costs the writer a few
//!    milliseconds, not the 5 s busy timeout; if it gives up, the next round
//!    tries again. `journal_size_limit` then trims the file.

use std::time::Duration;

use sqlx::SqlitePool;
use tokio::sync::mpsc;

const INTERVAL: Duration = Duration::from_millis(100);

/// About 16 MiB of 4 KiB pages.
const WAL_LIMIT_PAGES: i64 = 4096;

/// How long the writer-side checkpoint waits for readers.
const RESTART_WAIT: Duration = Duration::from_millis(20);

/// What the WAL file is trimmed to when SQLite starts it over (bytes).
pub(super) const WAL_SIZE_LIMIT: &str = "16777216";

/// Runs checkpoints until dropped (with the store that owns it).
#[derive(Debug, Clone)]
pub(super) struct Checkpointer {
    _alive: mpsc::Sender<()>,
}

impl Checkpointer {
    /// `busy_timeout` is the writer's own, restored after each catch-up.
    pub(super) fn start(readers: SqlitePool, writer: SqlitePool, busy_timeout: Duration) -> Self {
        let (alive, mut stopped) = mpsc::channel::<()>(1);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    // Every handle is gone: the store was dropped.
                    _ = stopped.recv() => break,
                }
                if readers.is_closed() || writer.is_closed() {
                    break;
                }
                // A failed round (a full disk, say) loses nothing: the frames
                // stay in the WAL, where readers find them, until one succeeds.
                match round(&readers, &writer, busy_timeout).await {
                    Ok(()) if failing => {
                        failing = false;
                        tracing::info!("WAL checkpoints succeed again");
                    }
                    Ok(()) => {}
                    // Said once per outage, not ten times a second.
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

async fn round(
    readers: &SqlitePool,
    writer: &SqlitePool,
    writer_busy_timeout: Duration,
) -> Result<(), sqlx::Error> {
    // (busy, pages in the WAL, pages copied); -1s when not in WAL mode.
    let (_busy, wal_pages, _copied): (i64, i64, i64) =
        sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(readers).await?;
    if wal_pages > WAL_LIMIT_PAGES {
        let mut conn = writer.acquire().await?;
        let busy_timeout = |wait: Duration| format!("PRAGMA busy_timeout = {}", wait.as_millis());
        sqlx::query(&busy_timeout(RESTART_WAIT)).execute(&mut *conn).await?;
        let restarted = sqlx::query("PRAGMA wal_checkpoint(RESTART)").execute(&mut *conn).await;
        // Restore the timeout whatever happened: every write waits by it.
        sqlx::query(&busy_timeout(writer_busy_timeout)).execute(&mut *conn).await?;
        restarted?;
    }
    Ok(())
}
