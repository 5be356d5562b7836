use actix_web::web;
use shared::{AdminUserView, AuditPage, EndedSessions};

use crate::{
    audit,
    domain::{EndReason, EventKind},
    error::ApiError,
    extract::AdminUser,
    sessions,
    state::AppState,
    store::EventFilter,
};

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
    AdminUser(admin): AdminUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<EndedSessions>, ApiError> {
    let user = state.store.find_user_by_id(&path).await?.ok_or(ApiError::NotFound)?;
    let ended = sessions::end_all_of_user(&state, &user, EndReason::Admin, admin.actor()).await?;
    Ok(web::Json(EndedSessions { ended }))
}

/// `GET /admin/audit?user=&type=&before=&limit=`: everyone's security
/// events, newest first, a page at a time.
pub async fn audit(
    _admin: AdminUser,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<web::Json<AuditPage>, ApiError> {
    let query = query.into_inner();
    let kind = match query.kind.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        None => None,
        Some(name) => Some(
            EventKind::parse(name)
                .ok_or_else(|| ApiError::InvalidRequest(format!("unknown event type {name:?}")))?,
        ),
    };
    let username = query.user.as_deref().map(str::trim).filter(|u| !u.is_empty());
    let filter = EventFilter {
        username: username.map(str::to_ascii_lowercase),
        kind: kind.map(|k| k.as_str().to_owned()),
        ..audit::page_of(query.before, query.limit)?
    };
    Ok(web::Json(audit::page(&state.store, filter).await?))
}

#[derive(Debug, serde::Deserialize)]
pub struct AuditQuery {
    user: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    before: Option<i64>,
    limit: Option<i64>,
}
