use actix_web::web;
use shared::{AdminUserView, EndedSessions};

use crate::{domain::EndReason, error::ApiError, extract::AdminUser, sessions, state::AppState};

/// `GET /admin/users`: every user with their live-session count.
pub async fn list_users(
    _admin: AdminUser,
    state: web::Data<AppState>,
) -> Result<web::Json<Vec<AdminUserView>>, ApiError> {
    let live = state.policy().liveness(state.now());
    let users = state.store.list_users_with_activity(live).await?;
    Ok(web::Json(
        users
            .into_iter()
            .map(|(u, session_count, last_seen_at)| AdminUserView {
                id: u.id,
                username: u.username,
                roles: u.roles,
                created_at: u.created_at,
                session_count,
                last_seen_at,
            })
            .collect(),
    ))
}

/// `DELETE /admin/users/{id}/sessions`: signs a user out everywhere.
pub async fn end_user_sessions(
    _admin: AdminUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<EndedSessions>, ApiError> {
    let user = state.store.find_user_by_id(&path).await?.ok_or(ApiError::NotFound)?;
    let ended = sessions::end_all_of_user(&state, &user.id, EndReason::Admin).await?;
    Ok(web::Json(EndedSessions { ended }))
}
