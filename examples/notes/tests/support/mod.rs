//! Test plumbing shared by `api.rs` and `snippets.rs`: a real auth-api on
//! port 0 with a temporary SQLite file, users and their real access tokens,
//! and the notes service on port 0. Hides plumbing, never assertions.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::{sync::Arc, time::Duration};

use actix_web::{dev::ServerHandle, web};
use auth_api::{
    audit::Actor,
    clock::{Clock as _, ManualClock},
    config::Settings as AuthSettings,
    domain::{Password, Username},
    passwords::policy::PasswordPolicy,
    startup::Application as AuthApplication,
    state::AppState,
};
use awc::http::StatusCode;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use notes::{clock::Clock, config::Settings, startup::Application};
use serde_json::{Value, json};

// The auth-api's test settings, shared with its own tests.
#[path = "../../../../auth-api/tests/support/settings.rs"]
mod auth_test_settings;

pub const CLIENT_ID: &str = "cloakroom-frontend";
/// The notes app's audience, as the frontend's UPSTREAMS names it.
pub const AUDIENCE: &str = "notes-api";
pub const CLIENT_SECRET: &str = "notes-test-client-secret-0123456789";
pub const ISSUER: &str = "http://auth.cloakroom.test";
pub const PASSWORD: &str = "correct horse battery staple";
/// The auth-api's ACCESS_TOKEN_TTL here, seconds.
pub const ACCESS_TTL: i64 = 300;

/// A running auth-api.
pub struct AuthApi {
    pub base: String,
    /// Its private `/metrics` listener.
    metrics: String,
    pub clock: ManualClock,
    pub state: web::Data<AppState>,
    pub settings: AuthSettings,
    handle: ServerHandle,
    /// Holds the SQLite file for the test's duration.
    _dir: Arc<tempfile::TempDir>,
}

/// An auth-api on an ephemeral port, with its own clock.
pub async fn auth_api() -> AuthApi {
    auth_api_on("127.0.0.1:0", ManualClock::starting_now()).await
}

