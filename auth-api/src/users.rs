//! What a user's account is, and the changes to it every entry point (HTTP,
//! CLI) shares: adding a user (with a password or a temporary one), changing
//! a password, roles, disabling, enabling and deleting. Every user has role
//! `user` (others are added to it); passwords are the policy's
//! [`NewPassword`]s, hashed on the blocking pool; each change is recorded in
//! the audit log with who made it. Changes that could leave no active
//! administrator are refused by the store, inside the transaction.

use shared::Role;

use crate::{
    audit::{self, Actor, Event},
    domain::{EventKind, Password, Username},
    error::ApiError,
    passwords::{
        Passwords,
        policy::{NewPassword, PasswordPolicy},
    },
    store::{Liveness, NewUser, Store, UserChange, UserRecord},
};

/// The new user, or `None` if the name is taken.
pub async fn add(
    store: &Store,
    username: Username,
    password: NewPassword,
    roles: &[Role],
    actor: Actor<'_>,
    now: i64,
) -> Result<Option<UserRecord>, ApiError> {
    insert(store, username, password, roles, false, actor, now).await
}

/// A new user with a random temporary password, which they must change at
/// their first sign-in (ASVS 2.3.1). Returns the user and the password, to
/// be shown once to the administrator; `None` if the name is taken.
pub async fn add_with_temporary_password(
    store: &Store,
    policy: &PasswordPolicy,
    username: Username,
    roles: &[Role],
    actor: Actor<'_>,
    now: i64,
) -> Result<Option<(UserRecord, String)>, ApiError> {
    // 32 characters of base64url (192 random bits), or more if the policy asks.
    let chars = policy.min_length.max(32);
    let mut temporary = String::new();
    while temporary.chars().count() < chars {
        let bytes = crate::tokens::random_bytes::<24>();
        temporary.push_str(&base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            bytes,
        ));
    }
    let password = Password::parse(temporary.clone())
        .map_err(|e| ApiError::Internal(format!("temporary password: {e}")))?;
    let password = policy
        .accept(password, username.as_str())
        .await
        .map_err(|e| ApiError::Internal(format!("temporary password refused: {e}")))?;
    let user = insert(store, username, password, roles, true, actor, now).await?;
    Ok(user.map(|user| (user, temporary)))
}

async fn insert(
    store: &Store,
    username: Username,
    password: NewPassword,
    roles: &[Role],
    temporary: bool,
    actor: Actor<'_>,
    now: i64,
) -> Result<Option<UserRecord>, ApiError> {
    let password_hash = Passwords::hash(password.into_password()).await?;
    let roles = with_user_role(roles);
    let new = NewUser { username, password_hash, roles, now, password_change_required: temporary };
    let Some(user) = store.create_user(new).await? else {
        return Ok(None);
    };
    let mut detail = format!("roles {}", roles_text(&user.roles));
    if temporary {
        detail.push_str("; temporary password");
    }
    let event = Event::new(EventKind::UserCreated, now).user(&user).actor(actor);
    audit::record(store, event.detail(detail)).await?;
    Ok(Some(user))
}

/// Every user has role `user`; roles are kept sorted and once each.
pub fn with_user_role(roles: &[Role]) -> Vec<Role> {
    let mut roles = roles.to_vec();
    roles.push(Role::User);
    roles.sort();
    roles.dedup();
    roles
}

fn roles_text(roles: &[Role]) -> String {
    roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
}

/// Sets `user`'s roles; their sessions' tokens become stale on the feed
/// (`live_at` says which sessions are live). The caller wakes the feed.
pub async fn set_roles(
    store: &Store,
    user: &UserRecord,
    roles: &[Role],
    actor: Actor<'_>,
    live_at: Liveness,
    revoked_until: i64,
) -> Result<UserChange, ApiError> {
    let roles = with_user_role(roles);
    let change = store.set_roles(&user.id, &roles, live_at, revoked_until).await?;
    if let UserChange::Done(_) = change {
        let detail = format!("{} -> {}", roles_text(&user.roles), roles_text(&roles));
        let event = Event::new(EventKind::RolesChanged, live_at.now).user(user).actor(actor);
        audit::record(store, event.detail(detail)).await?;
    }
    Ok(change)
}

/// Removes every second factor of `user` (they lost their phone and their
/// recovery codes) and ends their sessions: whoever signs in next proves
/// the password only, and sets a factor up again. How many sessions ended;
/// the caller wakes the feed.
pub async fn reset_second_factors(
    store: &Store,
    user: &UserRecord,
    actor: Actor<'_>,
    now: i64,
    revoked_until: i64,
) -> Result<u64, ApiError> {
    let event = Event::new(EventKind::SecondFactorsReset, now).user(user).actor(actor);
    let (factors, ended) =
        store.reset_second_factors(&user.id, &event.into_record(), revoked_until).await?;
    tracing::info!(user_id = %user.id, factors, ended, "second factors reset");
    Ok(ended)
}

/// Disables `user` (ending every session of theirs) or enables them again.
pub async fn set_disabled(
    store: &Store,
    user: &UserRecord,
    disabled: bool,
    actor: Actor<'_>,
    now: i64,
    revoked_until: i64,
) -> Result<UserChange, ApiError> {
    let change = store.set_disabled(&user.id, disabled, now, revoked_until).await?;
    if let UserChange::Done(ended) = change {
        let (kind, detail) = if disabled {
            (EventKind::UserDisabled, format!("{ended} session(s) ended"))
        } else {
            (EventKind::UserEnabled, String::new())
        };
        let mut event = Event::new(kind, now).user(user).actor(actor);
        if !detail.is_empty() {
            event = event.detail(detail);
        }
        audit::record(store, event).await?;
    }
    Ok(change)
}

/// Deletes `user` and ends their sessions; their audit events stay.
pub async fn delete(
    store: &Store,
    user: &UserRecord,
    actor: Actor<'_>,
    now: i64,
    revoked_until: i64,
) -> Result<UserChange, ApiError> {
    let change = store.delete_user(&user.id, now, revoked_until).await?;
    if let UserChange::Done(ended) = change {
        let event = Event::new(EventKind::UserDeleted, now).user(user).actor(actor);
        audit::record(store, event.detail(format!("{ended} session(s) ended"))).await?;
    }
    Ok(change)
}

/// Where a password change comes from, for the audit log and to know which
/// session survives it.
pub struct Change<'a> {
    pub actor: Actor<'a>,
    /// The session the change was made in: it stays, with a fresh
    /// `auth_time`; every other session of the user ends.
    pub keep: Option<&'a crate::store::SessionRecord>,
}

/// Sets `user`'s password and ends their other sessions (published on the
/// revocation feed until `revoked_until`). Returns how many ended; the
/// caller wakes the feed's long polls.
pub async fn change_password(
    store: &Store,
    user: &UserRecord,
    password: NewPassword,
    change: Change<'_>,
    now: i64,
    revoked_until: i64,
) -> Result<u64, ApiError> {
    let hash = Passwords::hash(password.into_password()).await?;
    let keep = change.keep.map(|s| s.id.as_str());
    let ended = store.change_password(&user.id, &hash, keep, now, revoked_until).await?;
    let mut event = Event::new(EventKind::PasswordChanged, now).user(user).actor(change.actor);
    if let Some(session) = change.keep {
        event = event.session(session);
    }
    audit::record(store, event.detail(format!("{ended} other session(s) ended"))).await?;
    Ok(ended)
}
