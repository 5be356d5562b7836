//! Token exchange (RFC 8693): the frontend trades a session's access token
//! for one to forward to an upstream app, whose `aud` is that app's. The
//! auth-api's own bearer endpoints accept only the frontend's client id, so
//! an app holding such a token cannot act at the auth-api as the user.
//!
//! Rules, each enforced here and nowhere else:
//! - the subject token must be exactly what a bearer endpoint accepts
//!   (`AuthUser::from_token`): this auth-api's, for the frontend's client id,
//!   its session live. So an ended session stops exchanges at once, and an
//!   exchanged token (an upstream's audience) cannot be exchanged again;
//! - the audience is never the frontend's client id: that would mint the
//!   very token an upstream must not hold;
//! - the new token claims what the subject token claims (user, session,
//!   roles, how and when the user authenticated) and expires with it:
//!   an exchange never makes a token live longer;
//! - exchanges change nothing and come with upstream page views, so they
//!   are counted (`token_exchanges`), not audited.

use shared::{ACCESS_TOKEN_URN, ExchangedToken};

use crate::{
    domain::UpstreamAudience,
    error::ApiError,
    extract::AuthUser,
    state::AppState,
    tokens::access::{self, Audience, Subject},
};

/// A token-exchange grant, as the frontend sent it.
pub struct Exchange<'a> {
    pub subject_token: &'a str,
    pub subject_token_type: &'a str,
    pub audience: &'a str,
}

pub async fn exchange(state: &AppState, request: Exchange<'_>) -> Result<ExchangedToken, ApiError> {
    let result = issue(state, request).await;
    state.metrics.exchange(match &result {
        Ok(_) => "ok",
        Err(err) => err.code().as_str(),
    });
    result
}

async fn issue(state: &AppState, request: Exchange<'_>) -> Result<ExchangedToken, ApiError> {
    if request.subject_token_type != ACCESS_TOKEN_URN {
        let why = format!("subject_token_type must be {ACCESS_TOKEN_URN}");
        return Err(ApiError::InvalidRequest(why));
    }
    let audience = UpstreamAudience::parse(request.audience)
        .map_err(|err| ApiError::InvalidRequest(err.to_string()))?;
    if audience.as_str() == state.settings.client_id {
        let why = "the audience must be an upstream app's, not the frontend's client id";
        return Err(ApiError::InvalidTarget(why.into()));
    }
    // RFC 8693 §2.2.2 answers an unusable subject token with
    // `invalid_request`; this answers `invalid_grant`, as the refresh grant
    // does for a session that is over, because that is what it means here:
    // the session ended or timed out, the token expired (the frontend
    // exchanges only tokens with time left) or was never ours. The frontend
    // reads `invalid_grant` as "sign in again", which is the right response
    // to each.
    let subject =
        AuthUser::from_token(state, request.subject_token).await.map_err(|err| match err {
            ApiError::InvalidToken => ApiError::InvalidGrant,
            other => other,
        })?;
    let claims = &subject.claims;
    let now = state.now();
    let aud = Audience { issuer: &state.settings.issuer, audience: audience.as_str() };
    // `exp` lands exactly on the subject token's: never a longer life. (It
    // may already be past, within the verification leeway.)
    let ttl = claims.exp - now;
    let access_token = access::sign(&state.keys.snapshot(), &aud, &Subject::of(claims), now, ttl)?;
    Ok(ExchangedToken {
        access_token,
        issued_token_type: ACCESS_TOKEN_URN.into(),
        token_type: "Bearer".into(),
        expires_in: ttl.max(1) as u64,
    })
}
