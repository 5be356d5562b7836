use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use shared::RevocationFeed;

use crate::{error::ApiError, extract::ClientAuth, state::AppState};

#[derive(Debug, Deserialize)]
pub struct FeedQuery {
    after: Option<String>,
    wait: Option<u64>,
}

/// Longest a poll may be held open, in seconds.
const MAX_WAIT: u64 = 30;
const PAGE: i64 = 1000;

/// `GET /auth/revocations?after=CURSOR&wait=SECONDS`: answers at once when
/// anything happened after the cursor, otherwise holds the request until
/// something does or `wait` (at most 30 s) passes.
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
        let (revoked, next) = state.store.revocations_after(cursor, state.now(), PAGE).await?;
        let now = tokio::time::Instant::now();
        if next != cursor || now >= deadline {
            return Ok(HttpResponse::Ok()
                .insert_header(("Cache-Control", "no-store"))
                .json(RevocationFeed { cursor: next.to_string(), revoked }));
        }
        let nap = (deadline - now).min(state.feed.recheck());
        // Either an end wakes us (see `feed`), or the nap ends and we re-read.
        let _ = tokio::time::timeout(nap, signal.changed()).await;
    }
}
