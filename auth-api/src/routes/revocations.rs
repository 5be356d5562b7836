use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use shared::RevocationFeed;

use crate::{error::ApiError, extract::ClientAuth, feed::keys_tag, state::AppState};

#[derive(Debug, Deserialize)]
pub struct FeedQuery {
    after: Option<String>,
    /// The epoch of the reader's cursor: another one answers at once.
    epoch: Option<String>,
    /// The `keys` the reader last saw: another one answers at once.
    keys: Option<String>,
    wait: Option<u64>,
}

/// Longest a poll may be held open, in seconds.
const MAX_WAIT: u64 = 30;
const PAGE: i64 = 1000;

/// `GET /auth/revocations?after=CURSOR&epoch=EPOCH&keys=KEYS&wait=SECONDS`:
/// answers at once when anything happened after the cursor, when the
/// reader's epoch or key list is out of date, or when its cursor is beyond
/// the feed's head (a restored database); otherwise holds the request until
/// one of these happens or `wait` (at most 30 s) passes.
pub async fn feed(
    _client: ClientAuth,
    state: web::Data<AppState>,
    query: web::Query<FeedQuery>,
) -> Result<HttpResponse, ApiError> {
    let cursor = match query.after.as_deref() {
        None | Some("") => 0,
        Some(raw) => raw.parse::<i64>().ok().filter(|c| *c >= 0).ok_or_else(|| {
            ApiError::InvalidRequest("`after` must be a cursor from an earlier answer".into())
        })?,
    };
    let wait = Duration::from_secs(query.wait.unwrap_or(0).min(MAX_WAIT));
    let deadline = tokio::time::Instant::now() + wait;
    let mut signal = state.feed.subscribe();
    loop {
        let now = state.now();
        // A cut-off key is named while a token it signed could still be live
        // (the same margin the key ring keeps retired keys for).
        let (epoch, retired_keys) =
            state.store.feed_state(now - state.settings.access_token_ttl - 60).await?;
        let (revoked, next) = state.store.revocations_after(cursor, now, PAGE).await?;
        let keys = keys_tag(&retired_keys);
        let loaded = state.keys.snapshot();
        if retired_keys.iter().any(|kid| loaded.verifiers.contains_key(kid)) {
            // The key was cut off since this instance's last reload: reload
            // before telling readers, so the JWKS they fetch next from here
            // lacks it and this instance refuses its tokens too.
            state.keys.reload(&state.store, now).await?;
        }
        let stale =
            |theirs: &Option<String>, ours: &str| theirs.as_deref().is_some_and(|t| t != ours);
        let news = next != cursor || stale(&query.epoch, &epoch) || stale(&query.keys, &keys);
        let done = tokio::time::Instant::now() >= deadline || state.feed.is_closing();
        if news || done {
            // A full page may have stopped short of the head. Ids are
            // distinct and above the cursor, so a full page ends at least a
            // page past it (gaps in the ids can make this say `more` when
            // there is none: one more poll, answered at once).
            let more = next - cursor >= PAGE;
            let feed = RevocationFeed {
                epoch,
                cursor: next.to_string(),
                keys,
                revoked,
                retired_keys,
                more,
            };
            return Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(feed));
        }
        let nap = (deadline - tokio::time::Instant::now()).min(state.feed.recheck());
        // Either an end wakes us (see `feed`), or the nap ends and we re-read.
        let _ = tokio::time::timeout(nap, signal.changed()).await;
    }
}
