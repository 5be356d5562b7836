//! Signing in in two steps. A user with a second factor who gives the right
//! password gets no session: a pending sign-in (five minutes, server-side,
//! named by an `mfa_token` only the frontend holds, sealed in a cookie of
//! that browser) waits for the factor, and only the second step starts the
//! session, with `amr` saying what was proven.
//!
//! Rules, each enforced here and nowhere else:
//! - a pending sign-in takes at most `pending::MAX_FAILURES` attempts, each
//!   claimed by an atomic increment before the code is checked; the last
//!   wrong one discards it (the password must be given again); a user has at
//!   most three open at once;
//! - every attempt also counts, before it is checked, where a wrong password
//!   would (the browser's trusted device, or the username and network), so
//!   guessing codes across pending sign-ins, even all at once, meets the
//!   same budget as guessing passwords; those counters are cleared only when
//!   the whole sign-in succeeds;
//! - an authenticator code is accepted once: its time step must be above the
//!   last one accepted (the store's conditional update decides, across
//!   instances); a recovery code is spent by its use; a passkey answers a
//!   challenge begun for this pending sign-in, once;
//! - a pending sign-in is taken by exactly one successful second step, and
//!   the session is still refused if the password changed or the account
//!   was disabled meanwhile.

use shared::{Factor, MfaChallenge, PasskeyChallenge, TokenResponse, mfa::amr};
use webauthn_rs::prelude::{PasskeyAuthentication, PublicKeyCredential};

use super::{Client, Verified, start};
use crate::{
    audit::{self, Actor, Event},
    domain::EventKind,
    error::ApiError,
    mfa::{
        pending, recovery, totp,
        webauthn::{self, parse_passkey},
    },
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
    /// One of the user's passkeys: the answer to `ceremony`.
    Passkey { ceremony: String, credential: String },
}

