//! The admin page's "create a user" form (`POST /admin`), answered before
//! the page renders so that it works without JavaScript: success renders
//! the admin page once with the new user's temporary password (201), which
//! exists nowhere else (the auth-api keeps only its hash; the response is
//! `no-store`); failure renders the page with the reason.

use actix_web::{
    Error,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{Method, StatusCode},
    middleware::Next,
};
use serde::Deserialize;
use shared::Role;

use super::{Posted, read_form, render_with_notice, session_ended, to_sign_in, unavailable};
use crate::{
    app::{
        format::sentence,
        types::{FormNotice, NewUserNotice, REAUTH_FOR_ADMIN},
    },
    auth_client::AuthError,
    session::guard::see_other,
};

/// The admin page: the form posts to it.
pub const PATH: &str = "/admin";

#[derive(Deserialize)]
struct NewUserForm {
    username: String,
    /// A checked "Administrator" box; absent otherwise.
    admin: Option<String>,
}

pub async fn handle_new_user(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if req.method() != Method::POST {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    }
    let (client, signed_in, form) = match read_form::<NewUserForm>(&mut req).await {
        Posted::Form { client, session, form } => (client, session, form),
        Posted::SignedOut => return Ok(req.into_response(to_sign_in(PATH))),
        Posted::Incomplete => {
            let notice = FormNotice::error("The form was incomplete. Enter a username.");
            return render_with_notice(req, next, notice, StatusCode::BAD_REQUEST, None).await;
        }
    };
    let username = form.username.trim().to_owned();
    if username.is_empty() {
        let notice = FormNotice::error("Enter a username.");
        return render_with_notice(req, next, notice, StatusCode::BAD_REQUEST, None).await;
    }
    let roles = if form.admin.is_some() { vec![Role::Admin] } else { vec![] };
    let (status, message) =
        match client.admin_create_user(&signed_in.access_token, &username, roles).await {
            Ok(created) => {
                tracing::info!(user_id = %created.user.id, "user created");
                let notice = NewUserNotice {
                    username: created.user.username,
                    temporary_password: created.temporary_password,
                };
                return render_with_notice(req, next, notice, StatusCode::CREATED, None).await;
            }
            Err(AuthError::Conflict(_)) => {
                (StatusCode::CONFLICT, format!("There is already a user called {username}."))
            }
            Err(AuthError::Rejected(why)) => (StatusCode::BAD_REQUEST, sentence(&why)),
            Err(AuthError::Forbidden) => {
                (StatusCode::FORBIDDEN, "Only administrators can create users.".to_owned())
            }
            // Creating an administrator needs the password again: the
            // prompt, then back here to submit once more.
            Err(AuthError::ReauthRequired) => {
                return Ok(req.into_response(see_other(REAUTH_FOR_ADMIN)));
            }
            Err(AuthError::InvalidToken | AuthError::InvalidGrant) => {
                let to_sign_in = session_ended(&req, PATH);
                return Ok(req.into_response(to_sign_in));
            }
            Err(e) => return unavailable(req, next, e, "Creating users").await,
        };
    render_with_notice(req, next, FormNotice::error(message), status, None).await
}
