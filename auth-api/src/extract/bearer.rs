//! `AuthUser`: a verified access token whose session is still live.
//!
//! Signature and claims are checked locally; the session is then looked up,
//! because a revoked session's access token is still cryptographically valid
//! until it expires and the auth-api must not honour it.

use std::{future::Future, pin::Pin};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header::Header, web};
use actix_web_httpauth::headers::authorization::{Authorization, Bearer};
use shared::{AccessClaims, Role, mfa::amr::has_second_factor};

use crate::{audit::Actor, error::ApiError, state::AppState, store::SessionRecord, tokens::access};

#[derive(Debug, Clone)]
pub struct AuthUser {
    pub claims: AccessClaims,
    /// The live session the token belongs to.
    pub session: SessionRecord,
}

impl AuthUser {
    /// Verifies `token` as an access token of this auth-api for the
    /// frontend's client id (signature, claims, time) and finds its session
    /// live. Every bearer endpoint requires exactly this, and so does a token
    /// exchange of its subject token (`crate::exchange`): one check, so the
    /// two can never drift apart. Any failure is `InvalidToken`, except
    /// storage trouble.
    pub async fn from_token(state: &AppState, token: &str) -> Result<Self, ApiError> {
        let now = state.now();
        let keys = state.keys.snapshot();
        let claims = match access::verify(token, &keys, &state.audience(), now) {
            Ok(claims) => claims,
            Err(e) => {
                // Signed with a key this instance has not loaded yet
                // (rotated through another instance)? Reload, judge again.
                let unknown = jsonwebtoken::decode_header(token)
                    .ok()
                    .and_then(|h| h.kid)
                    .filter(|kid| !keys.verifiers.contains_key(kid));
                let Some(kid) = unknown else { return Err(e) };
                // A failed reload does not make a token we cannot verify
                // anything but unverifiable: still 401.
                match state.keys.knows_after_reload(&kid, &state.store, now).await {
                    Ok(true) => {
                        access::verify(token, &state.keys.snapshot(), &state.audience(), now)?
                    }
                    Ok(false) => return Err(e),
                    Err(reload) => {
                        tracing::warn!(error = %reload, "could not reload signing keys");
                        return Err(e);
                    }
                }
            }
        };
        let session = state.store.find_session(&claims.sid).await?;
        match session {
            Some(session)
                if session.user_id == claims.sub && state.policy().is_live(&session, now) =>
            {
                Ok(AuthUser { claims, session })
            }
            _ => Err(ApiError::InvalidToken),
        }
    }

    /// For sensitive actions: the session proved the password within
    /// `max_age` seconds of `now` (the session's record, read from the
    /// database by this extractor, not the token's possibly older claim).
    pub fn require_recent_auth(&self, now: i64, max_age: i64) -> Result<(), ApiError> {
        if now - self.session.auth_time <= max_age { Ok(()) } else { Err(ApiError::ReauthRequired) }
    }

    /// This user as the actor of an audit event.
    pub fn actor(&self) -> Actor<'_> {
        Actor::User { id: &self.claims.sub, name: &self.claims.username }
    }
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = Authorization::<Bearer>::parse(req).map(|a| a.as_ref().token().to_string());
        Box::pin(async move {
            let state = state.ok_or(ApiError::Internal("no state".into()))?;
            let token = token.map_err(|_| ApiError::InvalidToken)?;
            AuthUser::from_token(&state, &token).await
        })
    }
}

/// An `AuthUser` who is an administrator *now*: role `admin` in the
/// database, not only in the token (a role removed a moment ago must not
/// keep working until the token expires), not disabled, and not on a
/// temporary password. Anyone else gets 403. And when `MFA_REQUIRED_ROLES`
/// covers them, their session must have proven a second factor (`amr` of
/// the session's record, which confirming a factor upgrades): else 403
/// `insufficient_user_authentication`.
#[derive(Debug, Clone)]
pub struct AdminUser(pub AuthUser);

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let user = AuthUser::from_request(req, payload);
        Box::pin(async move {
            let user = user.await?;
            let state = state.ok_or(ApiError::Internal("no state".into()))?;
            if is_admin_now(&state, &user).await? {
                Ok(AdminUser(user))
            } else {
                Err(ApiError::Forbidden)
            }
        })
    }
}

/// Whether `user` is an administrator according to the database, for a
/// route that also serves users (then acting on their own things). An
/// administrator whose session has not proven a second factor that
/// `MFA_REQUIRED_ROLES` requires gets `InsufficientUserAuthentication`.
pub async fn is_admin_now(state: &AppState, user: &AuthUser) -> Result<bool, ApiError> {
    let Some(roles) = admin_roles_now(state, user).await? else { return Ok(false) };
    if state.settings.mfa.required_for(&roles) && !has_second_factor(&user.session.amr) {
        return Err(ApiError::InsufficientUserAuthentication);
    }
    Ok(true)
}

/// The roles of `user` from the database, if they make an active administrator.
async fn admin_roles_now(state: &AppState, user: &AuthUser) -> Result<Option<Vec<Role>>, ApiError> {
    let record = state.store.find_user_by_id(&user.claims.sub).await?;
    Ok(record
        .filter(|u| u.roles.contains(&Role::Admin) && !u.disabled && !u.password_change_required)
        .map(|u| u.roles))
}