impl Proof {
    fn name(&self) -> &'static str {
        match self {
            Proof::Otp(_) => "authenticator code",
            Proof::RecoveryCode(_) => "recovery code",
            Proof::Passkey { .. } => "passkey",
        }
    }

    /// What a session started with this proof says it proved (RFC 8176).
    fn amr(&self) -> &'static [&'static str] {
        match self {
            Proof::Otp(_) | Proof::RecoveryCode(_) => &[amr::PASSWORD, amr::ONE_TIME],
            Proof::Passkey { .. } => &[amr::PASSWORD, amr::HARDWARE_KEY],
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
    let app = state.store.totp_of(&user.id).await?.is_some_and(|t| t.confirmed_at.is_some());
    let passkeys = !state.store.passkeys_of(&user.id).await?.is_empty();
    let mut factors = Vec::new();
    if app {
        factors.push(Factor::Otp);
    }
    if passkeys {
        factors.push(Factor::Passkey);
    }
    factors.push(Factor::RecoveryCode);
    Ok(MfaChallenge { mfa_token, expires_in: pending::TTL as u64, factors })
}

/// Begins a passkey ceremony for the pending sign-in `mfa_token`, for the
/// browser at `origin`: the options for `navigator.credentials.get`, listing
/// that user's passkeys.
pub async fn begin_passkey(
    state: &AppState,
    mfa_token: &str,
    origin: &str,
) -> Result<PasskeyChallenge, ApiError> {
    let now = state.now();
    let pending_hash = pending::hash(mfa_token);
    let Some(pending) = state.store.find_pending_sign_in(&pending_hash, now).await? else {
        return Err(ApiError::ExpiredToken);
    };
    let rp = super::passkey::relying_party(state, origin)?;
    let records = state.store.passkeys_of(&pending.user_id).await?;
    if records.is_empty() {
        return Err(ApiError::Conflict("this account has no passkey".into()));
    }
    let passkeys = records.iter().map(parse_passkey).collect::<Result<Vec<_>, _>>()?;
    let (options, authentication) = rp
        .start_passkey_authentication(&passkeys)
        .map_err(|e| ApiError::Internal(format!("passkey authentication: {e}")))?;
    let (owner, bound) = (Some(pending.user_id), Some(pending_hash.to_vec()));
    let purpose = "second_factor";
    super::passkey::open_ceremony(state, purpose, owner, bound, origin, &authentication, &options)
        .await
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
    // Disabled, deleted, or a new password meanwhile: the sign-in is void,
    // and nothing (no code, no recovery code) is spent on it.
    let user = state.store.find_user_by_id(&pending.user_id).await?;
    let Some(user) = user.filter(|u| !u.disabled && u.password_hash == pending.password_hash)
    else {
        return Err(ApiError::ExpiredToken);
    };
    let client_ip = pending.ip.as_deref().and_then(|ip| ip.parse().ok());
    let keys = throttle::Keys::new(&user.username, client_ip, pending.device.as_deref());
    let limiter = LoginThrottle { store: &state.store, settings: state.settings.throttle };
    // Counted before the code is checked, each attempt by its own atomic
    // increment: the budget holds against guesses sent all at once.
    let spent = match limiter.check(&keys, now).await {
        Ok(judged) => limiter.spend(&keys, judged, now).await.map(|()| judged),
        Err(err) => Err(err),
    };
    let judged = match spent {
        Ok(judged) => judged,
        Err(err) => {
            state.metrics.login("throttled");
            return Err(err);
        }
    };
    let max = pending::MAX_FAILURES;
    let Some(attempt) = state.store.claim_pending_attempt(&hash, max, now).await? else {
        return Err(ApiError::ExpiredToken);
    };
    let right = match &proof {
        Proof::Otp(code) => otp_is_right(state, &user, code, now).await?,
        Proof::RecoveryCode(code) => recovery_code_is_right(state, &user, code, now).await?,
        Proof::Passkey { ceremony, credential } => {
            passkey_is_right(state, &user, &hash, ceremony, credential, now).await?
        }
    };
    if !right {
        state.metrics.login("failed");
        let what = proof.name();
        let (detail, err) = match state.store.pending_attempt_failed(&hash, attempt, max).await? {
            PendingFailure::Counted(n) => {
                (format!("{what}; {n} of {max} attempts used"), ApiError::InvalidGrant)
            }
            PendingFailure::Discarded => {
                (format!("{what}; {max} wrong, sign-in discarded"), ApiError::ExpiredToken)
            }
        };
        let event = Event::new(EventKind::SecondFactorFailed, now)
            .user(&user)
            .client(pending.ip.as_deref(), pending.user_agent.as_deref())
            .detail(detail);
        audit::record(&state.store, event).await?;
        tracing::info!(user_id = %user.id, "second factor refused");
        return Err(err);
    }
    if !state.store.take_pending_sign_in(&hash, now).await? {
        // Another request finished (or the clock ended) this sign-in first.
        return Err(ApiError::ExpiredToken);
    }
    if let Proof::RecoveryCode(_) = proof {
        let left = state.store.recovery_codes_left(&user.id).await?;
        let event = Event::new(EventKind::RecoveryCodeUsed, now)
            .user(&user)
            .actor(Actor::User { id: &user.id, name: &user.username })
            .client(pending.ip.as_deref(), pending.user_agent.as_deref())
            .detail(format!("{left} left"));
        audit::record(&state.store, event).await?;
    }
    let verified = Verified { hash: &pending.password_hash, amr: proof.amr() };
    let client = Client { user_agent: pending.user_agent, ip: pending.ip };
    let tokens = start(state, &user, verified, pending.remember, client).await?;
    // Only a whole sign-in clears the counters (this attempt's among them).
    limiter.spent_and_succeeded(&keys, judged).await?;
    Ok(tokens)
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
    let secret = state.settings.mfa.keys.open_totp(&user.id, &totp.secret_sealed)?;
    match totp::matching_step(&secret, code, now) {
        Some(step) => Ok(state.store.use_totp_step(&user.id, step).await?),
        None => Ok(false),
    }
}

/// Whether `credential` answers the passkey ceremony begun for this pending
/// sign-in, with one of the user's passkeys (whose counter moves forward).
async fn passkey_is_right(
    state: &AppState,
    user: &UserRecord,
    pending_hash: &[u8],
    ceremony: &str,
    credential: &str,
    now: i64,
) -> Result<bool, ApiError> {
    let hash = webauthn::ceremony_hash(ceremony);
    let taken = state.store.take_ceremony(&hash, "second_factor", now).await?;
    // Begun for this very pending sign-in (and so for this user).
    let ours = |c: &crate::store::Ceremony| {
        c.user_id.as_deref() == Some(user.id.as_str())
            && c.pending_hash.as_deref() == Some(pending_hash)
    };
    let Some(ceremony) = taken.filter(ours) else {
        return Ok(false);
    };
    let Ok(credential) = serde_json::from_str::<PublicKeyCredential>(credential) else {
        return Ok(false);
    };
    let authentication: PasskeyAuthentication = webauthn::state_of(&ceremony)?;
    let Ok(rp) = super::passkey::relying_party(state, &ceremony.origin) else {
        return Ok(false);
    };
    let Ok(result) = rp.finish_passkey_authentication(&credential, &authentication) else {
        return Ok(false);
    };
    super::passkey::used(state, &user.id, result, now).await
}

/// Whether `code` is one of the user's unused recovery codes (spending it).
async fn recovery_code_is_right(
    state: &AppState,
    user: &UserRecord,
    code: &str,
    now: i64,
) -> Result<bool, ApiError> {
    let Some(code) = recovery::normalise(code) else { return Ok(false) };
    // Under each listed MFA key, current first: a code made before the key
    // rotated stays good while its key is listed.
    for hash in state.settings.mfa.keys.recovery_candidates(&user.id, &code) {
        if state.store.use_recovery_code(&user.id, &hash, now).await? {
            return Ok(true);
        }
    }
    Ok(false)
}
