//! The auth-api client: one pooled `awc` client per worker, client
//! credentials on every client call, short timeouts, and every answer mapped
//! to an `AuthError` the guard and pages can act on.

use std::time::Duration;

use actix_web::web::Bytes;
use awc::{
    Client, Connector,
    http::{StatusCode, header},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::de::DeserializeOwned;
use shared::{
    AdminUserView, AuditPage, CreatedUser, EndedSessions, ErrorBody, ErrorCode, MfaChallenge,
    MfaStatus, NewPasskey, NewUserRequest, PasskeyChallenge, PasskeyOptionsRequest, PasswordChange,
    PasswordCheck, PasswordVerdict, RecoveryCodes, RegisteredPasskey, RevokeRequest, Role,
    SessionView, TokenRequest, TokenResponse, TotpCode, TotpSetup, UserUpdate,
};

use crate::config::Settings;

/// Connecting to a healthy auth-api on the same network takes milliseconds;
/// if it takes seconds, answer the user (503) rather than hang.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Wrong credentials, or a dead refresh token: the user is signed out.
    #[error("invalid grant")]
    InvalidGrant,
    #[error("rate limited for {0} s")]
    RateLimited(u64),
    /// A password or second-factor code re-entered to authorise a change is
    /// wrong (the session is fine).
    #[error("wrong password or code")]
    WrongPassword,
    /// The password was right; the sign-in continues with a second factor.
    #[error("second factor required")]
    MfaRequired(MfaChallenge),
    /// The pending sign-in expired, was used, or had too many wrong codes.
    #[error("pending sign-in expired")]
    ExpiredToken,
    /// An administrator's session that has not proven a second factor.
    #[error("second factor required for this action")]
    SecondFactorRequired,
    /// A new password the policy refuses, with the auth-api's reason.
    #[error("weak password: {0}")]
    WeakPassword(String),
    /// Refused because of the state of things (the last administrator, a
    /// taken username), with the auth-api's reason.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A request the auth-api found malformed, with its reason (a username
    /// that is not one, say): the user's input, not our bug.
    #[error("rejected: {0}")]
    Rejected(String),
    /// The access token was refused (its session ended a moment ago).
    #[error("access token refused")]
    InvalidToken,
    #[error("forbidden")]
    Forbidden,
    /// A sensitive action: the user must enter their password again.
    #[error("recent authentication required")]
    ReauthRequired,
    #[error("not found")]
    NotFound,
    /// Unreachable, timed out, 5xx: nothing is known about the user.
    #[error("auth-api unavailable: {0}")]
    Unavailable(String),
    /// An answer we did not expect (misconfiguration, e.g. wrong client secret).
    #[error("unexpected auth-api answer: {0}")]
    Protocol(String),
}

#[derive(Clone)]
pub struct AuthClient {
    http: Client,
    base: String,
    basic: String,
}

