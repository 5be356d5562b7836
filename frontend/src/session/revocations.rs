//! The set of sessions ended anywhere, kept current by following the
//! auth-api's long-poll feed. A session in the set is refused at once, even
//! while its cached access token would still verify. The feed also names
//! sessions whose tokens went stale (their user's roles changed): those
//! tokens, up to the time given, are refreshed rather than trusted.

use std::{
    collections::HashMap,
    sync::{Mutex, RwLock},
    time::{Duration, Instant},
};

use shared::Revocation;

use super::{
    feed::{self, POLL_WAIT, Position, Step},
    jwks::JwksCache,
};
use crate::{
    auth_client::{AuthClient, AuthError},
    clock::Clock,
};

const BACKOFF_MIN: Duration = Duration::from_millis(250);
/// Low, so that an auth-api back from a restart (perhaps on a restored
/// database) is followed again within a second: revocations made after it
/// came back must reach this frontend within 2 s. One request a second to an
/// auth-api that is down costs nothing.
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// The set is current if the feed answered this recently. A healthy feed
/// answers at least every `POLL_WAIT` seconds (an empty answer), so silence
/// beyond that plus slack means it is not being followed.
const CURRENT_FOR: Duration = Duration::from_secs(POLL_WAIT + 15);

/// What the feed said of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    /// After this no token of the session is valid anyway (Unix seconds).
    until: i64,
    /// `None`: the session ended. `Some(t)`: its tokens issued at or before
    /// `t` are stale.
    stale_before: Option<i64>,
}

pub struct RevokedSessions {
    entries: RwLock<HashMap<String, Entry>>,
    /// When the feed last answered (wall-clock, not the token clock).
    last_answer: Mutex<Option<Instant>>,
    /// Bumped whenever sessions end or go stale: what holds a session open
    /// beyond one request (a proxied WebSocket) waits on it, not polling.
    ended: tokio::sync::watch::Sender<u64>,
}

impl Default for RevokedSessions {
    fn default() -> Self {
        Self {
            entries: RwLock::default(),
            last_answer: Mutex::default(),
            ended: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl RevokedSessions {
    /// Whether the session ended.
    pub fn contains(&self, session_id: &str) -> bool {
        self.entry(session_id).is_some_and(|e| e.stale_before.is_none())
    }

    /// Whether a token of this session issued at `issued_at` must be
    /// refreshed before it is trusted (or the session ended).
    pub fn is_stale(&self, session_id: &str, issued_at: i64) -> bool {
        self.entry(session_id).is_some_and(|e| e.stale_before.is_none_or(|t| issued_at <= t))
    }

    /// Wakes on every change that may have ended a session or made its
    /// tokens stale; check [`is_stale`](Self::is_stale) then.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.ended.subscribe()
    }

    fn entry(&self, session_id: &str) -> Option<Entry> {
        self.entries.read().unwrap_or_else(|e| e.into_inner()).get(session_id).copied()
    }

    pub fn add(&self, revoked: &[Revocation], now: i64) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, e| e.until > now);
        for r in revoked {
            let new = Entry { until: r.until, stale_before: r.stale_before };
            let merged = match (entries.get(&r.sid), new.stale_before) {
                // An end is final; a later staleness note changes nothing.
                (Some(old), Some(_)) if old.stale_before.is_none() => *old,
                (Some(old), Some(t)) => Entry {
                    until: old.until.max(new.until),
                    stale_before: old.stale_before.map(|o| o.max(t)),
                },
                _ => new,
            };
            entries.insert(r.sid.clone(), merged);
        }
        drop(entries);
        if !revoked.is_empty() {
            self.ended.send_modify(|n| *n += 1);
        }
    }

