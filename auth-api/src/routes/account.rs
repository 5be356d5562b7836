//! A user's own account: changing their password, asking the policy about a
//! candidate (the strength meter), and reading their security events.

use actix_web::{HttpResponse, web};
use shared::{AuditPage, PasswordChange, PasswordCheck, PasswordVerdict, Reauthentication};

use crate::{
    audit::{self, Event},
    domain::{EventKind, Password},
    error::ApiError,
    extract::{AuthUser, ClientAuth},
    state::AppState,
    store::{EventFilter, UserRecord},
    throttle::{self, LoginThrottle},
    users::{self, Change},
};

/// `POST /auth/password`: the caller's current password and a new one.
/// Every other session of the user ends; the caller's continues, with a
/// fresh `auth_time`. Wrong current password: 403 `invalid_grant`, counted
/// against the username exactly like a failed sign-in (so a stolen session
/// cannot be used to guess the password at leisure).
pub async fn change_password(
    auth: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    let PasswordChange { current_password, new_password } = body.into_inner();
    let now = state.now();
    let user =
        state.store.find_user_by_id(&auth.claims.sub).await?.ok_or(ApiError::InvalidToken)?;
    if current_password.len() > Password::MAX_BYTES {
        return Err(ApiError::InvalidRequest("password is longer than 1024 bytes".into()));
    }
    // The policy first: it costs no argon2 and no throttling budget.
    let new_password =
        Password::parse(new_password).map_err(|e| ApiError::WeakPassword(e.to_string()))?;
    let new_password = state
        .settings
        .password_policy
        .accept(new_password, &user.username)
        .await
        .map_err(|weak| ApiError::WeakPassword(weak.0))?;

    let refused = (EventKind::PasswordChangeFailed, "password change");
    confirm_password(&state, &auth, &user, current_password, refused, now).await?;

    let change = Change { actor: auth.actor(), keep: Some(&auth.session) };
    let revoked_until = state.policy().revoked_until(now);
    let ended =
        users::change_password(&state.store, &user, new_password, change, now, revoked_until)
            .await?;
    state.sessions_ended(ended);
    tracing::info!(user_id = %user.id, ended, "password changed");
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /auth/reauth`: the signed-in user enters their password again; the
/// same session continues with a fresh `auth_time` (`204`), so sensitive
/// actions are allowed for `REAUTH_MAX_AGE`. Wrong password: `403
/// invalid_grant`, throttled like a sign-in. The caller refreshes its
/// tokens to get the new `auth_time` into the access token.
pub async fn reauthenticate(
    auth: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<Reauthentication>,
) -> Result<HttpResponse, ApiError> {
    let now = state.now();
    let user =
        state.store.find_user_by_id(&auth.claims.sub).await?.ok_or(ApiError::InvalidToken)?;
    let password = body.into_inner().password;
    let refused = (EventKind::SignInFailed, "reauthentication");
    confirm_password(&state, &auth, &user, password, refused, now).await?;
    if !state.store.reauthenticate(&auth.session.id, now).await? {
        return Err(ApiError::InvalidToken);
    }
    let event = Event::new(EventKind::Reauthenticated, now)
        .user(&user)
        .actor(auth.actor())
        .session(&auth.session);
    audit::record(&state.store, event).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The signed-in user's own password, entered again to authorise something:
/// throttled and counted against the username exactly like an untrusted
/// sign-in (a stolen session must not be a way around the throttle), a
/// refusal recorded as `refused` (the event, and what it was for),
/// `WrongPassword` (403) if it is not theirs.
async fn confirm_password(
    state: &AppState,
    auth: &AuthUser,
    user: &UserRecord,
    password: String,
    refused: (EventKind, &str),
    now: i64,
) -> Result<(), ApiError> {
    if password.len() > Password::MAX_BYTES {
        return Err(ApiError::InvalidRequest("password is longer than 1024 bytes".into()));
    }
    let limiter = LoginThrottle { store: &state.store, settings: state.settings.throttle };
    let keys = throttle::Keys::for_session(&user.username, &auth.session.id);
    let judged = limiter.check(&keys, now).await?;
    let stored = Some(user.password_hash.clone());
    let admit = async { limiter.check(&keys, now).await.map(|_| ()) };
    if !state.passwords.verify(password, stored, admit).await? {
        limiter.failed(&keys, judged, now).await?;
        let (kind, what) = refused;
        let event = Event::new(kind, now)
            .user(user)
            .actor(auth.actor())
            .session(&auth.session)
            .detail(format!("{what}: wrong password"));
        audit::record(&state.store, event).await?;
        return Err(ApiError::WrongPassword);
    }
    limiter.succeeded(&keys).await?;
    Ok(())
}

/// `POST /auth/password/check`: the policy's verdict on a candidate, for the
/// strength meter. Client-authenticated; judged on the blocking pool.
pub async fn check_password(
    _client: ClientAuth,
    state: web::Data<AppState>,
    body: web::Json<PasswordCheck>,
) -> Result<web::Json<PasswordVerdict>, ApiError> {
    let PasswordCheck { password, username } = body.into_inner();
    let policy = state.settings.password_policy;
    let verdict = web::block(move || policy.judge(&password, &username))
        .await
        .map_err(|e| ApiError::Internal(format!("password check failed: {e}")))?;
    Ok(web::Json(PasswordVerdict {
        score: verdict.score,
        acceptable: verdict.acceptable,
        message: verdict.message,
    }))
}

#[derive(Debug, serde::Deserialize)]
pub struct EventsQuery {
    before: Option<i64>,
    limit: Option<i64>,
}

/// `GET /auth/events?before=&limit=`: the caller's own security events.
pub async fn events(
    auth: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<EventsQuery>,
) -> Result<web::Json<AuditPage>, ApiError> {
    let filter = EventFilter {
        user_id: Some(auth.claims.sub.clone()),
        ..audit::page_of(query.before, query.limit)?
    };
    Ok(web::Json(audit::page(&state.store, filter).await?))
}
