use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use shared::TokenRequest;
use tracing::Instrument;

use crate::{
    error::ApiError,
    exchange::{self, Exchange},
    extract::ClientAuth,
    sessions::{
        self, Login,
        passkey::{self, PasskeySignIn},
        second_factor::{self, Proof},
    },
    state::AppState,
};

/// `POST /auth/token`: the password and refresh-token grants, the second
/// step of a sign-in that needs a second factor, a passkey sign-in, and
/// token exchange (which answers RFC 8693's shape, not a session's tokens).
pub async fn grant(
    _client: ClientAuth,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = body.into_inner();
    let grant_type = grant_type(&request);
    let started = std::time::Instant::now();
    let span = tracing::debug_span!("grant", grant_type);
    let answer = answer(&state, &req, request).instrument(span).await;
    state.metrics.grant(grant_type, started.elapsed());
    answer
}

/// The metrics' name of each grant (`grant_duration_seconds{grant_type}`).
fn grant_type(request: &TokenRequest) -> &'static str {
    match request {
        TokenRequest::Password { .. } => "password",
        TokenRequest::RefreshToken { .. } => "refresh_token",
        TokenRequest::MfaOtp { .. } => "mfa_otp",
        TokenRequest::MfaRecoveryCode { .. } => "mfa_recovery_code",
        TokenRequest::MfaPasskey { .. } => "mfa_passkey",
        TokenRequest::Passkey { .. } => "passkey",
        TokenRequest::TokenExchange { .. } => "token_exchange",
    }
}

async fn answer(
    state: &AppState,
    req: &HttpRequest,
    request: TokenRequest,
) -> Result<HttpResponse, ApiError> {
    let tokens = match request {
        TokenRequest::Password { username, password, remember, user_agent, ip, device } => {
            // The frontend passes the browser's address (it alone knows it,
            // behind its trusted proxies); this request is client-authenticated,
            // so the field is the frontend's word. No forwarding header is
            // read here, from anyone. Without it, the caller's own address is
            // the best throttling key there is.
            let ip = ip.or_else(|| req.peer_addr().map(|a| a.ip().to_string()));
            let login = Login { username, password, remember, user_agent, ip, device };
            sessions::login(state, login).await?
        }
        TokenRequest::RefreshToken { refresh_token } => {
            sessions::refresh(state, &refresh_token).await?
        }
        TokenRequest::MfaOtp { mfa_token, otp } => {
            second_factor::complete(state, &mfa_token, Proof::Otp(otp)).await?
        }
        TokenRequest::MfaRecoveryCode { mfa_token, recovery_code } => {
            second_factor::complete(state, &mfa_token, Proof::RecoveryCode(recovery_code)).await?
        }
        TokenRequest::MfaPasskey { mfa_token, ceremony, credential } => {
            let proof = Proof::Passkey { ceremony, credential };
            second_factor::complete(state, &mfa_token, proof).await?
        }
        TokenRequest::Passkey { ceremony, credential, remember, user_agent, ip } => {
            let ip = ip.or_else(|| req.peer_addr().map(|a| a.ip().to_string()));
            let request = PasskeySignIn { ceremony, credential, remember, user_agent, ip };
            passkey::sign_in(state, request).await?
        }
        TokenRequest::TokenExchange { subject_token, subject_token_type, audience } => {
            let request = Exchange {
                subject_token: &subject_token,
                subject_token_type: &subject_token_type,
                audience: &audience,
            };
            return Ok(no_store(&exchange::exchange(state, request).await?));
        }
    };
    Ok(no_store(&tokens))
}

/// RFC 6749 §5.1: token responses must not be cached.
fn no_store(body: &impl Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"))
        .json(body)
}
