//! HTTP routes, one module per endpoint family. Handlers are thin: they
//! extract (which authenticates), call the session rules or the store, and
//! return JSON or an `ApiError`.

mod account;
mod admin;
pub mod health;
mod jwks;
mod mfa;
mod revocations;
mod revoke;
mod sessions;
mod token;
mod userinfo;

use actix_web::{HttpResponse, Resource, web};

use crate::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/auth/token").route(web::post().to(token::grant)))
        .service(resource("/auth/revoke").route(web::post().to(revoke::revoke)))
        .service(resource("/auth/revocations").route(web::get().to(revocations::feed)))
        .service(resource("/auth/userinfo").route(web::get().to(userinfo::userinfo)))
        .service(resource("/auth/password").route(web::post().to(account::change_password)))
        .service(resource("/auth/reauth").route(web::post().to(account::reauthenticate)))
        .service(resource("/auth/password/check").route(web::post().to(account::check_password)))
        .service(resource("/auth/events").route(web::get().to(account::events)))
        .service(resource("/auth/mfa").route(web::get().to(mfa::status)))
        .service(
            resource("/auth/mfa/totp")
                .route(web::post().to(mfa::begin_totp))
                .route(web::delete().to(mfa::disable_totp)),
        )
        .service(resource("/auth/mfa/totp/confirm").route(web::post().to(mfa::confirm_totp)))
        .service(
            resource("/auth/mfa/recovery-codes")
                .route(web::post().to(mfa::regenerate_recovery_codes)),
        )
        .service(resource("/auth/passkeys/options").route(web::post().to(mfa::begin_passkey)))
        .service(resource("/auth/passkeys").route(web::post().to(mfa::register_passkey)))
        .service(resource("/auth/passkeys/{id}").route(web::delete().to(mfa::remove_passkey)))
        .service(
            resource("/auth/passkey/options").route(web::post().to(mfa::begin_passkey_sign_in)),
        )
        .service(resource("/auth/sessions").route(web::get().to(sessions::list)))
        .service(resource("/auth/sessions/{id}").route(web::delete().to(sessions::end_one)))
        .service(
            resource("/admin/users")
                .route(web::get().to(admin::list_users))
                .route(web::post().to(admin::create_user)),
        )
        .service(
            resource("/admin/users/{id}")
                .route(web::patch().to(admin::update_user))
                .route(web::delete().to(admin::delete_user)),
        )
        .service(
            resource("/admin/users/{id}/sessions")
                .route(web::delete().to(admin::end_user_sessions)),
        )
        .service(
            resource("/admin/users/{id}/second-factors")
                .route(web::delete().to(admin::reset_second_factors)),
        )
        .service(resource("/admin/audit").route(web::get().to(admin::audit)))
        .service(resource("/.well-known/jwks.json").route(web::get().to(jwks::jwks)))
        .service(resource("/healthz").route(web::get().to(health::healthz)))
        .service(resource("/readyz").route(web::get().to(health::readyz)));
    // `/metrics` is not here: it has a listener of its own (`metrics::serve`).
}

/// A resource whose other methods get a JSON 405 rather than actix's empty one.
fn resource(path: &str) -> Resource {
    web::resource(path)
        .default_service(web::to(|| async { Err::<HttpResponse, _>(ApiError::MethodNotAllowed) }))
}

/// Everything unrouted: a JSON 404.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}
