//! `ClientAuth`: HTTP Basic client authentication for the client endpoints:
//! the configured client id, with any of `AUTH_CLIENT_SECRETS`.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header::Header, web};
use actix_web_httpauth::headers::authorization::{Authorization, Basic};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{error::ApiError, state::AppState};

/// Proof that the request came from the configured frontend.
#[derive(Debug)]
pub struct ClientAuth;

impl FromRequest for ClientAuth {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check(req))
    }
}

fn check(req: &HttpRequest) -> Result<ClientAuth, ApiError> {
    let state =
        req.app_data::<web::Data<AppState>>().ok_or(ApiError::Internal("no state".into()))?;
    let auth = Authorization::<Basic>::parse(req).map_err(|_| ApiError::InvalidClient)?;
    let basic = auth.as_ref();
    let given_secret = basic.password().map_or("", |p| p);
    // Compare digests in constant time: equal-length inputs, and no early exit
    // that would let response timing reveal how much of the secret matched
    // (or, for the secrets, which of them, or how many there are).
    let id_ok = digest(basic.user_id()).ct_eq(&digest(&state.settings.client_id));
    let secret_ok = state.settings.client_secrets.accepts(given_secret);
    if bool::from(id_ok & secret_ok) { Ok(ClientAuth) } else { Err(ApiError::InvalidClient) }
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}
