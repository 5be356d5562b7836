use actix_web::{HttpResponse, web};
use shared::SessionView;

use crate::{
    domain::EndReason,
    error::ApiError,
    extract::{AuthUser, is_admin_now},
    sessions,
    state::AppState,
};

/// `GET /auth/sessions`: the caller's live sessions, most recently used first.
pub async fn list(
    user: AuthUser,
    state: web::Data<AppState>,
) -> Result<web::Json<Vec<SessionView>>, ApiError> {
    let now = state.now();
    let records =
        state.store.live_sessions_of(&user.claims.sub, state.policy().liveness(now)).await?;
    let views = records
        .into_iter()
        .map(|s| SessionView {
            current: s.id == user.claims.sid,
            id: s.id,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            user_agent: s.user_agent,
            ip: s.ip,
        })
        .collect();
    Ok(web::Json(views))
}

/// `DELETE /auth/sessions/{id}`: ends one of the caller's sessions, or anyone's
/// for an admin. Someone else's session answers 404, exactly like a session
/// that does not exist, so ids cannot be probed.
pub async fn end_one(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let session = state.store.find_session(&id).await?.ok_or(ApiError::NotFound)?;
    let own = session.user_id == user.claims.sub;
    if !own && !is_admin_now(&state, &user).await? {
        return Err(ApiError::NotFound);
    }
    if !state.policy().is_live(&session, state.now()) {
        return Err(ApiError::NotFound);
    }
    let (reason, owner) = if own {
        (EndReason::UserRevoked, user.claims.username.clone())
    } else {
        user.require_recent_auth(state.now(), state.settings.reauth_max_age)?;
        let owner = state.store.find_user_by_id(&session.user_id).await?;
        (EndReason::Admin, owner.map(|u| u.username).unwrap_or_default())
    };
    if !sessions::end(&state, &session, &owner, reason, Some(user.actor())).await? {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::NoContent().finish())
}
