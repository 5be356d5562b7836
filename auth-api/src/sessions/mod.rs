//! The session lifecycle: sign-in, refresh-token rotation with a grace window
//! and reuse detection, and the ways a session ends.
//!
//! Rules, each enforced here and nowhere else:
//! - every successful sign-in starts a *new* session with a new refresh token
//!   (never reusing one defeats session fixation);
//! - a session is live until it is ended, idles for `SESSION_IDLE_TTL`, or
//!   reaches `SESSION_ABSOLUTE_TTL` after sign-in (`REMEMBER_IDLE_TTL` and
//!   `REMEMBER_ABSOLUTE_TTL` when the user asked to be remembered), and no
//!   access token outlives its session's absolute end;
//! - each refresh rotates the token. The rotated-out token, presented again
//!   while its successor has never been used, gets that same successor, at
//!   any time: its answer was lost, or two tabs raced. Once the successor has
//!   been used, the old token in anyone's hands is a copy, and presenting it
//!   ends the session (the reasoning, and what an attacker can still do, is
//!   in DESIGN.md, "Refresh-token rotation");
//! - a user has at most `MAX_SESSIONS_PER_USER` live sessions: a sign-in
//!   beyond that ends the oldest (`superseded`);
//! - every early end is published on the revocation feed until the last
//!   access token of that session has expired;
//! - each of these events is written to the audit log (`audit`).

pub mod passkey;
pub mod second_factor;

use shared::{TokenResponse, UserInfo, mfa::amr};

use crate::{
    audit::{self, Actor, Event},
    domain::{EndReason, EventKind},
    error::ApiError,
    state::AppState,
    store::{FirstRefresh, NewSession, RefreshRecord, Rotate, SessionRecord, UserRecord},
    throttle::{self, LoginThrottle},
    tokens::{
        access,
        refresh::{self, Presented, RefreshToken, Verdict},
    },
};

/// A password grant, as parsed from the request.
pub struct Login {
    pub username: String,
    pub password: String,
    pub remember: bool,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// The id of this browser's device cookie for this username, when the
    /// frontend found a valid one (see `throttle`).
    pub device: Option<String>,
}

pub async fn login(state: &AppState, login: Login) -> Result<TokenResponse, ApiError> {
    if login.password.len() > crate::domain::Password::MAX_BYTES {
        return Err(ApiError::InvalidRequest("password is longer than 1024 bytes".into()));
    }
    let now = state.now();
    let limiter = LoginThrottle { store: &state.store, settings: state.settings.throttle };
    let client_ip = login.ip.as_deref().and_then(|ip| ip.parse::<std::net::IpAddr>().ok());
    let keys = throttle::Keys::new(&login.username, client_ip, login.device.as_deref());
    let user_agent = login.user_agent.map(|ua| truncate(&ua, 512));
    let ip = client_ip.map(|ip| ip.to_string());
    // Unknown and malformed usernames take the same path as wrong passwords:
    // same queries, one argon2 verification (of a dummy hash), same answer.
    let user = match crate::domain::Username::parse(&login.username) {
        Ok(name) => state.store.find_user_by_name(&name).await?,
        Err(_) => None,
    };
    let failure = |reason: &str| {
        let event =
            Event::new(EventKind::SignInFailed, now).client(ip.as_deref(), user_agent.as_deref());
        // The name typed is recorded only when it is a user's: otherwise it
        // may well be a password typed into the wrong field.
        match &user {
            Some(user) => event.user(user).detail(reason),
            None => event.detail(format!("{reason}; unknown user")),
        }
    };
    // Checked again once the verification has a core (see `Passwords`):
    // attempts queued behind others must not all slip past a limit.
    let verified = match limiter.check(&keys, now).await {
        Ok(judged) => {
            let stored = user.as_ref().map(|u| u.password_hash.clone());
            let admit = async { limiter.check(&keys, now).await.map(|_| ()) };
            state.passwords.verify(login.password, stored, admit).await.map(|ok| (ok, judged))
        }
        Err(err) => Err(err),
    };
    let (ok, judged) = match verified {
        Ok(verified) => verified,
        Err(err) => {
            if matches!(err, ApiError::RateLimited { .. }) {
                state.metrics.login("throttled");
                // Refusals are cheap by design, so each is not a row: the
                // log (and the disk) must not be the attacker's to fill.
                // A user's account shows the first of each window; the
                // metric counts them all.
                if let Some(user) = &user {
                    let kind = EventKind::SignInFailed.as_str();
                    let since = now - state.settings.throttle.window;
                    if !state.store.has_event_since(&user.id, kind, "throttled", since).await? {
                        audit::record(&state.store, failure("throttled")).await?;
                    }
                }
            }
            return Err(err);
        }
    };
    let Some(user) = user.as_ref().filter(|u| ok && !u.disabled) else {
        // A disabled user gets the wrong password's answer, and it counts
        // like one: nothing tells an attacker the password was right.
        limiter.failed(&keys, judged, now).await?;
        state.metrics.login("failed");
        let disabled = ok && user.as_ref().is_some_and(|u| u.disabled);
        let reason = if disabled { "disabled" } else { "bad_credentials" };
        audit::record(&state.store, failure(reason)).await?;
        tracing::info!("login failed");
        return Err(ApiError::InvalidGrant);
    };
    let client = Client { user_agent, ip };
    // With a second factor, the right password opens nothing yet: a pending
    // sign-in waits for the factor. The failure counters stay as they are
    // until then, or a stolen password would reset them before each round
    // of guessed codes.
    if state.store.has_second_factor(&user.id).await? {
        let device = login.device.as_deref();
        return Err(second_factor::challenge(state, user, &client, login.remember, device).await);
    }
    limiter.succeeded(&keys).await?;
    let verified = Verified { hash: &user.password_hash, amr: &[amr::PASSWORD] };
    start(state, user, verified, login.remember, client).await
}