    /// True while the feed is being followed; false before its first answer
    /// and after `CURRENT_FOR` of silence.
    pub fn is_current(&self) -> bool {
        self.last_answer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|t| t.elapsed() < CURRENT_FOR)
    }

    /// Records that the feed answered just now (the follower calls this).
    pub fn answered(&self) {
        *self.last_answer.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }

    /// The set may lack revocations until the feed answers again.
    pub fn lapse(&self) {
        *self.last_answer.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Follows the feed forever: each accepted answer is applied, then the next
/// poll resumes where it left the feed (see `feed` for when that is a full
/// reload). Signing keys the feed names as cut off are dropped from `jwks`
/// at once. Failures back off exponentially up to `BACKOFF_MAX`.
pub async fn follow(
    client: AuthClient,
    revoked: std::sync::Arc<RevokedSessions>,
    jwks: std::sync::Arc<JwksCache>,
    metrics: crate::metrics::Metrics,
    clock: Clock,
) {
    let mut position = Position::default();
    let mut backoff = BACKOFF_MIN;
    loop {
        let (query, wait) = position.next_poll();
        let answer = client
            .revocations(&query, wait)
            .await
            .and_then(|body| feed::parse(&body).map_err(|e| AuthError::Protocol(e.to_string())));
        match answer {
            Ok(answer) => {
                if !answer.revoked.is_empty() {
                    tracing::info!(
                        sessions = answer.revoked.len(),
                        "sessions ended or stale elsewhere"
                    );
                }
                // Added whatever the step: a refusal more is always safe.
                revoked.add(&answer.revoked, clock());
                jwks.retire(&client, &answer.retired_keys).await;
                // The auth-api answers: load its keys now rather than at the
                // first signed-in request, so the frontend is ready (`/readyz`)
                // before it is sent one.
                jwks.load_if_missing(&client).await;
                match position.apply(&answer) {
                    Step::Followed => {
                        revoked.answered();
                        metrics.feed_answered(clock());
                    }
                    // The next page is asked for at once; the set is
                    // current once the last has come.
                    Step::Paging => {}
                    Step::StartOver => {
                        // Revocations of the other history may be missing
                        // until the reload answers: not current until then.
                        revoked.lapse();
                        tracing::info!(
                            "the revocation feed has another history (a restarted auth-api or a \
                             restored database): reloading every revocation in force"
                        );
                    }
                }
                backoff = BACKOFF_MIN;
            }
            Err(e) => {
                // Refused (not merely unreachable): perhaps a position the
                // auth-api cannot read; start over from everything in force.
                if !matches!(e, AuthError::Unavailable(_)) {
                    position = Position::default();
                }
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "revocation feed unavailable");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_is_current_only_once_the_feed_has_answered() {
        let set = RevokedSessions::default();
        assert!(!set.is_current(), "before the first answer the set proves nothing");
        set.answered();
        assert!(set.is_current());
        *set.last_answer.lock().unwrap() = Some(Instant::now() - CURRENT_FOR);
        assert!(!set.is_current(), "silence beyond CURRENT_FOR makes it stale");
        set.answered();
        set.lapse();
        assert!(!set.is_current(), "another history: not current until it is reloaded");
    }

    #[test]
    fn ended_sessions_are_forgotten_once_their_tokens_are_dead() {
        let set = RevokedSessions::default();
        set.add(&[Revocation::ended("a", 100)], 0);
        assert!(set.contains("a"));
        assert!(set.is_stale("a", 99), "an ended session's tokens are never trusted");
        set.add(&[], 101);
        assert!(!set.contains("a"));
    }

    #[test]
    fn stale_tokens_are_refreshed_but_the_session_lives_and_an_end_is_final() {
        let set = RevokedSessions::default();
        let stale = |sid: &str, t: i64| Revocation {
            sid: sid.into(),
            until: t + 300,
            stale_before: Some(t),
        };
        set.add(&[stale("a", 50)], 0);
        assert!(!set.contains("a"), "stale is not ended");
        assert!(set.is_stale("a", 50) && set.is_stale("a", 10));
        assert!(!set.is_stale("a", 51), "a token issued after the change is trusted");
        set.add(&[stale("a", 70)], 0);
        assert!(set.is_stale("a", 60), "the later change counts");
        set.add(&[Revocation::ended("a", 400)], 0);
        set.add(&[stale("a", 80)], 0);
        assert!(set.contains("a"), "an end is not undone by a later staleness note");
        assert!(!set.is_stale("b", 0));
    }
}
