//! Server functions: the pages' only way to data and actions.
//!
//! Each runs on the server, behind the guard and the origin check, and reads
//! the guard's decision for this request (`crate::session::context`). Called
//! from a plain `<form>` (no JavaScript) they answer with a `303` to the page
//! the user is on; called from the hydrated app they return data and the page
//! updates in place.

use leptos::prelude::*;
use shared::{AdminUserView, AuditPage, MfaStatus, PasskeyChallenge, PasswordVerdict, SessionView};

use super::types::{
    AdminOutcome, CurrentUser, FormNotice, LoginNotice, NewUserNotice, Note, PasskeyStart,
    PendingView, SecurityNotice,
};

/// Where the notes example app (`examples/notes`) answers, behind Cloakroom.
pub const NOTES_API: &str = "/notes-api/notes";

/// The signed-in user's notes, asked of the notes app as the user while the
/// page renders on the server (the app verifies the access token itself).
#[server(prefix = "/api", endpoint = "my_notes")]
pub async fn my_notes() -> Result<Vec<Note>, ServerFnError> {
    use actix_web::http::Method;
    let list: super::types::NoteList =
        crate::proxy::call::as_user(Method::GET, NOTES_API, None).await?;
    Ok(list.notes)
}

/// Adds a note, from the server: the page's form without JavaScript (with
/// it, the browser posts to the app's API through the proxy instead).
#[server(prefix = "/api", endpoint = "add_note")]
pub async fn add_note(text: String) -> Result<(), ServerFnError> {
    use actix_web::http::Method;
    let body = serde_json::json!({ "text": text });
    let _: Note = crate::proxy::call::as_user(Method::POST, NOTES_API, Some(body)).await?;
    crate::session::context::after_form("/notes");
    Ok(())
}

/// The signed-in user, or `None`.
#[server(prefix = "/api", endpoint = "current_user")]
pub async fn get_current_user() -> Result<Option<CurrentUser>, ServerFnError> {
    Ok(crate::session::context::auth()?.user().cloned())
}

/// Why the last sign-in attempt failed, if this render answers one.
#[server(prefix = "/api", endpoint = "login_notice")]
pub async fn get_login_notice() -> Result<Option<LoginNotice>, ServerFnError> {
    Ok(crate::session::context::login_notice())
}

/// Why the last form post on this page failed, if this render answers one.
#[server(prefix = "/api", endpoint = "form_notice")]
pub async fn get_form_notice() -> Result<Option<FormNotice>, ServerFnError> {
    Ok(crate::session::context::form_notice())
}

/// The sign-in waiting for a second factor in this browser (`/login/verify`).
#[server(prefix = "/api", endpoint = "pending_sign_in")]
pub async fn get_pending_sign_in() -> Result<Option<PendingView>, ServerFnError> {
    Ok(crate::session::context::pending_sign_in())
}

/// The signed-in user's second factors. Open to a user who must still set
/// one up: it is what their page shows.
#[server(prefix = "/api", endpoint = "mfa_status")]
pub async fn get_mfa_status() -> Result<MfaStatus, ServerFnError> {
    use crate::session::context;
    let ctx = context::session()?;
    ctx.client.mfa_status(&ctx.access_token).await.map_err(context::to_server_error)
}

/// What the last second-factor form on `/account/security` produced, if
/// this render answers it: a key to scan, or recovery codes, shown once.
#[server(prefix = "/api", endpoint = "security_notice")]
pub async fn get_security_notice() -> Result<Option<SecurityNotice>, ServerFnError> {
    crate::session::context::session()?;
    Ok(crate::session::context::security_notice())
}

/// Begins registering a passkey for the signed-in user (the browser half
/// passes the options to `navigator.credentials.create`). Open to a user
/// who must still set up a second factor.
#[server(prefix = "/api", endpoint = "passkey_registration_options")]
pub async fn passkey_registration_options() -> Result<PasskeyStart, ServerFnError> {
    use crate::{auth_client::AuthError, session::context};
    let ctx = context::factor_setup()?;
    let origin = context::public_origin()?;
    match ctx.client.passkey_registration_options(&ctx.access_token, &origin).await {
        Ok(challenge) => Ok(PasskeyStart::Challenge(challenge)),
        Err(AuthError::ReauthRequired) => Ok(PasskeyStart::Reauthenticate),
        Err(e) => Err(context::to_server_error(e)),
    }
}

/// Registers the passkey the browser made: the recovery codes if it is the
/// user's first second factor (shown once), else none. The session's tokens
/// are swapped at once, so they say what it proved.
#[server(prefix = "/api", endpoint = "register_passkey")]
pub async fn register_passkey(
    ceremony: String,
    name: String,
    credential: String,
) -> Result<Vec<String>, ServerFnError> {
    use crate::session::context;
    let ctx = context::factor_setup()?;
    let new = shared::NewPasskey { ceremony, name, credential };
    let registered = ctx
        .client
        .register_passkey(&ctx.access_token, &new)
        .await
        .map_err(context::to_server_error)?;
    context::refresh_session().await;
    Ok(registered.recovery_codes)
}