/// Where a sign-in comes from, as the frontend reported it.
pub(crate) struct Client {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// What a sign-in proved: the password hash it was verified against (the
/// session is refused if it changed meanwhile) and how (`amr`).
pub(crate) struct Verified<'a> {
    pub hash: &'a str,
    pub amr: &'a [&'a str],
}

/// Starts a session for `user`, whose credentials were all verified.
async fn start(
    state: &AppState,
    user: &UserRecord,
    verified: Verified<'_>,
    remember: bool,
    client: Client,
) -> Result<TokenResponse, ApiError> {
    let now = state.now();
    let policy = state.policy();
    let id = uuid::Uuid::new_v4();
    let session = NewSession {
        id: id.to_string(),
        user_id: user.id.clone(),
        now,
        expires_at: policy.absolute_end(remember, now),
        remember,
        user_agent: client.user_agent,
        ip: client.ip,
        amr: verified.amr.iter().map(|m| (*m).to_owned()).collect(),
        live_limit: state.settings.max_sessions_per_user,
        revoked_until: policy.revoked_until(now),
        live: policy.liveness(now),
    };
    let (refresh_token, hash, family) = RefreshToken::first(id);
    let signed_in = Event::new(EventKind::SignIn, now)
        .user(user)
        .actor(Actor::User { id: &user.id, name: &user.username })
        .session_id(&session.id)
        .client(session.ip.as_deref(), session.user_agent.as_deref())
        .detail(format!(
            "{}; {}",
            if session.remember { "remembered" } else { "browser session" },
            session.amr.join("+")
        ))
        .into_record();
    let first = FirstRefresh { hash: &hash, family: &family };
    let Some(seen) = state.store.create_session(&session, first, verified.hash, &signed_in).await?
    else {
        // The password changed, or the user was disabled or deleted, while
        // this one was being verified: it no longer opens anything.
        state.metrics.login("failed");
        let event = Event::new(EventKind::SignInFailed, now)
            .user(user)
            .client(session.ip.as_deref(), session.user_agent.as_deref())
            .detail("password changed or account disabled meanwhile");
        audit::record(&state.store, event).await?;
        return Err(ApiError::InvalidGrant);
    };
    superseded(state, user, &seen.superseded, now).await?;
    let user = &UserRecord {
        roles: seen.roles,
        password_change_required: seen.password_change_required,
        ..user.clone()
    };
    state.metrics.login("ok");
    tracing::info!(user_id = %user.id, session_id = %session.id, "login succeeded; session started");
    let started = SessionRecord {
        id: session.id,
        user_id: session.user_id,
        created_at: now,
        last_seen_at: now,
        expires_at: session.expires_at,
        remember: session.remember,
        user_agent: session.user_agent,
        ip: session.ip,
        ended_at: None,
        auth_time: now,
        amr: session.amr,
    };
    respond(state, user, &started, refresh_token, now)
}

/// The sessions a sign-in of `user` ended to stay within
/// `MAX_SESSIONS_PER_USER` (the store published them): told and recorded.
async fn superseded(
    state: &AppState,
    user: &UserRecord,
    ended: &[String],
    now: i64,
) -> Result<(), ApiError> {
    if ended.is_empty() {
        return Ok(());
    }
    state.sessions_ended(ended.len() as u64);
    for id in ended {
        tracing::info!(user_id = %user.id, session_id = %id, "oldest session ended: too many sessions");
        let event = Event::new(EventKind::SessionEnded, now)
            .user(user)
            .session_id(id)
            .detail(EndReason::Superseded.as_str());
        audit::record(&state.store, event).await?;
    }
    Ok(())
}

