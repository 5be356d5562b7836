//! Second factors a user manages on `/account/security`: an authenticator
//! app (RFC 6238), passkeys (WebAuthn) and recovery codes. Signing in with them is the session
//! rules' business (`sessions::second_factor`); this module enrols, shows and
//! removes them, from the pieces in [`crate::mfa`].
//!
//! Rules, each enforced here and nowhere else:
//! - every change needs recent authentication (`REAUTH_MAX_AGE`); once the
//!   user has a second factor, every change also needs a session that
//!   proved one (`amr`): a session opened with a stolen password before the
//!   factor existed can neither add, remove nor mint anything;
//! - removing the app needs a current code from it, throttled like a
//!   password re-entered in a session, and each wrong one is audited;
//! - a key being set up belongs to the session that asked for it: only it
//!   is shown the key again, and only it may confirm it;
//! - a user's first factor ends their other sessions (they proved a
//!   password only), and so does removing a factor (a session elsewhere may
//!   have proven it on the phone that was lost);
//! - a passkey is registered by answering a challenge kept server-side
//!   (`webauthn_ceremonies`, five minutes, once), with user verification,
//!   as a discoverable credential (so it can also sign in alone); a user
//!   may have several, each named;
//! - an app is switched on only after the user proves it with a current
//!   code; until then its key may be shown again (reloading the setup page
//!   must not break the QR code already scanned), never after;
//! - the first factor comes with ten recovery codes, shown once; a new set
//!   replaces the old; removing the last factor removes them too;
//! - confirming the app (or registering a passkey) in a session counts as
//!   proving it in that session (`amr` gains `otp`, or `hwk`), so a user made
//!   to set one up need not sign in again;
//! - every change is in the audit log, in the same transaction.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use shared::{
    MfaStatus, NewPasskey, PasskeyChallenge, PasskeyView, RecoveryCodes, RegisteredPasskey,
    TotpSetup, mfa::amr,
};
use webauthn_rs::prelude::{PasskeyRegistration, RegisterPublicKeyCredential, Uuid};

use crate::{
    audit::{self, Event},
    domain::EventKind,
    error::ApiError,
    extract::AuthUser,
    mfa::{key::MfaKeys, recovery, totp, webauthn},
    sessions::passkey,
    state::AppState,
    store::{NewEvent, NewFactor, PasskeyRecord, RemovedFactor},
    throttle::{Keys, LoginThrottle},
};

/// How long an unconfirmed key is offered again rather than replaced.
const SETUP_REUSE: i64 = 600;

pub async fn status(state: &AppState, auth: &AuthUser) -> Result<MfaStatus, ApiError> {
    let user_id = &auth.claims.sub;
    let totp = state.store.totp_of(user_id).await?;
    let user = state.store.find_user_by_id(user_id).await?.ok_or(ApiError::InvalidToken)?;
    let passkeys = state.store.passkeys_of(user_id).await?;
    Ok(MfaStatus {
        totp_enabled_at: totp.and_then(|t| t.confirmed_at),
        recovery_codes_left: state.store.recovery_codes_left(user_id).await?,
        required: state.settings.mfa.required_for(&user.roles),
        passkeys: passkeys.iter().map(passkey_view).collect(),
    })
}