/// An auth-api listening on `addr`, reading `clock`.
pub async fn auth_api_on(addr: &str, clock: ManualClock) -> AuthApi {
    // Server logs go through the test harness's capture: quiet unless a test fails.
    shared::telemetry::init_for_tests();
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let mut settings = auth_test_settings::test_settings(
        &format!("sqlite://{}/auth.db", dir.path().display()),
        ISSUER,
        CLIENT_ID,
        CLIENT_SECRET,
    );
    settings.addr = addr.into();
    settings.access_token_ttl = ACCESS_TTL;
    settings.throttle.max_failures_per_ip = 100;
    let app = AuthApplication::build_with_clock(settings.clone(), Arc::new(clock.clone()))
        .await
        .expect("auth-api builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let metrics = format!("http://127.0.0.1:{}", app.metrics_port().expect("metrics on"));
    let state = app.state();
    let handle = app.handle();
    actix_web::rt::spawn(app.run_until_stopped());
    AuthApi { base, metrics, clock, state, settings, handle, _dir: dir }
}

impl AuthApi {
    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.base)
    }

    /// A user with [`PASSWORD`]; returns their id (their tokens' `sub`).
    pub async fn add_user(&self, name: &str) -> String {
        let username = Username::parse(name).expect("valid username");
        let password = Password::parse(PASSWORD.into()).expect("valid password");
        let password = PasswordPolicy::default().accept(password, name).await.expect("policy");
        auth_api::users::add(&self.state.store, username, password, &[], Actor::Cli, self.now())
            .await
            .expect("user added")
            .expect("name not taken")
            .id
    }

    /// A user on a temporary password (an administrator created them):
    /// returns it, for a sign-in whose tokens say `password_change_required`.
    pub async fn add_user_with_temporary_password(&self, name: &str) -> String {
        let username = Username::parse(name).expect("valid username");
        auth_api::users::add_with_temporary_password(
            &self.state.store,
            &PasswordPolicy::default(),
            username,
            &[],
            Actor::Cli,
            self.now(),
        )
        .await
        .expect("user added")
        .expect("name not taken")
        .1
    }

    /// What the frontend forwards to the notes app for `name`: a session's
    /// access token exchanged for the notes app's audience.
    pub async fn token(&self, name: &str) -> String {
        let session = self.session_token(name).await;
        self.exchange(&session, AUDIENCE).await
    }

    /// The same for a sign-in with `password`.
    pub async fn token_with(&self, name: &str, password: &str) -> String {
        let session = self.session_token_with(name, password).await;
        self.exchange(&session, AUDIENCE).await
    }

    /// RFC 8693 token exchange, as the frontend does it (client credentials).
    pub async fn exchange(&self, subject: &str, audience: &str) -> String {
        let body = json!({
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": subject,
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "audience": audience,
        });
        let res = client()
            .post(format!("{}/auth/token", self.base))
            .basic_auth(CLIENT_ID, CLIENT_SECRET)
            .send_json(&body)
            .await
            .expect("token exchange");
        let reply = read(res).await;
        assert_eq!(reply.status, StatusCode::OK, "exchange for {audience}: {}", reply.body);
        reply.body["access_token"].as_str().expect("access_token").to_owned()
    }

    /// Signs `name` in as the frontend does (client credentials, password
    /// grant): the session's own access token, for the frontend's audience.
    pub async fn session_token(&self, name: &str) -> String {
        self.session_token_with(name, PASSWORD).await
    }

    pub async fn session_token_with(&self, name: &str, password: &str) -> String {
        let body = json!({"grant_type": "password", "username": name, "password": password,
                          "remember": false, "ip": "203.0.113.7"});
        let res = client()
            .post(format!("{}/auth/token", self.base))
            .basic_auth(CLIENT_ID, CLIENT_SECRET)
            .send_json(&body)
            .await
            .expect("token request");
        let reply = read(res).await;
        assert_eq!(reply.status, StatusCode::OK, "sign-in of {name}: {}", reply.body);
        reply.body["access_token"].as_str().expect("access_token").to_owned()
    }

    /// `auth-api keys rotate`, then the reload every instance does within 5 s, now.
    pub async fn rotate_keys(&self) {
        auth_api::cli::run_admin_command(
            &self.settings.database_url,
            PasswordPolicy::default(),
            auth_api::cli::Command::Keys(auth_api::cli::KeysCommand::Rotate),
        )
        .await
        .expect("keys rotate");
        self.state.keys.reload(&self.state.store, self.now()).await.expect("keys reload");
    }

    /// How many times anyone fetched the JWKS (the auth-api's own metrics).
    pub async fn jwks_fetches(&self) -> f64 {
        let mut res =
            client().get(format!("{}/metrics", self.metrics)).send().await.expect("metrics");
        let text = String::from_utf8(res.body().await.expect("body").to_vec()).expect("utf-8");
        text.lines()
            .filter(|l| l.starts_with(r#"http_requests_total{route="/.well-known/jwks.json""#))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}

/// A running notes service.
pub struct Notes {
    pub base: String,
    handle: ServerHandle,
    _dir: tempfile::TempDir,
}

/// Notes in front of `auth`, expecting its issuer and the notes app's
/// audience, reading the same clock.
pub async fn notes(auth: &AuthApi) -> Notes {
    notes_with(&auth.base, ISSUER, AUDIENCE, auth.clock.clone()).await
}

pub async fn notes_with(
    auth_api_url: &str,
    issuer: &str,
    audience: &str,
    clock: ManualClock,
) -> Notes {
    let dir = tempfile::tempdir().expect("temp dir");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let settings = Settings {
        addr: "127.0.0.1:0".into(),
        database_url: format!("sqlite://{}/notes.db", dir.path().display()),
        auth_api_url: auth_api_url.into(),
        issuer: issuer.into(),
        audience: audience.into(),
    };
    let app = Application::build_on(listener, settings, Clock::from_fn(move || clock.now()))
        .await
        .expect("notes builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    actix_web::rt::spawn(app.run_until_stopped());
    Notes { base, handle, _dir: dir }
}

impl Notes {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn list(&self, token: &str) -> Reply {
        self.send(client().get(self.url("/notes-api/notes")).bearer_auth(token)).await
    }

    pub async fn create(&self, token: &str, body: &Value) -> Reply {
        let req = client().post(self.url("/notes-api/notes")).bearer_auth(token);
        read(req.send_json(body).await.expect("request")).await
    }

    pub async fn delete(&self, token: &str, id: &str) -> Reply {
        let req = client().delete(self.url(&format!("/notes-api/notes/{id}"))).bearer_auth(token);
        self.send(req).await
    }

    /// `POST /notes-api/notes` with any body, with or without a token.
    pub async fn post_raw(&self, token: Option<&str>, content_type: &str, body: String) -> Reply {
        let mut req = client().post(self.url("/notes-api/notes")).content_type(content_type);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        read(req.send_body(body).await.expect("request")).await
    }

    pub async fn send(&self, req: awc::ClientRequest) -> Reply {
        read(req.send().await.expect("request")).await
    }

    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}

pub fn client() -> awc::Client {
    awc::Client::builder().timeout(Duration::from_secs(30)).finish()
}

/// A response as a test sees it.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: awc::http::header::HeaderMap,
    /// The JSON body, or `Null` when there is none (or it is not JSON).
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn read(mut res: awc::ClientResponse) -> Reply {
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.body().limit(1 << 20).await.expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply { status, headers, body }
}

/// The JSON of a token's header or payload segment.
pub fn segment(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("a JWT has three segments");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

/// `token` with its header and payload replaced, the signature kept: what
/// an attacker without the signing key can make.
pub fn reassembled(token: &str, header: &Value, payload: &Value) -> String {
    let signature = token.rsplit('.').next().expect("signature");
    let encode = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("JSON"));
    format!("{}.{}.{signature}", encode(header), encode(payload))
}

/// `token` claiming to be `sub`'s: the signature no longer matches.
pub fn with_sub(token: &str, sub: &str) -> String {
    let mut payload = segment(token, 1);
    payload["sub"] = Value::String(sub.to_owned());
    reassembled(token, &segment(token, 0), &payload)
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}
