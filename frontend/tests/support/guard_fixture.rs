//! A frontend state as a running server holds it (keys loaded, the
//! revocation feed answered) and one signed-in user's sealed cookie, with
//! no server anywhere: for the guard's tests (`tests/e2e/guard.rs`) and its
//! criterion benchmarks (`benches/session.rs`), which include this file.

use std::{
    future::Future,
    pin::pin,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    task::{Context, Poll, Waker},
};

use cookie::Key;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use frontend::{
    auth_client::AuthClient,
    config::{CookieKeys, Secret, Settings},
    session::cookie::{SessionCookie, VERSION},
    state::FrontendState,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::JwkSet};
use shared::{AccessClaims, Role};

pub const ISSUER: &str = "http://auth.cloakroom.bench";
pub const CLIENT_ID: &str = "cloakroom-frontend";
pub const NOW: i64 = 1_800_000_000;
pub const KID: &str = "bench-key";

/// A frontend state as a running server holds it: keys loaded, the
/// revocation feed answered, and one signed-in user's sealed cookie.
pub struct Fixture {
    pub state: FrontendState,
    pub client: AuthClient,
    pub cookie: SessionCookie,
    pub cookie_header: String,
    /// The token clock, starting at `NOW`; tests move it.
    pub clock: Arc<AtomicI64>,
    /// The one key of `COOKIE_KEYS`, which sealed `cookie_header`.
    pub cookie_key: Key,
}

/// A JWKS of one Ed25519 key (from `seed`) named `kid`, and that key to sign with.
pub fn key_set(kid: &str, seed: u8) -> (JwkSet, EncodingKey) {
    let signing = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
    let der = signing.to_pkcs8_der().expect("pkcs8");
    let x = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        signing.verifying_key().to_bytes(),
    );
    let jwks: JwkSet = serde_json::from_value(serde_json::json!({
        "keys": [{ "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid, "x": x }]
    }))
    .expect("jwks");
    (jwks, EncodingKey::from_ed_der(der.as_bytes()))
}

pub fn fixture() -> Fixture {
    let (jwks, encoding) = key_set(KID, 7);

    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some(shared::ACCESS_TOKEN_TYPE.into());
    header.kid = Some(KID.into());
    let claims = AccessClaims {
        iss: ISSUER.into(),
        aud: CLIENT_ID.into(),
        sub: "0b7e6f1c-3f5e-4a8e-9a53-2f1d2c3b4a59".into(),
        sid: "5f0c1a2b-7d3e-4f6a-8b9c-0d1e2f3a4b5c".into(),
        username: "alice".into(),
        roles: vec![Role::User],
        iat: NOW,
        nbf: NOW,
        exp: NOW + 300,
        jti: "3c2b1a09f8e7d6c5b4a3928170615243".into(),
        auth_time: NOW,
        password_change_required: false,
        amr: vec!["pwd".into()],
        mfa_setup_required: false,
    };
    let access_token = jsonwebtoken::encode(&header, &claims, &encoding).expect("sign");
    let cookie = SessionCookie {
        version: VERSION,
        session_id: claims.sid.clone(),
        // The auth-api's refresh tokens are 32 random bytes, base64url.
        refresh_token: "q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c".into(),
        access_token,
        access_expires_at: NOW + 300,
        session_expires_at: NOW + 86_400,
        remember: false,
    };

    let cookie_key = Key::generate();
    let mut leptos = leptos::config::get_configuration(Some(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../Leptos.toml"
    )))
    .expect("Leptos.toml")
    .leptos_options;
    leptos.site_addr = "127.0.0.1:0".parse().unwrap();
    let settings = Settings {
        leptos,
        // Nothing listens there: the fast path must never call it.
        auth_api_url: "http://127.0.0.1:9".into(),
        issuer: ISSUER.into(),
        client_id: CLIENT_ID.into(),
        client_secret: Secret::new("bench-client-secret-0123456789abcdef"),
        cookie_keys: CookieKeys::from_keys(vec![cookie_key.clone()]),
        cookie_secure: false,
        auth_api_allow_http: false,
        metrics_addr: None,
        public_origin: None,
        trusted_proxies: vec![],
        trace_from_proxies: false,
        upstreams: vec![],
        tls: frontend::tls::ClientTls::system(),
        shutdown_grace: 5,
    };
    let client = AuthClient::new(&settings);
    let clock = Arc::new(AtomicI64::new(NOW));
    let time = clock.clone();
    let state = FrontendState::new(
        settings,
        Arc::new(move || time.load(Ordering::Relaxed)),
        "http://127.0.0.1:0".into(),
    )
    .expect("no upstreams to clash");
    assert!(state.jwks.install(&jwks));
    state.revoked.answered();
    let sealed = state.codec.seal(&cookie, NOW);
    let pair = sealed.split(';').next().expect("name=value").to_owned();
    let cookie_header = format!("theme=dark; {pair}");
    Fixture { state, client, cookie, cookie_header, clock, cookie_key }
}

/// Polls a future that must not wait for anything: the fast path never does.
pub fn ready<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the fast path waited on I/O"),
    }
}