/// Begins a sign-in with a passkey: alone, or as the second factor of this
/// browser's pending sign-in (`second_factor`).
#[server(prefix = "/api", endpoint = "passkey_sign_in_options")]
pub async fn passkey_sign_in_options(
    second_factor: bool,
) -> Result<PasskeyChallenge, ServerFnError> {
    use crate::session::context;
    let origin = context::public_origin()?;
    let mfa_token = match second_factor {
        true => Some(context::pending_mfa_token()?),
        false => None,
    };
    let client = context::auth_client()?;
    let ip = context::client_ip();
    client
        .passkey_options(&origin, mfa_token.as_deref(), ip)
        .await
        .map_err(context::to_sign_in_error)
}

/// Signs in with the passkey assertion the browser made: alone
/// (`remember` as the form's box says), or as the second factor of this
/// browser's pending sign-in. The new session's cookies are set on this
/// answer; it says where to go next.
#[server(prefix = "/api", endpoint = "passkey_sign_in")]
pub async fn passkey_sign_in(
    ceremony: String,
    credential: String,
    second_factor: bool,
    remember: bool,
    next: String,
) -> Result<String, ServerFnError> {
    crate::session::context::passkey_sign_in(ceremony, credential, second_factor, remember, next)
        .await
}

/// The password policy's verdict on a candidate new password for the
/// signed-in user: the strength meter asks as they type. The password
/// travels in the POST body, never in a URL.
#[server(prefix = "/api", endpoint = "password_strength")]
pub async fn password_strength(password: String) -> Result<PasswordVerdict, ServerFnError> {
    use crate::session::context;
    let ctx = context::session()?;
    if password.len() > 1024 {
        return Ok(PasswordVerdict {
            score: 0,
            acceptable: false,
            message: Some("Use at most 1024 bytes.".into()),
        });
    }
    ctx.client.check_password(&ctx.user.username, &password).await.map_err(context::to_server_error)
}

/// The signed-in user's recent security events, newest first.
#[server(prefix = "/api", endpoint = "my_events")]
pub async fn my_events() -> Result<AuditPage, ServerFnError> {
    let ctx = crate::session::context::signed_in()?;
    ctx.client.my_events(&ctx.access_token).await.map_err(crate::session::context::to_server_error)
}

/// Everyone's security events, filtered, a page at a time (admins only).
/// An unknown event type is simply no filter the page offers: refused here
/// with a message rather than passed on.
#[server(prefix = "/api", endpoint = "admin_audit")]
pub async fn admin_audit(
    user: Option<String>,
    kind: Option<String>,
    before: Option<i64>,
) -> Result<AuditPage, ServerFnError> {
    use crate::{auth_client::AuditQuery, session::context};
    let ctx = context::admin()?;
    let nonempty = |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let kind = nonempty(kind);
    if let Some(kind) = &kind
        && shared::EventKind::parse(kind).is_none()
    {
        return Err(context::bad_request(format!("There is no event type \"{kind}\".")));
    }
    let query = AuditQuery { user: nonempty(user), kind, before, limit: Some(50) };
    ctx.client.admin_audit(&ctx.access_token, &query).await.map_err(context::to_server_error)
}

/// The user this render's form post just created, with their temporary
/// password (admins only; see `crate::forms::new_user`).
#[server(prefix = "/api", endpoint = "new_user_notice")]
pub async fn get_new_user_notice() -> Result<Option<NewUserNotice>, ServerFnError> {
    crate::session::context::admin()?;
    Ok(crate::session::context::new_user_notice())
}

/// Disables a user (their sessions end at once) or enables them (admins
/// only). Needs the password proven recently, like every change below.
#[server(prefix = "/api", endpoint = "admin_set_disabled")]
pub async fn admin_set_disabled(
    user_id: String,
    disabled: bool,
) -> Result<AdminOutcome, ServerFnError> {
    let update = shared::UserUpdate { disabled: Some(disabled), roles: None };
    admin_update(user_id, update, disabled).await
}

/// Makes a user an administrator or takes the role away (admins only). The
/// change reaches every frontend through the revocation feed.
#[server(prefix = "/api", endpoint = "admin_set_admin")]
pub async fn admin_set_admin(user_id: String, admin: bool) -> Result<AdminOutcome, ServerFnError> {
    let roles = if admin { vec![shared::Role::Admin] } else { vec![] };
    admin_update(user_id, shared::UserUpdate { disabled: None, roles: Some(roles) }, false).await
}

/// Removes every second factor of a user who lost theirs; their sessions
/// end (admins only, recent password).
#[server(prefix = "/api", endpoint = "admin_reset_second_factors")]
pub async fn admin_reset_second_factors(user_id: String) -> Result<AdminOutcome, ServerFnError> {
    use crate::session::context;
    let ctx = context::admin()?;
    let reset = ctx.client.admin_reset_second_factors(&ctx.access_token, &user_id).await;
    admin_outcome(&ctx, &user_id, true, reset)
}

