//! Who is calling: the [`User`] extractor verifies the request's Bearer
//! access token itself, with `shared::verify` (exactly EdDSA, type `at+jwt`,
//! `iss`, `aud`, `exp`, `nbf`), against the auth-api's public keys ([`Jwks`]).
//!
//! Nothing else in a request says who the caller is. The `X-Cloakroom-*`
//! headers Cloakroom adds are never read: anyone who can reach this port can
//! write them, while only the auth-api can sign a token. The token is never
//! logged: it is a bearer credential for its remaining minutes.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use actix_web::{
    FromRequest, HttpRequest,
    dev::Payload,
    http::header::{AUTHORIZATION, HeaderMap},
    web,
};
use jsonwebtoken::{DecodingKey, jwk::JwkSet};
use shared::{
    AccessClaims,
    verify::{Expected, VerifyError, verify_access_token},
};

use crate::{clock::Clock, error::NotesError};

/// An unknown `kid` makes at most one JWKS fetch per this interval: anyone
/// can send a made-up `kid`, and a flood of them must not become a flood of
/// requests to the auth-api.
pub const REFETCH_EVERY: Duration = Duration::from_secs(5);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A key set is a few hundred bytes; anything this large is not one.
const MAX_JWKS_BYTES: usize = 64 * 1024;

/// The caller, as a verified access token names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The token's `sub`: the auth-api's user id, the owner of notes.
    pub id: String,
}

impl FromRequest for User {
    type Error = NotesError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, NotesError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verifier = req.app_data::<web::Data<Verifier>>().cloned();
        let token = bearer_token(req.headers()).map(str::to_owned);
        Box::pin(async move {
            let verifier =
                verifier.ok_or_else(|| NotesError::Internal("no verifier configured".into()))?;
            let claims = verifier.verify(&token?).await.map_err(refusal)?;
            admit(claims)
        })
    }
}

/// The token of `Authorization: Bearer TOKEN` (RFC 6750 §2.1), and only
/// there: never a query parameter or a cookie, which end up in logs and
/// caches, and never a header of Cloakroom's.
fn bearer_token(headers: &HeaderMap) -> Result<&str, NotesError> {
    let mut values = headers.get_all(AUTHORIZATION);
    let value = values.next().ok_or(NotesError::InvalidToken("no bearer token"))?;
    if values.next().is_some() {
        return Err(NotesError::InvalidToken("more than one Authorization header"));
    }
    let value = value.to_str().map_err(|_| NotesError::InvalidToken("malformed token"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(NotesError::InvalidToken("no bearer token")),
    }
}

/// Why a token was refused, for the client (it knows its own token) and the log.
fn refusal(err: VerifyError) -> NotesError {
    NotesError::InvalidToken(match err {
        VerifyError::Malformed => "malformed token",
        VerifyError::UnknownKey(_) => "signed by an unknown key",
        VerifyError::Invalid => "bad signature, issuer or audience",
        VerifyError::Expired => "expired token",
        VerifyError::NotYetValid => "token not yet valid",
    })
}

/// A genuine token may still belong to a user who may do nothing but fix
/// their account: the frontend holds them on that page, and an upstream
/// must not serve them either.
fn admit(claims: AccessClaims) -> Result<User, NotesError> {
    if claims.password_change_required {
        return Err(NotesError::Forbidden("the user must change their password first"));
    }
    if claims.mfa_setup_required {
        return Err(NotesError::Forbidden("the user must set up a second factor first"));
    }
    Ok(User { id: claims.sub })
}

/// Verifies access tokens against the auth-api's keys, with this service's
/// expectations and clock.
#[derive(Debug)]
pub struct Verifier {
    jwks: Jwks,
    issuer: String,
    audience: String,
    clock: Clock,
}

impl Verifier {
    pub fn new(jwks: Jwks, issuer: String, audience: String, clock: Clock) -> Self {
        Self { jwks, issuer, audience, clock }
    }

    /// The token's claims, fetching the key set again (rate-limited) when the
    /// token names a key we lack: after `auth-api keys rotate`, or because
    /// the auth-api was not up when this service started.
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        match self.verify_with_keys_held(token) {
            Err(VerifyError::UnknownKey(_)) => {
                // Also when this call fetched nothing: a fetch by a
                // concurrent request may have brought the key meanwhile.
                self.jwks.refetch().await;
                self.verify_with_keys_held(token)
            }
            other => other,
        }
    }

    fn verify_with_keys_held(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        let keys = self.jwks.keys();
        let expected = Expected { issuer: &self.issuer, audience: &self.audience };
        verify_access_token(token, |kid| keys.get(kid), expected, self.clock.now())
    }
}

/// The auth-api's public keys by `kid`, from `GET {AUTH_API_URL}/.well-known/jwks.json`.
///
/// Loaded at start-up (an auth-api that is not up yet is logged, not fatal:
/// tokens then get 401 until a fetch succeeds) and again when a token names
/// an unknown key, at most once per [`REFETCH_EVERY`]. A key the auth-api
/// has retired stays here until the next fetch; that is harmless, because
/// the auth-api retires a key only once every token it signed has expired.
pub struct Jwks {
    url: String,
    keys: RwLock<Arc<HashMap<String, DecodingKey>>>,
    /// Held while fetching: concurrent requests wait for that fetch and use
    /// its keys rather than each starting one.
    fetching: tokio::sync::Mutex<()>,
    /// No refetch before this instant.
    next_refetch: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks").field("url", &self.url).field("keys", &self.keys().len()).finish()
    }
}

