//! Signing in in two steps. A user with a second factor who gives the right
//! password gets no session: a pending sign-in (five minutes, server-side,
//! named by an `mfa_token` only the frontend holds, sealed in a cookie of
//! that browser) waits for the factor, and only the second step starts the
//! session, with `amr` saying what was proven.
//!
//! Rules, each enforced here and nowhere else:
//! - a pending sign-in takes at most `pending::MAX_FAILURES` wrong codes;
//!   the last discards it (the password must be given again);
//! - every wrong code also counts where a wrong password would (the
//!   browser's trusted device, or the username and network), so guessing
//!   codes across many pending sign-ins meets the same budget as guessing
//!   passwords; those counters are cleared only when the whole sign-in
//!   succeeds;
//! - an authenticator code is accepted once: its time step must be above the
//!   last one accepted (the store's conditional update decides, across
//!   instances); a recovery code is spent by its use;
//! - a pending sign-in is taken by exactly one successful second step, and
//!   the session is still refused if the password changed or the account
//!   was disabled meanwhile.

use shared::{Factor, MfaChallenge, TokenResponse, mfa::amr};

use super::{Client, Verified, start};
use crate::{
    audit::{self, Actor, Event},
    domain::EventKind,
    error::ApiError,
    mfa::{pending, recovery, totp},
    state::AppState,
    store::{PendingFailure, PendingSignIn, UserRecord},
    throttle::{self, LoginThrottle},
};

/// What the second step presents.
pub enum Proof {
    /// The authenticator app's current code.
    Otp(String),
    /// One of the user's recovery codes.
    RecoveryCode(String),
}

impl Proof {
    fn name(&self) -> &'static str {
        match self {
            Proof::Otp(_) => "authenticator code",
            Proof::RecoveryCode(_) => "recovery code",
        }
    }
}

/// The `mfa_required` answer to a right password: a new pending sign-in.
pub(super) async fn challenge(
    state: &AppState,
    user: &UserRecord,
    client: &Client,
    remember: bool,
    device: Option<&str>,
) -> ApiError {
    match open_pending(state, user, client, remember, device).await {
        Ok(challenge) => ApiError::MfaRequired(challenge),
        Err(err) => err,
    }
}

async fn open_pending(
    state: &AppState,
    user: &UserRecord,
    client: &Client,
    remember: bool,
    device: Option<&str>,
) -> Result<MfaChallenge, ApiError> {
    let now = state.now();
    let (mfa_token, hash) = pending::mint();
    let pending = PendingSignIn {
        user_id: user.id.clone(),
        password_hash: user.password_hash.clone(),
        created_at: now,
        expires_at: now + pending::TTL,
        failures: 0,
        remember,
        user_agent: client.user_agent.clone(),
        ip: client.ip.clone(),
        device: device.map(str::to_owned),
    };
    let event = Event::new(EventKind::SecondFactorRequested, now)
        .user(user)
        .actor(Actor::User { id: &user.id, name: &user.username })
        .client(client.ip.as_deref(), client.user_agent.as_deref())
        .into_record();
    state.store.create_pending_sign_in(&hash, &pending, &event).await?;
    state.metrics.login("second_factor");
    tracing::info!(user_id = %user.id, "password accepted; waiting for a second factor");
    Ok(MfaChallenge {
        mfa_token,
        expires_in: pending::TTL as u64,
        factors: vec![Factor::Otp, Factor::RecoveryCode],
    })
}

