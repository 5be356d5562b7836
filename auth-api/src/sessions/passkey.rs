//! Signing in with a passkey alone, and what every passkey ceremony shares.
//!
//! A passkey sign-in has no username: the browser offers the user's
//! discoverable credentials for this relying party, and the one chosen
//! names its user (its user handle is the user's id). The assertion is
//! checked against that credential's public key and the challenge kept
//! server-side for this ceremony (once, five minutes); user verification
//! (a PIN or biometric on the authenticator) is required, so the session's
//! `amr` is `["hwk"]` and counts as a second factor.
//!
//! Rules, enforced here:
//! - a ceremony's challenge answers once, for the purpose it was begun for;
//! - the credential must be registered, and to the user its handle names;
//! - a disabled user gets the same answer as an unknown credential;
//! - the signature counter moves forward (webauthn-rs refuses a counter
//!   that went back: a cloned authenticator), and is stored after each use.

use serde::Serialize;
use shared::{PasskeyChallenge, TokenResponse, mfa::amr};
use webauthn_rs::prelude::{
    AuthenticationResult, DiscoverableAuthentication, PublicKeyCredential, Webauthn,
};

use super::{Client, Verified, start};
use crate::{
    audit::{self, Event},
    domain::EventKind,
    error::ApiError,
    mfa::webauthn::{self, parse_passkey},
    state::AppState,
    store::Ceremony,
};

/// A sign-in with a passkey, as parsed from the request.
pub struct PasskeySignIn {
    pub ceremony: String,
    pub credential: String,
    pub remember: bool,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// Begins a sign-in with a passkey alone for the browser at `origin`: the
/// options for `navigator.credentials.get`, with no credentials listed (the
/// browser offers the discoverable ones it has for this site).
pub async fn begin(state: &AppState, origin: &str) -> Result<PasskeyChallenge, ApiError> {
    let rp = relying_party(state, origin)?;
    let (options, authentication) = rp
        .start_discoverable_authentication()
        .map_err(|e| ApiError::Internal(format!("passkey authentication: {e}")))?;
    let mut options = serde_json::to_value(&options)
        .map_err(|e| ApiError::Internal(format!("passkey options: {e}")))?;
    // webauthn-rs asks for conditional mediation (autofill); our button
    // asks the browser for its ordinary passkey prompt.
    if let Some(object) = options.as_object_mut() {
        object.remove("mediation");
    }
    open_ceremony(state, "sign_in", None, None, origin, &authentication, &options).await
}

/// Signs in with a passkey: the answer to a `begin` ceremony.
pub async fn sign_in(state: &AppState, request: PasskeySignIn) -> Result<TokenResponse, ApiError> {
    let now = state.now();
    // As for a password: an address only if it is one, a bounded browser name.
    let request = PasskeySignIn {
        ip: request
            .ip
            .as_deref()
            .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
            .map(|ip| ip.to_string()),
        user_agent: request.user_agent.map(|ua| super::truncate(&ua, 512)),
        ..request
    };
    let refused = |detail: &str, user: Option<&crate::store::UserRecord>| {
        let event = Event::new(EventKind::SignInFailed, now)
            .client(request.ip.as_deref(), request.user_agent.as_deref())
            .detail(format!("passkey: {detail}"));
        match user {
            Some(user) => event.user(user),
            None => event,
        }
    };
    let hash = webauthn::ceremony_hash(&request.ceremony);
    let Some(ceremony) = state.store.take_ceremony(&hash, "sign_in", now).await? else {
        return Err(ApiError::ExpiredToken);
    };
    let credential: PublicKeyCredential = serde_json::from_str(&request.credential)
        .map_err(|_| ApiError::InvalidRequest("not a WebAuthn credential".into()))?;
    let rp = relying_party(state, &ceremony.origin)?;
    let record = match rp.identify_discoverable_authentication(&credential) {
        Ok((_, credential_id)) => state.store.passkey(credential_id).await?,
        Err(_) => None,
    };
    let handle = rp.identify_discoverable_authentication(&credential).ok().map(|(h, _)| h);
    let Some(record) = record.filter(|r| handle.is_some_and(|h| h.to_string() == r.user_id)) else {
        state.metrics.login("failed");
        audit::record(&state.store, refused("unknown credential", None)).await?;
        return Err(ApiError::InvalidGrant);
    };
    let user = state.store.find_user_by_id(&record.user_id).await?;
    let Some(user) = user.filter(|u| !u.disabled) else {
        state.metrics.login("failed");
        return Err(ApiError::InvalidGrant);
    };
    let authentication: DiscoverableAuthentication = webauthn::state_of(&ceremony)?;
    let passkey = parse_passkey(&record)?;
    let result =
        match rp.finish_discoverable_authentication_v2(&credential, authentication, &passkey) {
            Ok(result) => result,
            Err(e) => {
                state.metrics.login("failed");
                tracing::info!(user_id = %user.id, error = %e, "passkey assertion refused");
                audit::record(&state.store, refused("assertion refused", Some(&user))).await?;
                return Err(ApiError::InvalidGrant);
            }
        };
    if !used(state, &user.id, result, now).await? {
        return Err(ApiError::InvalidGrant);
    }
    let verified = Verified { hash: &user.password_hash, amr: &[amr::HARDWARE_KEY] };
    let client = Client { user_agent: request.user_agent, ip: request.ip };
    start(state, &user, verified, request.remember, client).await
}

/// The relying party for the browser at `origin`, if it is one of this
/// auth-api's sites (`PUBLIC_ORIGIN`); else `400` with the reason.
pub(crate) fn relying_party(state: &AppState, origin: &str) -> Result<Webauthn, ApiError> {
    webauthn::relying_party(origin, &state.settings.public_origins)
        .map_err(|e| ApiError::InvalidRequest(e.to_string()))
}

/// Stores a ceremony's state and answers with its options and id.
pub(crate) async fn open_ceremony(
    state: &AppState,
    purpose: &str,
    user_id: Option<String>,
    pending_hash: Option<Vec<u8>>,
    origin: &str,
    ceremony_state: &impl Serialize,
    options: &impl Serialize,
) -> Result<PasskeyChallenge, ApiError> {
    let ceremony = Ceremony {
        purpose: purpose.to_owned(),
        user_id,
        pending_hash,
        origin: origin.to_owned(),
        state: to_json(ceremony_state)?,
        expires_at: state.now() + webauthn::CEREMONY_TTL,
    };
    let (id, hash) = webauthn::new_ceremony();
    state.store.put_ceremony(&hash, &ceremony).await?;
    Ok(PasskeyChallenge { ceremony: id, options: to_json(options)? })
}

/// Records a successful assertion by a passkey of `user_id`: its updated
/// counter, and when. `false` if the credential is not (or no longer) theirs.
pub(super) async fn used(
    state: &AppState,
    user_id: &str,
    result: AuthenticationResult,
    now: i64,
) -> Result<bool, ApiError> {
    let Some(record) = state.store.passkey(result.cred_id()).await? else { return Ok(false) };
    if record.user_id != user_id {
        return Ok(false);
    }
    let mut passkey = parse_passkey(&record)?;
    passkey.update_credential(&result);
    let counter = i64::from(result.counter());
    Ok(state.store.passkey_used(&record.credential_id, &to_json(&passkey)?, counter, now).await?)
}

fn to_json(value: &impl Serialize) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(|e| ApiError::Internal(format!("WebAuthn JSON: {e}")))
}