#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("request failed: {0}")]
    Request(String),
    #[error("answered {0}")]
    Status(u16),
    #[error("not a JWK set: {0}")]
    Body(String),
}

impl Jwks {
    /// Keys of the auth-api at `auth_api_url` (none yet: call [`Jwks::load`]).
    pub fn new(auth_api_url: &str) -> Self {
        Self {
            url: format!("{}/.well-known/jwks.json", auth_api_url.trim_end_matches('/')),
            keys: RwLock::default(),
            fetching: tokio::sync::Mutex::new(()),
            next_refetch: Mutex::new(None),
        }
    }

    /// The start-up fetch. It does not count against the refetch interval,
    /// so if it failed, the first token to arrive fetches at once.
    pub async fn load(&self) -> bool {
        let _fetching = self.fetching.lock().await;
        self.fetch_and_install().await
    }

    /// Fetches the key set unless one was fetched less than [`REFETCH_EVERY`]
    /// ago. True if new keys were installed.
    pub async fn refetch(&self) -> bool {
        let _fetching = self.fetching.lock().await;
        {
            let now = Instant::now();
            let mut next = self.next_refetch.lock().unwrap_or_else(|e| e.into_inner());
            if next.is_some_and(|t| now < t) {
                return false;
            }
            *next = Some(now + REFETCH_EVERY);
        }
        self.fetch_and_install().await
    }

    /// The keys held now.
    pub fn keys(&self) -> Arc<HashMap<String, DecodingKey>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn fetch_and_install(&self) -> bool {
        match self.fetch().await {
            Ok(set) => self.install(&set),
            Err(e) => {
                tracing::warn!(url = %self.url, error = %e, "could not fetch the auth-api's signing keys");
                false
            }
        }
    }

    async fn fetch(&self) -> Result<JwkSet, FetchError> {
        // A client per fetch: fetches are rare, and awc's client may not
        // cross threads, which this cache (shared by every worker) does.
        let client = awc::Client::builder().timeout(FETCH_TIMEOUT).finish();
        let mut res =
            client.get(&self.url).send().await.map_err(|e| FetchError::Request(e.to_string()))?;
        if !res.status().is_success() {
            return Err(FetchError::Status(res.status().as_u16()));
        }
        let body = res
            .body()
            .limit(MAX_JWKS_BYTES)
            .await
            .map_err(|e| FetchError::Request(e.to_string()))?;
        serde_json::from_slice(&body).map_err(|e| FetchError::Body(e.to_string()))
    }

    /// Replaces the keys with the usable ones of `set`. True if it had any.
    fn install(&self, set: &JwkSet) -> bool {
        let keys = keys_of(set);
        if keys.is_empty() {
            // Never trade known keys for none: that would refuse everyone.
            tracing::warn!("the auth-api's key set had no usable key; keeping ours");
            return false;
        }
        tracing::info!(keys = keys.len(), "loaded the auth-api's signing keys");
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        true
    }
}

/// The verification keys of a JWK set, by `kid`. Keys without a `kid`, or of
/// a kind `jsonwebtoken` cannot use, are skipped; which algorithm a key may
/// verify is decided by `shared::verify` (EdDSA only), not by the set.
pub fn keys_of(set: &JwkSet) -> HashMap<String, DecodingKey> {
    set.keys
        .iter()
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn only_a_bearer_authorization_carries_a_token() {
        assert_eq!(bearer_token(&headers(&["Bearer abc.def.ghi"])).unwrap(), "abc.def.ghi");
        assert_eq!(bearer_token(&headers(&["bearer  abc "])).unwrap(), "abc");
        for refused in [&[][..], &["Basic dXNlcjpwdw=="], &["Bearer "], &["Bearer"], &["abc"]] {
            assert!(bearer_token(&headers(refused)).is_err(), "{refused:?}");
        }
        assert!(bearer_token(&headers(&["Bearer a", "Bearer b"])).is_err());
    }

    fn claims() -> AccessClaims {
        AccessClaims {
            iss: "iss".into(),
            aud: "aud".into(),
            sub: "user-1".into(),
            sid: "session".into(),
            username: "alice".into(),
            roles: vec![],
            iat: 0,
            nbf: 0,
            exp: 300,
            jti: "j".into(),
            auth_time: 0,
            password_change_required: false,
            amr: vec!["pwd".into()],
            mfa_setup_required: false,
        }
    }

    #[test]
    fn users_who_must_fix_their_account_first_are_refused() {
        assert_eq!(admit(claims()).unwrap(), User { id: "user-1".into() });
        let temporary = AccessClaims { password_change_required: true, ..claims() };
        assert!(matches!(admit(temporary), Err(NotesError::Forbidden(_))));
        let no_factor = AccessClaims { mfa_setup_required: true, ..claims() };
        assert!(matches!(admit(no_factor), Err(NotesError::Forbidden(_))));
    }

    #[actix_web::test]
    async fn unknown_kids_fetch_at_most_once_per_interval_and_start_up_does_not_count() {
        // A port just freed: nothing listens, so every fetch is refused at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let jwks = Jwks::new(&format!("http://127.0.0.1:{port}"));
        assert!(!jwks.load().await);
        assert!(jwks.next_refetch.lock().unwrap().is_none(), "start-up arms nothing");
        assert!(!jwks.refetch().await);
        let armed = jwks.next_refetch.lock().unwrap().expect("the first refetch arms the gate");
        assert!(!jwks.refetch().await);
        assert_eq!(*jwks.next_refetch.lock().unwrap(), Some(armed), "the second one did not fetch");
    }
}