/// The second step: `proof` for the pending sign-in `mfa_token`.
pub async fn complete(
    state: &AppState,
    mfa_token: &str,
    proof: Proof,
) -> Result<TokenResponse, ApiError> {
    let now = state.now();
    let hash = pending::hash(mfa_token);
    let Some(pending) = state.store.find_pending_sign_in(&hash, now).await? else {
        return Err(ApiError::ExpiredToken);
    };
    let user = state.store.find_user_by_id(&pending.user_id).await?;
    let Some(user) = user.filter(|u| !u.disabled) else {
        return Err(ApiError::ExpiredToken);
    };
    let client_ip = pending.ip.as_deref().and_then(|ip| ip.parse().ok());
    let keys = throttle::Keys::new(&user.username, client_ip, pending.device.as_deref());
    let limiter = LoginThrottle { store: &state.store, settings: state.settings.throttle };
    let judged = match limiter.check(&keys, now).await {
        Ok(judged) => judged,
        Err(err) => {
            state.metrics.login("throttled");
            return Err(err);
        }
    };
    let right = match &proof {
        Proof::Otp(code) => otp_is_right(state, &user, code, now).await?,
        Proof::RecoveryCode(code) => recovery_code_is_right(state, &user, code, now).await?,
    };
    let event = Event::new(EventKind::SecondFactorFailed, now)
        .user(&user)
        .client(pending.ip.as_deref(), pending.user_agent.as_deref());
    if !right {
        limiter.failed(&keys, judged, now).await?;
        state.metrics.login("failed");
        let outcome = state.store.pending_sign_in_failed(&hash, pending::MAX_FAILURES).await?;
        let what = proof.name();
        let (detail, err) = match outcome {
            PendingFailure::Counted(n) => {
                (format!("{what}; {n} of {} wrong", pending::MAX_FAILURES), ApiError::InvalidGrant)
            }
            PendingFailure::Discarded => {
                (format!("{what}; too many wrong, sign-in discarded"), ApiError::ExpiredToken)
            }
            PendingFailure::Gone => {
                (format!("{what}; the sign-in had ended"), ApiError::ExpiredToken)
            }
        };
        audit::record(&state.store, event.detail(detail)).await?;
        tracing::info!(user_id = %user.id, "second factor refused");
        return Err(err);
    }
    if !state.store.take_pending_sign_in(&hash, now).await? {
        // Another request finished (or the clock ended) this sign-in first.
        return Err(ApiError::ExpiredToken);
    }
    limiter.succeeded(&keys).await?;
    if let Proof::RecoveryCode(_) = proof {
        let left = state.store.recovery_codes_left(&user.id).await?;
        let event = Event::new(EventKind::RecoveryCodeUsed, now)
            .user(&user)
            .actor(Actor::User { id: &user.id, name: &user.username })
            .client(pending.ip.as_deref(), pending.user_agent.as_deref())
            .detail(format!("{left} left"));
        audit::record(&state.store, event).await?;
    }
    let verified = Verified { hash: &pending.password_hash, amr: &[amr::PASSWORD, amr::ONE_TIME] };
    let client = Client { user_agent: pending.user_agent, ip: pending.ip };
    start(state, &user, verified, pending.remember, client).await
}

/// Whether `code` is the user's app's code now, used for the first time.
async fn otp_is_right(
    state: &AppState,
    user: &UserRecord,
    code: &str,
    now: i64,
) -> Result<bool, ApiError> {
    let totp = state.store.totp_of(&user.id).await?.filter(|t| t.confirmed_at.is_some());
    let Some(totp) = totp else { return Ok(false) };
    let secret = state
        .settings
        .mfa
        .key
        .open(&user.id, &totp.secret_sealed)
        .ok_or_else(|| ApiError::Internal("a TOTP key that does not open".into()))?;
    match totp::matching_step(&secret, code, now) {
        Some(step) => Ok(state.store.use_totp_step(&user.id, step).await?),
        None => Ok(false),
    }
}

/// Whether `code` is one of the user's unused recovery codes (spending it).
async fn recovery_code_is_right(
    state: &AppState,
    user: &UserRecord,
    code: &str,
    now: i64,
) -> Result<bool, ApiError> {
    let Some(code) = recovery::normalise(code) else { return Ok(false) };
    let hash = state.settings.mfa.key.recovery_hash(&user.id, &code);
    Ok(state.store.use_recovery_code(&user.id, &hash, now).await?)
}
