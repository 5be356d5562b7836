//! The session lifecycle: sign-in, refresh-token rotation with a grace window
//! and reuse detection, and the ways a session ends.
//!
//! Rules, each enforced here and nowhere else:
//! - every successful sign-in starts a *new* session with a new refresh token
//!   (never reusing one defeats session fixation);
//! - a session is live until it is ended, idles for `SESSION_IDLE_TTL`, or
//!   reaches `SESSION_ABSOLUTE_TTL` after sign-in;
//! - each refresh rotates the token; the rotated-out token, presented again
//!   within `REFRESH_REUSE_GRACE`, gets the same successor (two tabs racing
//!   both succeed); after that it is treated as stolen and ends the session;
//! - every early end is published on the revocation feed until the last
//!   access token of that session has expired.

use shared::{TokenResponse, UserInfo};

use crate::{
    domain::EndReason,
    error::ApiError,
    state::AppState,
    store::{NewSession, Rotation, UserRecord},
    throttle::{self, LoginThrottle},
    tokens::{
        access,
        refresh::{self, RefreshToken},
    },
};

/// A password grant, as parsed from the request.
pub struct Login {
    pub username: String,
    pub password: String,
    pub remember: bool,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

pub async fn login(state: &AppState, login: Login) -> Result<TokenResponse, ApiError> {
    if login.password.len() > crate::domain::Password::MAX_BYTES {
        return Err(ApiError::InvalidRequest("password is longer than 1024 bytes".into()));
    }
    let now = state.now();
    let limiter = LoginThrottle { store: &state.store, settings: state.settings.throttle };
    let keys = throttle::Keys::new(&login.username, login.ip.as_deref());
    if let Err(err) = limiter.check(&keys, now).await {
        state.metrics.login("throttled");
        return Err(err);
    }

    // Unknown and malformed usernames take the same path as wrong passwords:
    // same queries, one argon2 verification (of a dummy hash), same answer.
    let user = match crate::domain::Username::parse(&login.username) {
        Ok(name) => state.store.find_user_by_name(&name).await?,
        Err(_) => None,
    };
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let ok = match state.passwords.verify(login.password, stored, limiter.check(&keys, now)).await {
        Ok(ok) => ok,
        Err(err) => {
            if matches!(err, ApiError::RateLimited { .. }) {
                state.metrics.login("throttled");
            }
            return Err(err);
        }
    };
    let Some(user) = user.filter(|_| ok) else {
        limiter.failed(&keys, now).await?;
        state.metrics.login("failed");
        tracing::info!("login failed");
        return Err(ApiError::InvalidGrant);
    };
    limiter.succeeded(&keys).await?;

    let session = NewSession {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user.id.clone(),
        now,
        expires_at: now + state.settings.session_absolute_ttl,
        remember: login.remember,
        user_agent: login.user_agent.map(|ua| truncate(&ua, 512)),
        ip: login.ip.filter(|ip| ip.parse::<std::net::IpAddr>().is_ok()),
    };
    let (refresh_token, hash) = RefreshToken::mint();
    state.store.create_session(&session, &hash).await?;
    state.metrics.login("ok");
    tracing::info!(user_id = %user.id, session_id = %session.id, "login succeeded; session started");
    respond(state, &user, &session.id, session.expires_at, session.remember, refresh_token, now)
}

pub async fn refresh(state: &AppState, presented: &str) -> Result<TokenResponse, ApiError> {
    let now = state.now();
    let policy = state.policy();
    let old_hash = refresh::hash(presented);
    // Two passes at most: a lost rotation race re-reads and takes the grace path.
    for _ in 0..2 {
        let Some(record) = state.store.find_refresh(&old_hash).await? else {
            state.metrics.refresh("failed");
            return Err(ApiError::InvalidGrant);
        };
        let session = &record.session;
        if !policy.is_live(session, now) {
            state.metrics.refresh("failed");
            return Err(ApiError::InvalidGrant);
        }
        match record.rotated_at {
            None => {
                let (successor, new_hash, sealed) = refresh::mint_successor(presented);
                match state
                    .store
                    .rotate_refresh(&old_hash, &new_hash, &sealed, &session.id, now)
                    .await?
                {
                    Rotation::Rotated => {
                        state.metrics.refresh("rotated");
                        return respond(
                            state,
                            &record.user,
                            &session.id,
                            session.expires_at,
                            session.remember,
                            successor,
                            now,
                        );
                    }
                    Rotation::AlreadyRotated => continue,
                    Rotation::SessionEnded => {
                        state.metrics.refresh("failed");
                        return Err(ApiError::InvalidGrant);
                    }
                }
            }
            // Strictly less: the clock counts whole seconds, so `<=` would
            // forgive up to a second past the window, and a grace of 0 would
            // still forgive a reuse within the same second.
            Some(rotated_at) if now - rotated_at < policy.grace => {
                let successor = record
                    .successor_sealed
                    .as_deref()
                    .zip(record.successor_hash.as_deref())
                    .and_then(|(sealed, hash)| refresh::open_successor(presented, sealed, hash))
                    .ok_or_else(|| {
                        ApiError::Internal("rotated token without a readable successor".into())
                    })?;
                state.store.touch_session(&session.id, now).await?;
                state.metrics.refresh("grace");
                return respond(
                    state,
                    &record.user,
                    &session.id,
                    session.expires_at,
                    session.remember,
                    successor,
                    now,
                );
            }
            Some(_) => {
                // The legitimate client moved on long ago, so whoever holds
                // this token copied it: end the session for everyone holding
                // any of its tokens, the thief included.
                end(state, &session.id, EndReason::RefreshReuse).await?;
                state.metrics.reuse_detected();
                state.metrics.refresh("reuse");
                tracing::warn!(
                    target: "security",
                    user_id = %session.user_id,
                    session_id = %session.id,
                    "refresh token reused after the grace window; session ended"
                );
                return Err(ApiError::InvalidGrant);
            }
        }
    }
    Err(ApiError::Internal("refresh rotation kept losing races".into()))
}

/// RFC 7009: ends the session the refresh token belongs to. Unknown tokens are
/// not an error (the caller's goal, "this token is dead", holds).
pub async fn revoke_refresh_token(state: &AppState, presented: &str) -> Result<(), ApiError> {
    if let Some(record) = state.store.find_refresh(&refresh::hash(presented)).await? {
        end(state, &record.session.id, EndReason::Logout).await?;
    }
    Ok(())
}

/// Ends one session and wakes the revocation feed. `false` if already ended.
pub async fn end(state: &AppState, session_id: &str, reason: EndReason) -> Result<bool, ApiError> {
    let now = state.now();
    let ended =
        state.store.end_session(session_id, reason, now, state.policy().revoked_until(now)).await?;
    if ended {
        state.metrics.revoked(1);
        state.feed.notify();
        tracing::info!(session_id, reason = reason.as_str(), "session ended");
    }
    Ok(ended)
}

pub async fn end_all_of_user(
    state: &AppState,
    user_id: &str,
    reason: EndReason,
) -> Result<u64, ApiError> {
    let now = state.now();
    let ended = state
        .store
        .end_user_sessions(user_id, reason, now, state.policy().revoked_until(now))
        .await?;
    if ended > 0 {
        state.metrics.revoked(ended);
        state.feed.notify();
        tracing::info!(user_id, ended, reason = reason.as_str(), "sessions ended");
    }
    Ok(ended)
}

fn respond(
    state: &AppState,
    user: &UserRecord,
    session_id: &str,
    session_expires_at: i64,
    remember: bool,
    refresh_token: RefreshToken,
    now: i64,
) -> Result<TokenResponse, ApiError> {
    let subject = access::Subject {
        user_id: &user.id,
        username: &user.username,
        roles: &user.roles,
        session_id,
    };
    let ttl = state.settings.access_token_ttl;
    let access_token = access::sign(&state.keys.snapshot(), &state.audience(), &subject, now, ttl)?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: ttl as u64,
        refresh_token: refresh_token.into_string(),
        session_id: session_id.to_owned(),
        session_expires_at,
        remember,
        user: UserInfo {
            sub: user.id.clone(),
            username: user.username.clone(),
            roles: user.roles.clone(),
        },
    })
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}
