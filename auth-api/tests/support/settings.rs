//! The auth-api's settings for a test: a fresh database, an ephemeral port,
//! the production defaults shortened where a test would wait, second factors
//! required of no role. Shared by every suite that starts an auth-api in its
//! own process (the auth-api's API tests, the frontend's end-to-end harness,
//! the notes example's tests; included there by `#[path]`), so a new setting
//! is added in one place. Callers change what their tests need.

use auth_api::{
    config::{MfaSettings, Settings, ThrottleSettings},
    domain::ClientSecrets,
    mfa::key::MfaKey,
    passwords::policy::PasswordPolicy,
};

pub fn test_settings(
    database_url: &str,
    issuer: &str,
    client_id: &str,
    client_secret: &str,
) -> Settings {
    Settings {
        database_url: database_url.to_owned(),
        addr: "127.0.0.1:0".into(),
        metrics_addr: Some("127.0.0.1:0".into()),
        issuer: issuer.into(),
        client_id: client_id.into(),
        client_secrets: ClientSecrets::parse(client_secret).expect("a valid test secret"),
        access_token_ttl: 300,
        session_idle_ttl: 3600,
        session_absolute_ttl: 24 * 3600,
        remember_idle_ttl: 7 * 24 * 3600,
        remember_absolute_ttl: 30 * 24 * 3600,
        max_sessions_per_user: 50,
        throttle: ThrottleSettings {
            max_failures_per_user: 5,
            max_failures_per_ip: 20,
            max_failures_per_device: 10,
            window: 900,
        },
        password_policy: PasswordPolicy::default(),
        audit_retention: 90 * 24 * 3600,
        reauth_max_age: 600,
        // No role needs a second factor here, so the many administrator
        // tests can sign in with a password alone; the MFA tests turn the
        // default (`admin`) on.
        mfa: MfaSettings { keys: MfaKey::from_bytes(&[7; 32]).into(), required_roles: Vec::new() },
        public_origins: Vec::new(),
        shutdown_grace: 5,
    }
}