/// Deletes a user and ends their sessions (admins only).
#[server(prefix = "/api", endpoint = "admin_delete_user")]
pub async fn admin_delete_user(user_id: String) -> Result<AdminOutcome, ServerFnError> {
    use crate::session::context;
    let ctx = context::admin()?;
    let deleted = ctx.client.admin_delete_user(&ctx.access_token, &user_id).await;
    admin_outcome(&ctx, &user_id, true, deleted)
}

#[cfg(feature = "ssr")]
async fn admin_update(
    user_id: String,
    update: shared::UserUpdate,
    ends_sessions: bool,
) -> Result<AdminOutcome, ServerFnError> {
    let ctx = crate::session::context::admin()?;
    let updated = ctx.client.admin_update_user(&ctx.access_token, &user_id, &update).await;
    admin_outcome(&ctx, &user_id, ends_sessions, updated)
}

/// The answer to an admin's change to `user_id`, and where a form post
/// lands: the admin page; home, signed out, if the change ended the
/// caller's own session; the password prompt if the auth-api wants it
/// again (then back to the admin page, to do it once more).
#[cfg(feature = "ssr")]
fn admin_outcome(
    ctx: &crate::session::context::SignedInContext,
    user_id: &str,
    ends_sessions: bool,
    result: Result<(), crate::auth_client::AuthError>,
) -> Result<AdminOutcome, ServerFnError> {
    use crate::{auth_client::AuthError, session::context};
    match result {
        Err(AuthError::ReauthRequired) => {
            context::after_form(super::types::REAUTH_FOR_ADMIN);
            Ok(AdminOutcome::Reauthenticate)
        }
        Err(e) => Err(context::to_server_error(e)),
        Ok(()) if ends_sessions && user_id == ctx.user.user_id => {
            context::forget_session();
            context::after_form("/?signed_out=1");
            Ok(AdminOutcome::SignedOut)
        }
        Ok(()) => {
            context::after_form("/admin");
            Ok(AdminOutcome::Done)
        }
    }
}

/// The caller's live sessions, most recently used first.
#[server(prefix = "/api", endpoint = "my_sessions")]
pub async fn my_sessions() -> Result<Vec<SessionView>, ServerFnError> {
    let ctx = crate::session::context::signed_in()?;
    ctx.client.sessions(&ctx.access_token).await.map_err(crate::session::context::to_server_error)
}

/// Every user with their live-session count (admins only).
#[server(prefix = "/api", endpoint = "admin_users")]
pub async fn admin_users() -> Result<Vec<AdminUserView>, ServerFnError> {
    let ctx = crate::session::context::admin()?;
    ctx.client
        .admin_users(&ctx.access_token)
        .await
        .map_err(crate::session::context::to_server_error)
}

/// Ends this session at the auth-api and clears the cookie. The cookie is
/// cleared even if the auth-api cannot be reached, and the home page says so.
/// True if the auth-api confirmed that the session ended.
#[server(prefix = "/api", endpoint = "logout")]
pub async fn logout() -> Result<bool, ServerFnError> {
    use crate::session::context;
    let ended = context::sign_out().await;
    context::after_form(super::paths::signed_out_path(ended));
    Ok(ended)
}

/// Ends one of the caller's sessions (the current one means signing out).
#[server(prefix = "/api", endpoint = "revoke_session")]
pub async fn revoke_session(id: String) -> Result<(), ServerFnError> {
    use crate::session::context;
    let ctx = context::signed_in()?;
    if id == ctx.user.session_id {
        let ended = context::sign_out().await;
        context::after_form(super::paths::signed_out_path(ended));
        return Ok(());
    }
    ctx.client.end_session(&ctx.access_token, &id).await.map_err(context::to_server_error)?;
    context::after_form("/sessions");
    Ok(())
}

/// Ends every session of the caller except this one.
#[server(prefix = "/api", endpoint = "revoke_other_sessions")]
pub async fn revoke_other_sessions() -> Result<u64, ServerFnError> {
    use crate::session::context;
    let ctx = context::signed_in()?;
    let sessions =
        ctx.client.sessions(&ctx.access_token).await.map_err(context::to_server_error)?;
    let mut ended = 0;
    for s in sessions.iter().filter(|s| s.id != ctx.user.session_id) {
        match ctx.client.end_session(&ctx.access_token, &s.id).await {
            Ok(()) => ended += 1,
            // Ended meanwhile (signed out there, or expired): nothing to do.
            Err(crate::auth_client::AuthError::NotFound) => {}
            Err(e) => return Err(context::to_server_error(e)),
        }
    }
    context::after_form("/sessions");
    Ok(ended)
}

/// Signs a user out everywhere (admins only). Signing oneself out everywhere
/// ends this session too.
#[server(prefix = "/api", endpoint = "admin_sign_out_user")]
pub async fn admin_sign_out_user(user_id: String) -> Result<AdminOutcome, ServerFnError> {
    use crate::session::context;
    let ctx = context::admin()?;
    let ended = ctx.client.admin_end_user_sessions(&ctx.access_token, &user_id).await;
    admin_outcome(&ctx, &user_id, true, ended.map(|_| ()))
}
