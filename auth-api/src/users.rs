//! What a user's account is, and the changes to it every entry point (HTTP,
//! CLI) shares: adding a user and changing a password. Every user has role
//! `user` (others are added to it); passwords are the policy's
//! [`NewPassword`]s, hashed on the blocking pool; each change is recorded in
//! the audit log with who made it.

use shared::Role;

use crate::{
    audit::{self, Actor, Event},
    domain::{EventKind, Username},
    error::ApiError,
    passwords::{Passwords, policy::NewPassword},
    store::{NewUser, Store, UserRecord},
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
    let password_hash = Passwords::hash(password.into_password()).await?;
    let mut roles = roles.to_vec();
    roles.push(Role::User);
    roles.sort();
    roles.dedup();
    let Some(user) = store.create_user(NewUser { username, password_hash, roles, now }).await?
    else {
        return Ok(None);
    };
    let roles = user.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",");
    let event = Event::new(EventKind::UserCreated, now).user(&user).actor(actor);
    audit::record(store, event.detail(format!("roles {roles}"))).await?;
    Ok(Some(user))
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