/// The session a presented refresh token names (new tokens carry it; older
/// ones are found by hash), with what the token parses to.
async fn session_of(
    state: &AppState,
    presented: &str,
) -> Result<Option<(String, Option<Presented>)>, ApiError> {
    Ok(match Presented::parse(presented) {
        Some(parsed) => Some((parsed.session.to_string(), Some(parsed))),
        None => state
            .store
            .legacy_refresh_session(&refresh::hash(presented))
            .await?
            .map(|id| (id, None)),
    })
}

/// The token's verdict against its session's row (`tokens::refresh::judge`).
fn verdict(presented: &str, parsed: Option<&Presented>, record: &RefreshRecord) -> Verdict {
    let stored = &record.refresh;
    let Ok(generation) = u64::try_from(stored.generation) else {
        return Verdict::Unknown;
    };
    let stored = refresh::Stored {
        generation,
        family: stored.family.as_deref(),
        current: stored.current.as_deref(),
        previous: stored.previous.as_deref(),
    };
    refresh::judge(presented, parsed, stored)
}

pub async fn refresh(state: &AppState, presented: &str) -> Result<TokenResponse, ApiError> {
    let now = state.now();
    let policy = state.policy();
    let failed = || {
        state.metrics.refresh("failed");
        ApiError::InvalidGrant
    };
    let Some((session_id, parsed)) = session_of(state, presented).await? else {
        return Err(failed());
    };
    // The common case first, in one database operation: the token is its
    // session's current one, so it can be rotated without reading the row
    // (the update checks everything the read would). Anything else (a
    // retry, a reuse, a guess, an ended session) takes the reads below.
    if let Some(parsed) = &parsed
        && let Ok(generation) = i64::try_from(parsed.generation)
    {
        let successor =
            refresh::successor(presented, Some(parsed), parsed.session, parsed.generation + 1);
        let rotation = Rotate {
            session_id: session_id.clone(),
            generation,
            current: refresh::hash(presented).to_vec(),
            hash: successor.hash.to_vec(),
            sealed: successor.sealed.to_vec(),
            family: None,
            live: policy.liveness(now),
        };
        if let Some(rotated) = state.store.rotate_refresh(rotation).await? {
            state.metrics.refresh("rotated");
            return respond(state, &rotated.user, &rotated.session, successor.token, now);
        }
    }
    // Two passes at most: a lost rotation race reads the session again, and
    // finds the token it presented now the previous one.
    for _ in 0..2 {
        let Some(record) = state.store.find_refresh(&session_id).await? else {
            return Err(failed());
        };
        let session = &record.session;
        if !policy.is_live(session, now) || record.user.disabled {
            return Err(failed());
        }
        let id = uuid::Uuid::parse_str(&session.id)
            .map_err(|_| ApiError::Internal("a session id that is not a UUID".into()))?;
        let next = record.refresh.generation as u64 + 1;
        match verdict(presented, parsed.as_ref(), &record) {
            Verdict::Current => {
                let successor = refresh::successor(presented, parsed.as_ref(), id, next);
                let rotation = Rotate {
                    session_id: session.id.clone(),
                    generation: record.refresh.generation,
                    current: refresh::hash(presented).to_vec(),
                    hash: successor.hash.to_vec(),
                    sealed: successor.sealed.to_vec(),
                    family: successor.new_family.map(|f| f.to_vec()),
                    live: policy.liveness(now),
                };
                if let Some(rotated) = state.store.rotate_refresh(rotation).await? {
                    state.metrics.refresh("rotated");
                    return respond(state, &rotated.user, &rotated.session, successor.token, now);
                }
            }
            Verdict::Previous => {
                let stored = &record.refresh;
                let successor = stored
                    .sealed
                    .as_deref()
                    .zip(stored.current.as_deref())
                    .and_then(|(sealed, hash)| {
                        refresh::open_successor(presented, id, next - 1, sealed, hash)
                    })
                    .ok_or_else(|| {
                        ApiError::Internal("rotated token without a readable successor".into())
                    })?;
                // Not counted as use: the rotation it repeats already was,
                // and a copy of the previous token replayed while its owner
                // is away must not keep the session from idling out.
                state.metrics.refresh("retry");
                let since = now - stored.rotated_at.unwrap_or(now);
                tracing::info!(session_id = %session.id, since, "refresh retried with the previous token");
                // Audited: a retry cannot be told from a copy of the session
                // replayed by someone keeping up with its owner (DESIGN.md),
                // so the owner must be able to see them on their account.
                let event = Event::new(EventKind::RefreshRetried, now)
                    .user(&record.user)
                    .session(session)
                    .detail(format!("{since} s after the rotation"));
                audit::record(&state.store, event).await?;
                return respond(state, &record.user, session, successor, now);
            }
            Verdict::Reused => {
                // The session moved on at least twice since this token was
                // current, so whoever holds it kept a copy: end the session
                // for everyone holding any of its tokens, the thief included.
                end(state, session, &record.user.username, EndReason::RefreshReuse, None).await?;
                state.metrics.reuse_detected();
                state.metrics.refresh("reuse");
                tracing::warn!(
                    target: "security",
                    user_id = %session.user_id,
                    session_id = %session.id,
                    "refresh token reused after its successor was used; session ended"
                );
                return Err(ApiError::InvalidGrant);
            }
            Verdict::Unknown => return Err(failed()),
        }
    }
    Err(ApiError::Internal("refresh rotation kept losing races".into()))
}

