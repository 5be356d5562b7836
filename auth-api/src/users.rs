//! Adding a user: the one place that says what a new user is. Every user
//! has role `user` (others are added to it), and the password is hashed on
//! the blocking pool before anything is stored.

use shared::Role;

use crate::{
    domain::{Password, Username},
    error::ApiError,
    passwords::Passwords,
    store::{NewUser, Store, UserRecord},
};

/// The new user, or `None` if the name is taken.
pub async fn add(
    store: &Store,
    username: Username,
    password: Password,
    roles: &[Role],
    now: i64,
) -> Result<Option<UserRecord>, ApiError> {
    let password_hash = Passwords::hash(password).await?;
    let mut roles = roles.to_vec();
    roles.push(Role::User);
    roles.sort();
    roles.dedup();
    Ok(store.create_user(NewUser { username, password_hash, roles, now }).await?)
}