impl AuthClient {
    pub fn new(settings: &Settings) -> Self {
        let http = Client::builder()
            // The system's roots only: a private CA trusted for upstream
            // apps (`UPSTREAM_CA_FILE`) must not be able to stand in for the
            // auth-api, which sees passwords and the client secret.
            .connector(
                Connector::new()
                    .rustls_0_23(crate::tls::ClientTls::system().config())
                    .timeout(CONNECT_TIMEOUT),
            )
            .timeout(REQUEST_TIMEOUT)
            .disable_redirects()
            .wrap(crate::telemetry::outgoing::TraceCalls)
            .finish();
        let credentials = format!("{}:{}", settings.client_id, settings.client_secret.expose());
        Self {
            http,
            base: settings.auth_api_url.clone(),
            basic: format!("Basic {}", STANDARD.encode(credentials)),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A sign-in: `TokenRequest::Password`, with the browser's address and
    /// device id as this frontend vouches for them.
    pub async fn password_grant(&self, grant: TokenRequest) -> Result<TokenResponse, AuthError> {
        self.token(&grant).await
    }

    /// `POST /auth/passkey/options`: begins a sign-in with a passkey for the
    /// browser at `origin` (this frontend's `PUBLIC_ORIGIN`), alone or, with
    /// `mfa_token`, as the second factor of that pending sign-in.
    pub async fn passkey_options(
        &self,
        origin: &str,
        mfa_token: Option<&str>,
        ip: Option<String>,
    ) -> Result<PasskeyChallenge, AuthError> {
        let body = PasskeyOptionsRequest {
            origin: origin.to_owned(),
            mfa_token: mfa_token.map(str::to_owned),
            ip,
        };
        let res = self
            .http
            .post(self.url("/auth/passkey/options"))
            .insert_header((header::AUTHORIZATION, self.basic.as_str()))
            .send_json(&body)
            .await;
        decode(res).await
    }

    /// The second step of a sign-in (`TokenRequest::MfaOtp`,
    /// `MfaRecoveryCode`, `MfaPasskey`), or a sign-in with a passkey alone.
    pub async fn second_factor_grant(
        &self,
        grant: TokenRequest,
    ) -> Result<TokenResponse, AuthError> {
        self.token(&grant).await
    }

    /// The refresh call: its own span, so a trace tells the swap apart
    /// from the other grants it shares `POST /auth/token` with.
    #[tracing::instrument(level = "debug", name = "refresh", skip_all)]
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenResponse, AuthError> {
        self.token(&TokenRequest::RefreshToken { refresh_token: refresh_token.to_owned() }).await
    }

    /// RFC 8693 token exchange: a token for `audience` (an upstream app)
    /// standing for the session whose access token is `subject_token`.
    pub async fn exchange(
        &self,
        subject_token: &str,
        audience: &str,
    ) -> Result<shared::ExchangedToken, AuthError> {
        let body = TokenRequest::TokenExchange {
            subject_token: subject_token.to_owned(),
            subject_token_type: shared::ACCESS_TOKEN_URN.to_owned(),
            audience: audience.to_owned(),
        };
        self.token(&body).await
    }

    /// `POST /auth/token` as this client; the answer's shape is the grant's.
    async fn token<T: DeserializeOwned>(&self, body: &TokenRequest) -> Result<T, AuthError> {
        let res = self
            .http
            .post(self.url("/auth/token"))
            .insert_header((header::AUTHORIZATION, self.basic.as_str()))
            .send_json(body)
            .await;
        decode(res).await
    }

    /// RFC 7009 revoke: ends the session the refresh token belongs to.
    pub async fn revoke(&self, refresh_token: &str) -> Result<(), AuthError> {
        let res = self
            .http
            .post(self.url("/auth/revoke"))
            .insert_header((header::AUTHORIZATION, self.basic.as_str()))
            .send_json(&RevokeRequest { token: refresh_token.to_owned() })
            .await;
        decode::<serde_json::Value>(res).await.map(|_| ())
    }

    pub async fn jwks(&self) -> Result<jsonwebtoken::jwk::JwkSet, AuthError> {
        decode(self.http.get(self.url("/.well-known/jwks.json")).send().await).await
    }

    /// One long poll of the revocation feed (`query` as `session::feed`
    /// builds it), held open up to `wait` seconds: the answer's body, which
    /// the feed reader judges.
    pub async fn revocations(&self, query: &str, wait: u64) -> Result<Bytes, AuthError> {
        let mut res = self
            .http
            .get(self.url(&format!("/auth/revocations?{query}")))
            .insert_header((header::AUTHORIZATION, self.basic.as_str()))
            .timeout(Duration::from_secs(wait) + REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?;
        let status = res.status();
        let body =
            res.body().limit(1 << 20).await.map_err(|e| AuthError::Unavailable(e.to_string()))?;
        if status.is_success() { Ok(body) } else { Err(error_from(status, &res, &body)) }
    }

    pub async fn sessions(&self, access_token: &str) -> Result<Vec<SessionView>, AuthError> {
        decode(self.http.get(self.url("/auth/sessions")).bearer_auth(access_token).send().await)
            .await
    }

    pub async fn end_session(&self, access_token: &str, session_id: &str) -> Result<(), AuthError> {
        let path = format!("/auth/sessions/{}", path_segment(session_id));
        let res = self.http.delete(self.url(&path)).bearer_auth(access_token).send().await;
        decode_empty(res).await
    }

    /// `POST /auth/password`: ends the user's other sessions on success.
    pub async fn change_password(
        &self,
        access_token: &str,
        current_password: &str,
        new_password: &str,
    ) -> Result<(), AuthError> {
        let body = PasswordChange {
            current_password: current_password.to_owned(),
            new_password: new_password.to_owned(),
        };
        let res = self
            .http
            .post(self.url("/auth/password"))
            .bearer_auth(access_token)
            .send_json(&body)
            .await;
        decode_empty(res).await
    }

    /// `POST /auth/reauth`: the signed-in user's password again; the session
    /// gets a fresh `auth_time` (refresh to see it in the access token).
    pub async fn reauthenticate(
        &self,
        access_token: &str,
        password: &str,
    ) -> Result<(), AuthError> {
        let body = shared::Reauthentication { password: password.to_owned() };
        let res = self
            .http
            .post(self.url("/auth/reauth"))
            .bearer_auth(access_token)
            .send_json(&body)
            .await;
        decode_empty(res).await
    }

    /// The password policy's verdict on a candidate (the strength meter).
    pub async fn check_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<PasswordVerdict, AuthError> {
        let body = PasswordCheck { password: password.to_owned(), username: username.to_owned() };
        let res = self
            .http
            .post(self.url("/auth/password/check"))
            .insert_header((header::AUTHORIZATION, self.basic.as_str()))
            .send_json(&body)
            .await;
        decode(res).await
    }

    /// `GET /auth/mfa`: the caller's second factors.
    pub async fn mfa_status(&self, access_token: &str) -> Result<MfaStatus, AuthError> {
        decode(self.http.get(self.url("/auth/mfa")).bearer_auth(access_token).send().await).await
    }

    /// `POST /auth/mfa/totp`: a key to set up (the same one for ten minutes).
    pub async fn totp_setup(&self, access_token: &str) -> Result<TotpSetup, AuthError> {
        let res = self.http.post(self.url("/auth/mfa/totp")).bearer_auth(access_token).send().await;
        decode(res).await
    }

    /// `POST /auth/mfa/totp/confirm`: switches the app on; recovery codes
    /// come back with the first factor.
    pub async fn totp_confirm(
        &self,
        access_token: &str,
        code: &str,
    ) -> Result<RecoveryCodes, AuthError> {
        let body = TotpCode { code: code.to_owned() };
        let url = self.url("/auth/mfa/totp/confirm");
        decode(self.http.post(url).bearer_auth(access_token).send_json(&body).await).await
    }

    /// `DELETE /auth/mfa/totp` with a current code.
    pub async fn totp_disable(&self, access_token: &str, code: &str) -> Result<(), AuthError> {
        let body = TotpCode { code: code.to_owned() };
        let url = self.url("/auth/mfa/totp");
        decode_empty(self.http.delete(url).bearer_auth(access_token).send_json(&body).await).await
    }

    /// `POST /auth/mfa/recovery-codes`: a new set replaces the old.
    pub async fn regenerate_recovery_codes(
        &self,
        access_token: &str,
    ) -> Result<RecoveryCodes, AuthError> {
        let url = self.url("/auth/mfa/recovery-codes");
        decode(self.http.post(url).bearer_auth(access_token).send().await).await
    }

    /// `POST /auth/passkeys/options`: begins registering a passkey.
    pub async fn passkey_registration_options(
        &self,
        access_token: &str,
        origin: &str,
    ) -> Result<PasskeyChallenge, AuthError> {
        let body = PasskeyOptionsRequest { origin: origin.to_owned(), mfa_token: None, ip: None };
        let url = self.url("/auth/passkeys/options");
        decode(self.http.post(url).bearer_auth(access_token).send_json(&body).await).await
    }

    /// `POST /auth/passkeys`: finishes it.
    pub async fn register_passkey(
        &self,
        access_token: &str,
        new: &NewPasskey,
    ) -> Result<RegisteredPasskey, AuthError> {
        let url = self.url("/auth/passkeys");
        decode(self.http.post(url).bearer_auth(access_token).send_json(new).await).await
    }

    /// `DELETE /auth/passkeys/{id}`.
    pub async fn remove_passkey(&self, access_token: &str, id: &str) -> Result<(), AuthError> {
        let path = format!("/auth/passkeys/{}", path_segment(id));
        decode_empty(self.http.delete(self.url(&path)).bearer_auth(access_token).send().await).await
    }

    /// The caller's own security events, newest first.
    pub async fn my_events(&self, access_token: &str) -> Result<AuditPage, AuthError> {
        decode(self.http.get(self.url("/auth/events")).bearer_auth(access_token).send().await).await
    }

    /// `GET /admin/audit` with `query` (already validated by the caller).
    pub async fn admin_audit(
        &self,
        access_token: &str,
        query: &AuditQuery,
    ) -> Result<AuditPage, AuthError> {
        let query = serde_urlencoded::to_string(query)
            .map_err(|e| AuthError::Protocol(format!("audit query: {e}")))?;
        let url = self.url(&format!("/admin/audit?{query}"));
        decode(self.http.get(url).bearer_auth(access_token).send().await).await
    }

    /// `POST /admin/users`: the new user and their temporary password.
    pub async fn admin_create_user(
        &self,
        access_token: &str,
        username: &str,
        roles: Vec<Role>,
    ) -> Result<CreatedUser, AuthError> {
        let body = NewUserRequest { username: username.to_owned(), roles };
        let res = self
            .http
            .post(self.url("/admin/users"))
            .bearer_auth(access_token)
            .send_json(&body)
            .await;
        decode(res).await
    }

    /// `PATCH /admin/users/{id}`.
    pub async fn admin_update_user(
        &self,
        access_token: &str,
        user_id: &str,
        update: &UserUpdate,
    ) -> Result<(), AuthError> {
        let path = format!("/admin/users/{}", path_segment(user_id));
        let res =
            self.http.patch(self.url(&path)).bearer_auth(access_token).send_json(update).await;
        decode_empty(res).await
    }

    /// `DELETE /admin/users/{id}`.
    pub async fn admin_delete_user(
        &self,
        access_token: &str,
        user_id: &str,
    ) -> Result<(), AuthError> {
        let path = format!("/admin/users/{}", path_segment(user_id));
        let res = self.http.delete(self.url(&path)).bearer_auth(access_token).send().await;
        decode_empty(res).await
    }

    pub async fn admin_users(&self, access_token: &str) -> Result<Vec<AdminUserView>, AuthError> {
        decode(self.http.get(self.url("/admin/users")).bearer_auth(access_token).send().await).await
    }

    /// `DELETE /admin/users/{id}/second-factors`: the user's sessions end.
    pub async fn admin_reset_second_factors(
        &self,
        access_token: &str,
        user_id: &str,
    ) -> Result<(), AuthError> {
        let path = format!("/admin/users/{}/second-factors", path_segment(user_id));
        let res = self.http.delete(self.url(&path)).bearer_auth(access_token).send().await;
        decode::<EndedSessions>(res).await.map(|_| ())
    }

    pub async fn admin_end_user_sessions(
        &self,
        access_token: &str,
        user_id: &str,
    ) -> Result<u64, AuthError> {
        let path = format!("/admin/users/{}/sessions", path_segment(user_id));
        let res = self.http.delete(self.url(&path)).bearer_auth(access_token).send().await;
        decode::<EndedSessions>(res).await.map(|e| e.ended)
    }
}

/// The filters of `GET /admin/audit`; empty ones are left out.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AuditQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// Ids come from our own pages, but a form can be edited: keep them to one
/// path segment so nothing can be steered to another auth-api route.
fn path_segment(id: &str) -> String {
    id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').take(1400).collect()
}

type SendResult = Result<awc::ClientResponse, awc::error::SendRequestError>;

async fn decode<T: DeserializeOwned>(res: SendResult) -> Result<T, AuthError> {
    let mut res = res.map_err(|e| AuthError::Unavailable(e.to_string()))?;
    let status = res.status();
    let body =
        res.body().limit(1 << 20).await.map_err(|e| AuthError::Unavailable(e.to_string()))?;
    if status.is_success() {
        serde_json::from_slice(&body).map_err(|e| AuthError::Protocol(format!("{status}: {e}")))
    } else {
        Err(error_from(status, &res, &body))
    }
}

async fn decode_empty(res: SendResult) -> Result<(), AuthError> {
    let mut res = res.map_err(|e| AuthError::Unavailable(e.to_string()))?;
    let status = res.status();
    let body =
        res.body().limit(1 << 20).await.map_err(|e| AuthError::Unavailable(e.to_string()))?;
    if status.is_success() { Ok(()) } else { Err(error_from(status, &res, &body)) }
}

fn error_from(status: StatusCode, res: &awc::ClientResponse, body: &[u8]) -> AuthError {
    let mut body = serde_json::from_slice::<ErrorBody>(body).ok();
    let challenged = body.as_mut().filter(|b| b.error == ErrorCode::MfaRequired);
    if let Some(challenge) = challenged.and_then(|b| b.challenge.take()) {
        return AuthError::MfaRequired(challenge);
    }
    let code = body.as_ref().map(|b| b.error);
    let description = |fallback: &str| {
        body.as_ref()
            .and_then(|b| b.error_description.clone())
            .unwrap_or_else(|| fallback.to_owned())
    };
    match (status, code) {
        (StatusCode::FORBIDDEN, Some(ErrorCode::InvalidGrant)) => AuthError::WrongPassword,
        (_, Some(ErrorCode::ReauthRequired)) => AuthError::ReauthRequired,
        (_, Some(ErrorCode::ExpiredToken)) => AuthError::ExpiredToken,
        (_, Some(ErrorCode::InsufficientUserAuthentication)) => AuthError::SecondFactorRequired,
        (_, Some(ErrorCode::WeakPassword)) => {
            AuthError::WeakPassword(description("This password is too easy to guess."))
        }
        (_, Some(ErrorCode::Conflict)) => {
            AuthError::Conflict(description("That is not possible now."))
        }
        (StatusCode::BAD_REQUEST, Some(ErrorCode::InvalidRequest)) => {
            AuthError::Rejected(description("That request was not valid."))
        }
        (_, Some(ErrorCode::InvalidGrant)) => AuthError::InvalidGrant,
        (_, Some(ErrorCode::RateLimited)) | (StatusCode::TOO_MANY_REQUESTS, _) => {
            let retry = res
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(60);
            AuthError::RateLimited(retry)
        }
        (_, Some(ErrorCode::InvalidToken)) => AuthError::InvalidToken,
        // Said plainly in the log: after a client-secret rotation this is
        // the one thing an operator needs to see.
        (StatusCode::UNAUTHORIZED, Some(ErrorCode::InvalidClient)) => AuthError::Protocol(
            "the auth-api refused this frontend's client credentials (AUTH_CLIENT_ID, and the \
             first of AUTH_CLIENT_SECRETS, which the auth-api must list)"
                .into(),
        ),
        (StatusCode::FORBIDDEN, _) => AuthError::Forbidden,
        (StatusCode::NOT_FOUND, _) => AuthError::NotFound,
        (s, _) if s.is_server_error() => AuthError::Unavailable(format!("auth-api answered {s}")),
        (s, code) => AuthError::Protocol(format!("{s} {code:?}")),
    }
}
