use actix_web::{HttpResponse, web};
use shared::{AdminUserView, AuditPage, CreatedUser, EndedSessions, NewUserRequest, UserUpdate};

use crate::{
    audit,
    domain::{EndReason, EventKind, Username},
    error::ApiError,
    extract::AdminUser,
    sessions,
    state::AppState,
    store::{EventFilter, UserActivity, UserChange, UserRecord},
    users,
};

/// `GET /admin/users`: every user with their live-session count.
pub async fn list_users(
    _admin: AdminUser,
    state: web::Data<AppState>,
) -> Result<web::Json<Vec<AdminUserView>>, ApiError> {
    let live = state.policy().liveness(state.now());
    let listed = state.store.list_users_with_activity(live).await?;
    Ok(web::Json(listed.into_iter().map(view).collect()))
}

/// `POST /admin/users`: creates a user with a temporary password, answered
/// once (201); they must change it at their first sign-in.
pub async fn create_user(
    AdminUser(admin): AdminUser,
    state: web::Data<AppState>,
    body: web::Json<NewUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let NewUserRequest { username, roles } = body.into_inner();
    if roles.contains(&shared::Role::Admin) {
        admin.require_recent_auth(state.now(), state.settings.reauth_max_age)?;
    }
    let username =
        Username::parse(&username).map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
    let policy = &state.settings.password_policy;
    let now = state.now();
    let created = users::add_with_temporary_password(
        &state.store,
        policy,
        username,
        &roles,
        admin.actor(),
        now,
    )
    .await?;
    let Some((user, temporary_password)) = created else {
        return Err(ApiError::Conflict("that username is taken".into()));
    };
    tracing::info!(user_id = %user.id, "user created by an administrator");
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(CreatedUser { user: view(new_user(user)), temporary_password }))
}

/// `PATCH /admin/users/{id}`: disables or enables a user, or sets their
/// roles. Disabling ends their sessions at once; a role change makes their
/// tokens stale everywhere (frontends refresh them within the feed's
/// latency). The last active administrator cannot be disabled or demoted.
pub async fn update_user(
    AdminUser(admin): AdminUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<UserUpdate>,
) -> Result<HttpResponse, ApiError> {
    let UserUpdate { disabled, roles } = body.into_inner();
    if disabled.is_none() && roles.is_none() {
        return Err(ApiError::InvalidRequest(
            "nothing to change: give `disabled` or `roles`".into(),
        ));
    }
    admin.require_recent_auth(state.now(), state.settings.reauth_max_age)?;
    let user = target(&state, &path).await?;
    let now = state.now();
    let policy = state.policy();
    if let Some(roles) = roles {
        let change = users::set_roles(
            &state.store,
            &user,
            &roles,
            admin.actor(),
            policy.liveness(now),
            policy.revoked_until(now),
        )
        .await?;
        settled(&state, change, false)?;
    }
    if let Some(disabled) = disabled {
        let change = users::set_disabled(
            &state.store,
            &user,
            disabled,
            admin.actor(),
            now,
            policy.revoked_until(now),
        )
        .await?;
        settled(&state, change, true)?;
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /admin/users/{id}`: deletes a user and ends their sessions.
pub async fn delete_user(
    AdminUser(admin): AdminUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    admin.require_recent_auth(state.now(), state.settings.reauth_max_age)?;
    let user = target(&state, &path).await?;
    let now = state.now();
    let revoked_until = state.policy().revoked_until(now);
    let change = users::delete(&state.store, &user, admin.actor(), now, revoked_until).await?;
    settled(&state, change, true)?;
    Ok(HttpResponse::NoContent().finish())
}

async fn target(state: &AppState, id: &str) -> Result<UserRecord, ApiError> {
    state.store.find_user_by_id(id).await?.ok_or(ApiError::NotFound)
}

/// Turns a store outcome into the answer, waking the feed's long polls when
/// sessions ended (`ends`) or were made stale.
fn settled(state: &AppState, change: UserChange, ends: bool) -> Result<(), ApiError> {
    match change {
        UserChange::Done(sessions) => {
            if ends {
                state.sessions_ended(sessions);
            } else if sessions > 0 {
                // Made stale, not ended: frontends refresh their tokens.
                state.feed.notify();
            }
            Ok(())
        }
        UserChange::NotFound => Err(ApiError::NotFound),
        UserChange::LastAdmin => Err(ApiError::Conflict(
            "this is the last active administrator: make someone else an administrator first"
                .into(),
        )),
    }
}

/// A user just created: no sessions, no second factor yet.
fn new_user(user: UserRecord) -> UserActivity {
    UserActivity { user, session_count: 0, last_seen_at: None, second_factor: false }
}

fn view(listed: UserActivity) -> AdminUserView {
    let UserActivity { user: u, session_count, last_seen_at, second_factor } = listed;
    AdminUserView {
        id: u.id,
        username: u.username,
        roles: u.roles,
        created_at: u.created_at,
        disabled: u.disabled,
        password_change_required: u.password_change_required,
        second_factor,
        session_count,
        last_seen_at,
    }
}

/// `DELETE /admin/users/{id}/sessions`: signs a user out everywhere.
pub async fn end_user_sessions(
    AdminUser(admin): AdminUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<EndedSessions>, ApiError> {
    // Signing oneself out everywhere is no one else's business.
    if admin.claims.sub != *path {
        admin.require_recent_auth(state.now(), state.settings.reauth_max_age)?;
    }
    let user = state.store.find_user_by_id(&path).await?.ok_or(ApiError::NotFound)?;
    let ended = sessions::end_all_of_user(&state, &user, EndReason::Admin, admin.actor()).await?;
    Ok(web::Json(EndedSessions { ended }))
}

/// `DELETE /admin/users/{id}/second-factors`: removes every second factor
/// of a user who lost them; their sessions end. Needs recent authentication.
pub async fn reset_second_factors(
    AdminUser(admin): AdminUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<EndedSessions>, ApiError> {
    admin.require_recent_auth(state.now(), state.settings.reauth_max_age)?;
    let user = target(&state, &path).await?;
    let now = state.now();
    let revoked_until = state.policy().revoked_until(now);
    let ended =
        users::reset_second_factors(&state.store, &user, admin.actor(), now, revoked_until).await?;
    state.sessions_ended(ended);
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
