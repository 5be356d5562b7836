//! Second factors a user manages on `/account/security`: an authenticator
//! app (RFC 6238) and recovery codes. Signing in with them is the session
//! rules' business (`sessions::second_factor`); this module enrols, shows and
//! removes them, from the pieces in [`crate::mfa`].
//!
//! Rules, each enforced here and nowhere else:
//! - every change needs recent authentication (`REAUTH_MAX_AGE`), and
//!   removing the app also a current code from it;
//! - an app is switched on only after the user proves it with a current
//!   code; until then its key may be shown again (reloading the setup page
//!   must not break the QR code already scanned), never after;
//! - the first factor comes with ten recovery codes, shown once; a new set
//!   replaces the old; removing the last factor removes them too;
//! - confirming the app in a session counts as proving it in that session
//!   (`amr` gains `otp`), so a user made to set one up need not sign in again;
//! - every change is in the audit log, in the same transaction.

use shared::{MfaStatus, RecoveryCodes, TotpSetup, mfa::amr};

use crate::{
    audit::Event,
    domain::EventKind,
    error::ApiError,
    extract::AuthUser,
    mfa::{key::MfaKey, recovery, totp},
    state::AppState,
    store::NewEvent,
};

/// How long an unconfirmed key is offered again rather than replaced.
const SETUP_REUSE: i64 = 600;

pub async fn status(state: &AppState, auth: &AuthUser) -> Result<MfaStatus, ApiError> {
    let user_id = &auth.claims.sub;
    let totp = state.store.totp_of(user_id).await?;
    let user = state.store.find_user_by_id(user_id).await?.ok_or(ApiError::InvalidToken)?;
    Ok(MfaStatus {
        totp_enabled_at: totp.and_then(|t| t.confirmed_at),
        recovery_codes_left: state.store.recovery_codes_left(user_id).await?,
        required: state.settings.mfa.required_for(&user.roles),
    })
}

/// A key for the user's app, not yet switched on: the one offered in the
/// last ten minutes if there is one, else a new one.
pub async fn begin_totp(state: &AppState, auth: &AuthUser) -> Result<TotpSetup, ApiError> {
    let now = state.now();
    auth.require_recent_auth(now, state.settings.reauth_max_age)?;
    let user_id = &auth.claims.sub;
    let key = &state.settings.mfa.key;
    let offered = match state.store.totp_of(user_id).await? {
        Some(t) if t.confirmed_at.is_some() => {
            return Err(ApiError::Conflict(
                "an authenticator app is already set up; remove it first".into(),
            ));
        }
        Some(t) if now - t.created_at < SETUP_REUSE => key.open(user_id, &t.secret_sealed),
        _ => None,
    };
    let secret = match offered {
        Some(secret) => secret,
        None => {
            let secret = totp::new_secret().to_vec();
            if !state.store.put_unconfirmed_totp(user_id, &key.seal(user_id, &secret), now).await? {
                return Err(ApiError::Conflict("an authenticator app was just set up".into()));
            }
            secret
        }
    };
    Ok(TotpSetup {
        secret: totp::base32(&secret),
        otpauth_uri: totp::otpauth_uri(&secret, &auth.claims.username),
    })
}

/// Switches the app on with a current code; the first factor's recovery
/// codes come back (empty if the user still has unused ones).
pub async fn confirm_totp(
    state: &AppState,
    auth: &AuthUser,
    code: &str,
) -> Result<RecoveryCodes, ApiError> {
    let now = state.now();
    auth.require_recent_auth(now, state.settings.reauth_max_age)?;
    let user_id = &auth.claims.sub;
    let key = &state.settings.mfa.key;
    let pending = state.store.totp_of(user_id).await?.filter(|t| t.confirmed_at.is_none());
    let Some(pending) = pending else {
        return Err(ApiError::Conflict("no authenticator app is being set up".into()));
    };
    let secret = key
        .open(user_id, &pending.secret_sealed)
        .ok_or_else(|| ApiError::Internal("a TOTP key that does not open".into()))?;
    let step = totp::matching_step(&secret, code, now).ok_or(ApiError::WrongCode)?;
    let codes = recovery::generate();
    let hashes = recovery_hashes(key, user_id, &codes);
    let mut session_amr = auth.session.amr.clone();
    if !session_amr.iter().any(|m| m == amr::ONE_TIME) {
        session_amr.push(amr::ONE_TIME.to_owned());
    }
    let event = event(EventKind::TotpEnabled, auth, now);
    let issued = state
        .store
        .confirm_totp(user_id, step, &hashes, &auth.session.id, &session_amr, &event)
        .await?
        .ok_or(ApiError::WrongCode)?;
    tracing::info!(user_id = %user_id, "authenticator app switched on");
    Ok(RecoveryCodes { codes: if issued { codes } else { Vec::new() } })
}

/// Switches the app off (and the recovery codes with it): recent
/// authentication and a current code, which is used up by this.
pub async fn disable_totp(state: &AppState, auth: &AuthUser, code: &str) -> Result<(), ApiError> {
    let now = state.now();
    auth.require_recent_auth(now, state.settings.reauth_max_age)?;
    let user_id = &auth.claims.sub;
    let on = state.store.totp_of(user_id).await?.filter(|t| t.confirmed_at.is_some());
    let Some(on) = on else { return Err(ApiError::NotFound) };
    let secret = state
        .settings
        .mfa
        .key
        .open(user_id, &on.secret_sealed)
        .ok_or_else(|| ApiError::Internal("a TOTP key that does not open".into()))?;
    let step = totp::matching_step(&secret, code, now).ok_or(ApiError::WrongCode)?;
    if !state.store.use_totp_step(user_id, step).await? {
        return Err(ApiError::WrongCode);
    }
    state.store.delete_totp(user_id, &event(EventKind::TotpDisabled, auth, now)).await?;
    tracing::info!(user_id = %user_id, "authenticator app switched off");
    Ok(())
}

/// Ten new recovery codes; the old set (used or not) stops working.
pub async fn regenerate_recovery_codes(
    state: &AppState,
    auth: &AuthUser,
) -> Result<RecoveryCodes, ApiError> {
    let now = state.now();
    auth.require_recent_auth(now, state.settings.reauth_max_age)?;
    let user_id = &auth.claims.sub;
    let key = &state.settings.mfa.key;
    let codes = recovery::generate();
    let hashes = recovery_hashes(key, user_id, &codes);
    let event = event(EventKind::RecoveryCodesRegenerated, auth, now);
    if !state.store.replace_recovery_codes(user_id, &hashes, &event).await? {
        return Err(ApiError::Conflict("set up an authenticator app first".into()));
    }
    Ok(RecoveryCodes { codes })
}

/// What the store keeps of `codes`.
fn recovery_hashes(key: &MfaKey, user_id: &str, codes: &[String]) -> Vec<Vec<u8>> {
    codes
        .iter()
        .filter_map(|c| recovery::normalise(c))
        .map(|c| key.recovery_hash(user_id, &c))
        .collect()
}

/// An event the signed-in user caused to themselves, in this session.
fn event(kind: EventKind, auth: &AuthUser, now: i64) -> NewEvent {
    Event::new(kind, now)
        .user_id(&auth.claims.sub, &auth.claims.username)
        .actor(auth.actor())
        .session(&auth.session)
        .into_record()
}
