//! LISTEN/NOTIFY: every instance learns within milliseconds of a session end
//! committed by any other, so its revocation-feed polls answer at once.

use std::time::Duration;

use sqlx::{PgPool, postgres::PgListener};

/// The NOTIFY channel on which session ends are announced (per database).
pub(super) const CHANNEL: &str = "cloakroom_revocations";

/// The listener's reconnection delays: doubling from the first to the last.
const RECONNECT_FIRST: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(10);
/// A listener connection that lasted this long resets the delay.
const RECONNECT_STABLE: Duration = Duration::from_secs(30);

pub(super) async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Calls `wake` for every announcement; when the connection is lost, logs,
/// reconnects with a growing delay and wakes once more (announcements made
/// while it was away are lost; the pollers' re-read finds their rows). Ends
/// only when the pool is closed, or when the task is dropped.
pub(super) async fn follow_announcements(pool: PgPool, listener: PgListener, wake: impl Fn()) {
    let mut listener = Some(listener);
    let mut delay = RECONNECT_FIRST;
    loop {
        let mut current = match listener.take() {
            Some(current) => current,
            None => match listen(&pool).await {
                Ok(current) => {
                    tracing::info!("revocation listener reconnected");
                    wake();
                    current
                }
                Err(sqlx::Error::PoolClosed) => return,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?delay, "revocation listener cannot reconnect");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(RECONNECT_MAX);
                    continue;
                }
            },
        };
        let up_since = tokio::time::Instant::now();
        let error = loop {
            match current.try_recv().await {
                Ok(Some(_)) => wake(),
                // sqlx noticed the loss and has already reconnected and
                // listens again; what was announced meanwhile is lost.
                Ok(None) => {
                    tracing::warn!("revocation listener lost its connection; reconnected");
                    wake();
                }
                Err(e) => break e,
            }
        };
        drop(current);
        if matches!(error, sqlx::Error::PoolClosed) {
            return;
        }
        if up_since.elapsed() >= RECONNECT_STABLE {
            delay = RECONNECT_FIRST;
        }
        tracing::warn!(error = %error, retry_in = ?delay, "revocation listener lost its connection");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(RECONNECT_MAX);
    }
}