/// RFC 7009: ends the session the refresh token belongs to. Unknown tokens are
/// not an error (the caller's goal, "this token is dead", holds). Any token
/// of the session's family will do: whoever holds one held the session.
pub async fn revoke_refresh_token(state: &AppState, presented: &str) -> Result<(), ApiError> {
    let Some((session_id, parsed)) = session_of(state, presented).await? else {
        return Ok(());
    };
    let Some(record) = state.store.find_refresh(&session_id).await? else {
        return Ok(());
    };
    if verdict(presented, parsed.as_ref(), &record) != Verdict::Unknown {
        let user = &record.user;
        let actor = Actor::User { id: &user.id, name: &user.username };
        end(state, &record.session, &user.username, EndReason::Logout, Some(actor)).await?;
    }
    Ok(())
}

/// Ends one session (whose user is `owner`), wakes the revocation feed and
/// records who did it (`None`: the service itself). `false` if it had
/// already ended.
pub async fn end(
    state: &AppState,
    session: &SessionRecord,
    owner: &str,
    reason: EndReason,
    actor: Option<Actor<'_>>,
) -> Result<bool, ApiError> {
    let now = state.now();
    let revoked_until = state.policy().revoked_until(now);
    let ended = state.store.end_session(&session.id, reason, now, revoked_until).await?;
    if ended {
        state.sessions_ended(1);
        tracing::info!(session_id = %session.id, reason = reason.as_str(), "session ended");
        let kind = match reason {
            EndReason::Logout => EventKind::SignOut,
            EndReason::RefreshReuse => EventKind::RefreshReuse,
            _ => EventKind::SessionEnded,
        };
        let mut event = Event::new(kind, now)
            .user_id(&session.user_id, owner)
            .session(session)
            .detail(reason.as_str());
        if let Some(actor) = actor {
            event = event.actor(actor);
        }
        audit::record(&state.store, event).await?;
    }
    Ok(ended)
}

/// Ends every session of `user` (on behalf of `actor`) and records it.
pub async fn end_all_of_user(
    state: &AppState,
    user: &UserRecord,
    reason: EndReason,
    actor: Actor<'_>,
) -> Result<u64, ApiError> {
    let now = state.now();
    let ended = state
        .store
        .end_user_sessions(&user.id, None, reason, now, state.policy().revoked_until(now))
        .await?;
    state.sessions_ended(ended);
    if ended > 0 {
        tracing::info!(user_id = %user.id, ended, reason = reason.as_str(), "sessions ended");
    }
    let detail = format!("{}: {ended} session(s)", reason.as_str());
    let event = Event::new(EventKind::SessionEnded, now).user(user).actor(actor).detail(detail);
    audit::record(&state.store, event).await?;
    Ok(ended)
}

/// A token response for `session`. The access token expires after
/// `ACCESS_TOKEN_TTL`, or at the session's absolute end if that comes first.
fn respond(
    state: &AppState,
    user: &UserRecord,
    session: &SessionRecord,
    refresh_token: RefreshToken,
    now: i64,
) -> Result<TokenResponse, ApiError> {
    let subject = access::Subject {
        user_id: &user.id,
        username: &user.username,
        roles: &user.roles,
        session_id: &session.id,
        auth_time: session.auth_time,
        password_change_required: user.password_change_required,
        amr: &session.amr,
        mfa_setup_required: state.settings.mfa.required_for(&user.roles)
            && !amr::has_second_factor(&session.amr),
    };
    let ttl = state.settings.access_token_ttl.min(session.expires_at - now).max(1);
    let access_token = access::sign(&state.keys.snapshot(), &state.audience(), &subject, now, ttl)?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: ttl as u64,
        refresh_token: refresh_token.into_string(),
        session_id: session.id.clone(),
        session_expires_at: session.expires_at,
        remember: session.remember,
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