/// A key for the user's app, not yet switched on: the one offered in the
/// last ten minutes if there is one, else a new one.
pub async fn begin_totp(state: &AppState, auth: &AuthUser) -> Result<TotpSetup, ApiError> {
    let now = state.now();
    may_change_factors(state, auth, now).await?;
    let user_id = &auth.claims.sub;
    let keys = &state.settings.mfa.keys;
    let this_session = Some(auth.session.id.as_str());
    let offered = match state.store.totp_of(user_id).await? {
        Some(t) if t.confirmed_at.is_some() => {
            return Err(ApiError::Conflict(
                "an authenticator app is already set up; remove it first".into(),
            ));
        }
        Some(t)
            if now - t.created_at < SETUP_REUSE
                && t.setup_session_id.as_deref() == this_session =>
        {
            // One that no longer opens is replaced, as an old one is.
            keys.open(user_id, &t.secret_sealed).ok()
        }
        _ => None,
    };
    let secret = match offered {
        Some(secret) => secret,
        None => {
            let secret = totp::new_secret().to_vec();
            let sealed = keys.seal(user_id, &secret);
            if !state.store.put_unconfirmed_totp(user_id, &sealed, &auth.session.id, now).await? {
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
    may_change_factors(state, auth, now).await?;
    let user_id = &auth.claims.sub;
    let keys = &state.settings.mfa.keys;
    let this_session = Some(auth.session.id.as_str());
    let pending = state
        .store
        .totp_of(user_id)
        .await?
        .filter(|t| t.confirmed_at.is_none() && t.setup_session_id.as_deref() == this_session);
    let Some(pending) = pending else {
        return Err(ApiError::Conflict("no authenticator app is being set up".into()));
    };
    let secret = keys.open_totp(user_id, &pending.secret_sealed)?;
    let step = totp::matching_step(&secret, code, now).ok_or(ApiError::WrongCode)?;
    let codes = recovery::generate();
    let (key_id, hashes) = recovery_hashes(keys, user_id, &codes);
    let session_amr = with_method(&auth.session.amr, amr::ONE_TIME);
    let event = event(EventKind::TotpEnabled, auth, now);
    let added = NewFactor {
        recovery_hashes: &hashes,
        recovery_key_id: &key_id,
        session_id: &auth.session.id,
        amr: &session_amr,
        revoked_until: state.policy().revoked_until(now),
        event: &event,
    };
    let done = state.store.confirm_totp(user_id, step, &added).await?.ok_or(ApiError::WrongCode)?;
    state.sessions_ended(done.ended);
    tracing::info!(user_id = %user_id, ended = done.ended, "authenticator app switched on");
    Ok(RecoveryCodes { codes: if done.codes_issued { codes } else { Vec::new() } })
}

/// Switches the app off (and the recovery codes with it): recent
/// authentication and a current code, which is used up by this.
pub async fn disable_totp(state: &AppState, auth: &AuthUser, code: &str) -> Result<(), ApiError> {
    let now = state.now();
    may_change_factors(state, auth, now).await?;
    let user_id = &auth.claims.sub;
    let on = state.store.totp_of(user_id).await?.filter(|t| t.confirmed_at.is_some());
    let Some(on) = on else { return Err(ApiError::NotFound) };
    let secret = state.settings.mfa.keys.open_totp(user_id, &on.secret_sealed)?;
    // Guessing codes from a session is slowed like guessing its password.
    let limiter = LoginThrottle { store: &state.store, settings: state.settings.throttle };
    let keys = Keys::for_session(&auth.claims.username, &auth.session.id);
    let judged = limiter.check(&keys, now).await?;
    limiter.spend(&keys, judged, now).await?;
    let right = match totp::matching_step(&secret, code, now) {
        Some(step) => state.store.use_totp_step(user_id, step).await?,
        None => false,
    };
    if !right {
        let failed = Event::new(EventKind::SecondFactorFailed, now)
            .user_id(user_id, &auth.claims.username)
            .actor(auth.actor())
            .session(&auth.session)
            .detail("authenticator code, to remove the app");
        audit::record(&state.store, failed).await?;
        return Err(ApiError::WrongCode);
    }
    limiter.spent_and_succeeded(&keys, judged).await?;
    let event = event(EventKind::TotpDisabled, auth, now);
    let removed = RemovedFactor {
        keep_session: &auth.session.id,
        revoked_until: state.policy().revoked_until(now),
        event: &event,
    };
    let ended = state.store.delete_totp(user_id, &removed).await?.unwrap_or(0);
    state.sessions_ended(ended);
    tracing::info!(user_id = %user_id, "authenticator app switched off");
    Ok(())
}

/// Ten new recovery codes; the old set (used or not) stops working.
pub async fn regenerate_recovery_codes(
    state: &AppState,
    auth: &AuthUser,
) -> Result<RecoveryCodes, ApiError> {
    let now = state.now();
    may_change_factors(state, auth, now).await?;
    let user_id = &auth.claims.sub;
    let codes = recovery::generate();
    let (key_id, hashes) = recovery_hashes(&state.settings.mfa.keys, user_id, &codes);
    let event = event(EventKind::RecoveryCodesRegenerated, auth, now);
    if !state.store.replace_recovery_codes(user_id, &hashes, &key_id, &event).await? {
        return Err(ApiError::Conflict("set up an authenticator app first".into()));
    }
    Ok(RecoveryCodes { codes })
}

/// Begins registering a passkey for the browser at `origin`: the options
/// for `navigator.credentials.create`, asking for a discoverable credential
/// and user verification, and excluding the user's passkeys already here.
pub async fn begin_passkey(
    state: &AppState,
    auth: &AuthUser,
    origin: &str,
) -> Result<PasskeyChallenge, ApiError> {
    let now = state.now();
    may_change_factors(state, auth, now).await?;
    let rp = passkey::relying_party(state, origin)?;
    let user_id = &auth.claims.sub;
    // The user handle the authenticator keeps, and hands back at a sign-in
    // with the passkey alone: the user's id, which is a UUID.
    let handle = Uuid::parse_str(user_id)
        .map_err(|_| ApiError::Internal("a user id that is not a UUID".into()))?;
    let existing = state.store.passkeys_of(user_id).await?;
    let exclude = existing.iter().map(|p| p.credential_id.clone()).collect();
    let name = &auth.claims.username;
    let (options, registration) = rp
        .start_passkey_registration(handle, name, name, Some(exclude))
        .map_err(|e| ApiError::Internal(format!("passkey registration: {e}")))?;
    let mut options = serde_json::to_value(&options)
        .map_err(|e| ApiError::Internal(format!("passkey options: {e}")))?;
    // webauthn-rs asks for a server-side credential; a passkey that signs
    // in without a username must live on the authenticator (discoverable).
    if let Some(selection) = options.pointer_mut("/publicKey/authenticatorSelection") {
        selection["residentKey"] = "required".into();
        selection["requireResidentKey"] = true.into();
    }
    let owner = Some(user_id.clone());
    passkey::open_ceremony(state, "register", owner, None, origin, &registration, &options).await
}

/// Finishes registering a passkey: the browser's answer to the ceremony
/// begun by this user. The first second factor comes with recovery codes.
pub async fn register_passkey(
    state: &AppState,
    auth: &AuthUser,
    new: NewPasskey,
) -> Result<RegisteredPasskey, ApiError> {
    let now = state.now();
    may_change_factors(state, auth, now).await?;
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ApiError::InvalidRequest("name the passkey (at most 64 characters)".into()));
    }
    let user_id = &auth.claims.sub;
    let expired =
        || ApiError::InvalidRequest("the passkey registration expired; start again".into());
    let ceremony = state
        .store
        .take_ceremony(&webauthn::ceremony_hash(&new.ceremony), "register", now)
        .await?
        .filter(|c| c.user_id.as_deref() == Some(user_id.as_str()))
        .ok_or_else(expired)?;
    let registration: PasskeyRegistration = webauthn::state_of(&ceremony)?;
    let credential: RegisterPublicKeyCredential = serde_json::from_str(&new.credential)
        .map_err(|_| ApiError::InvalidRequest("not a WebAuthn credential".into()))?;
    let rp = passkey::relying_party(state, &ceremony.origin)?;
    let passkey = rp
        .finish_passkey_registration(&credential, &registration)
        .map_err(|e| ApiError::InvalidRequest(format!("the passkey was not accepted: {e}")))?;
    let record = PasskeyRecord {
        credential_id: passkey.cred_id().clone(),
        user_id: user_id.clone(),
        name: name.to_owned(),
        passkey: serde_json::to_string(&passkey)
            .map_err(|e| ApiError::Internal(format!("passkey: {e}")))?,
        counter: 0,
        created_at: now,
        last_used_at: None,
    };
    let codes = recovery::generate();
    let (key_id, hashes) = recovery_hashes(&state.settings.mfa.keys, user_id, &codes);
    let session_amr = with_method(&auth.session.amr, amr::HARDWARE_KEY);
    let mut event = event(EventKind::PasskeyAdded, auth, now);
    event.detail = Some(record.name.clone());
    let added = NewFactor {
        recovery_hashes: &hashes,
        recovery_key_id: &key_id,
        session_id: &auth.session.id,
        amr: &session_amr,
        revoked_until: state.policy().revoked_until(now),
        event: &event,
    };
    let done = state
        .store
        .add_passkey(&record, &added)
        .await?
        .ok_or_else(|| ApiError::Conflict("this passkey is registered already".into()))?;
    state.sessions_ended(done.ended);
    tracing::info!(user_id = %user_id, ended = done.ended, "passkey registered");
    Ok(RegisteredPasskey {
        passkey: passkey_view(&record),
        recovery_codes: if done.codes_issued { codes } else { Vec::new() },
    })
}

/// Removes one of the caller's passkeys (`id`: its credential id, base64url).
pub async fn remove_passkey(state: &AppState, auth: &AuthUser, id: &str) -> Result<(), ApiError> {
    let now = state.now();
    may_change_factors(state, auth, now).await?;
    let credential_id = URL_SAFE_NO_PAD.decode(id).map_err(|_| ApiError::NotFound)?;
    let user_id = &auth.claims.sub;
    let found = state.store.passkeys_of(user_id).await?;
    let Some(record) = found.iter().find(|p| p.credential_id == credential_id) else {
        return Err(ApiError::NotFound);
    };
    let mut event = event(EventKind::PasskeyRemoved, auth, now);
    event.detail = Some(record.name.clone());
    let removed = RemovedFactor {
        keep_session: &auth.session.id,
        revoked_until: state.policy().revoked_until(now),
        event: &event,
    };
    let Some(ended) = state.store.delete_passkey(user_id, &credential_id, &removed).await? else {
        return Err(ApiError::NotFound);
    };
    state.sessions_ended(ended);
    tracing::info!(user_id = %user_id, "passkey removed");
    Ok(())
}

/// The caller may change their second factors: recent authentication, and
/// once they have a factor, a session that proved one.
async fn may_change_factors(state: &AppState, auth: &AuthUser, now: i64) -> Result<(), ApiError> {
    auth.require_recent_auth(now, state.settings.reauth_max_age)?;
    if !amr::has_second_factor(&auth.session.amr)
        && state.store.has_second_factor(&auth.claims.sub).await?
    {
        return Err(ApiError::InsufficientUserAuthentication);
    }
    Ok(())
}

fn passkey_view(record: &PasskeyRecord) -> PasskeyView {
    PasskeyView {
        id: URL_SAFE_NO_PAD.encode(&record.credential_id),
        name: record.name.clone(),
        created_at: record.created_at,
        last_used_at: record.last_used_at,
    }
}

/// `methods` with `method` added (once).
fn with_method(methods: &[String], method: &str) -> Vec<String> {
    let mut all = methods.to_vec();
    if !all.iter().any(|m| m == method) {
        all.push(method.to_owned());
    }
    all
}

/// What the store keeps of `codes`: their hashes under the current MFA
/// key, and that key's id.
fn recovery_hashes(keys: &MfaKeys, user_id: &str, codes: &[String]) -> (String, Vec<Vec<u8>>) {
    let key = keys.current();
    let hashes = codes
        .iter()
        .filter_map(|c| recovery::normalise(c))
        .map(|c| key.recovery_hash(user_id, &c))
        .collect();
    (key.id().to_string(), hashes)
}

/// An event the signed-in user caused to themselves, in this session.
fn event(kind: EventKind, auth: &AuthUser, now: i64) -> NewEvent {
    Event::new(kind, now)
        .user_id(&auth.claims.sub, &auth.claims.username)
        .actor(auth.actor())
        .session(&auth.session)
        .into_record()
}
