//! `Settings`: the whole configuration of a running auth-api, built once from
//! the command line and environment (see `cli.rs`) and validated before the
//! server binds. Nothing else in the service reads the environment.

use shared::Role;

use crate::{
    cli::ServeArgs, domain::ClientSecrets, mfa::key::MfaKeys, passwords::policy::PasswordPolicy,
};

#[derive(Clone)]
pub struct Settings {
    /// May carry a password (`postgres://user:password@…`): see `Debug` below.
    pub database_url: String,
    /// `host:port`; port 0 binds an ephemeral port (read it from `Application::port`).
    pub addr: String,
    /// `METRICS_ADDR`: the private `/metrics` listener; `None` (empty or
    /// `off`): none. Port 0 works (read it from `Application::metrics_port`).
    pub metrics_addr: Option<String>,
    pub issuer: String,
    pub client_id: String,
    /// `AUTH_CLIENT_SECRETS`: any of them authenticates the frontend.
    pub client_secrets: ClientSecrets,
    /// Seconds.
    pub access_token_ttl: i64,
    /// Sessions without "remember me" (OWASP ASVS 3.3.2: 30 min idle, 12 h).
    pub session_idle_ttl: i64,
    pub session_absolute_ttl: i64,
    /// Sessions with "remember me".
    pub remember_idle_ttl: i64,
    pub remember_absolute_ttl: i64,
    /// Live sessions a user may have; a sign-in beyond ends the oldest.
    pub max_sessions_per_user: u32,
    pub throttle: ThrottleSettings,
    pub password_policy: PasswordPolicy,
    /// Seconds an audit event is kept.
    pub audit_retention: i64,
    /// Sensitive actions need the password proven this recently (seconds).
    pub reauth_max_age: i64,
    pub mfa: MfaSettings,
    /// `PUBLIC_ORIGIN`: the origins of the frontends browsers use, the only
    /// relying parties passkeys are made and used for. None: no passkeys.
    pub public_origins: Vec<String>,
    /// `SHUTDOWN_GRACE`: seconds a stopping server gives requests in flight.
    pub shutdown_grace: u64,
}

/// Second factors: the keys that protect them at rest, and who must have one.
#[derive(Debug, Clone)]
pub struct MfaSettings {
    /// `MFA_ENCRYPTION_KEY`: the first seals what is new, all open.
    pub keys: MfaKeys,
    /// `MFA_REQUIRED_ROLES`: users with any of these roles must set up a
    /// second factor, and their sessions must have proven one before the
    /// auth-api answers them as administrators.
    pub required_roles: Vec<Role>,
}

impl MfaSettings {
    pub fn required_for(&self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.required_roles.contains(r))
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &crate::store::redacted_url(&self.database_url))
            .field("addr", &self.addr)
            .field("metrics_addr", &self.metrics_addr)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secrets", &self.client_secrets)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("session_idle_ttl", &self.session_idle_ttl)
            .field("session_absolute_ttl", &self.session_absolute_ttl)
            .field("remember_idle_ttl", &self.remember_idle_ttl)
            .field("remember_absolute_ttl", &self.remember_absolute_ttl)
            .field("max_sessions_per_user", &self.max_sessions_per_user)
            .field("throttle", &self.throttle)
            .field("password_policy", &self.password_policy)
            .field("audit_retention", &self.audit_retention)
            .field("reauth_max_age", &self.reauth_max_age)
            .field("mfa", &self.mfa)
            .field("public_origins", &self.public_origins)
            .field("shutdown_grace", &self.shutdown_grace)
            .finish()
    }
}

/// Login throttling (see `throttle`): failures counted per trusted device,
/// or per username and client network, inside a fixed window; at the limit,
/// logins for that key answer 429 until the window ends.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleSettings {
    /// Failures of untrusted attempts per username.
    pub max_failures_per_user: u32,
    /// Failures of untrusted attempts per client network.
    pub max_failures_per_ip: u32,
    /// Failures from one trusted device (a browser with a device cookie).
    pub max_failures_per_device: u32,
    pub window: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required (set the variable or pass the flag; `just dev` writes one into .env)")]
    Missing(&'static str),
    #[error(transparent)]
    ClientSecrets(#[from] shared::client_secrets::SecretsError),
    #[error("{0} must be greater than zero")]
    NotPositive(&'static str),
    #[error("{absolute} must be at least {idle}")]
    AbsoluteShorterThanIdle { absolute: &'static str, idle: &'static str },
    #[error("PASSWORD_MIN_SCORE is zxcvbn's score, 0 to 4")]
    ScoreOutOfRange,
    #[error("MFA_REQUIRED_ROLES: {0}")]
    UnknownRole(#[from] shared::UnknownRole),
    #[error(transparent)]
    MfaKey(#[from] crate::mfa::key::InvalidKey),
}

impl Settings {
    pub fn from_args(database_url: String, args: &ServeArgs) -> Result<Self, ConfigError> {
        let client_id = args.client_id.clone().ok_or(ConfigError::Missing("AUTH_CLIENT_ID"))?;
        let (client_secrets, deprecated) =
            ClientSecrets::from_env(args.client_secrets.as_deref(), args.client_secret.as_deref())?;
        if deprecated {
            tracing::warn!(
                "AUTH_CLIENT_SECRET is deprecated: rename it AUTH_CLIENT_SECRETS (a comma-separated \
                 list; any entry is accepted, which lets the secret rotate with no outage)"
            );
        }
        let settings = Settings {
            database_url,
            addr: args.addr.clone(),
            metrics_addr: listener_addr(&args.metrics_addr),
            issuer: args.issuer.clone(),
            client_id,
            client_secrets,
            access_token_ttl: i64::from(args.access_token_ttl),
            session_idle_ttl: i64::from(args.session_idle_ttl),
            session_absolute_ttl: i64::from(args.session_absolute_ttl),
            remember_idle_ttl: i64::from(args.remember_idle_ttl),
            remember_absolute_ttl: i64::from(args.remember_absolute_ttl),
            max_sessions_per_user: args.max_sessions_per_user,
            throttle: ThrottleSettings {
                max_failures_per_user: args.login_max_failures_per_user,
                max_failures_per_ip: args.login_max_failures_per_ip,
                max_failures_per_device: args.login_max_failures_per_device,
                window: i64::from(args.login_failure_window),
            },
            password_policy: password_policy(args)?,
            audit_retention: i64::from(args.audit_retention),
            reauth_max_age: i64::from(args.reauth_max_age),
            mfa: MfaSettings {
                keys: mfa_keys(args)?,
                required_roles: roles_list(&args.mfa_required_roles)?,
            },
            public_origins: args
                .public_origin
                .as_deref()
                .unwrap_or_default()
                .split(',')
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            shutdown_grace: args.shutdown_grace,
        };
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.client_id.trim().is_empty() {
            return Err(ConfigError::Missing("AUTH_CLIENT_ID"));
        }
        for (name, value) in [
            ("ACCESS_TOKEN_TTL", self.access_token_ttl),
            ("SESSION_IDLE_TTL", self.session_idle_ttl),
            ("SESSION_ABSOLUTE_TTL", self.session_absolute_ttl),
            ("REMEMBER_IDLE_TTL", self.remember_idle_ttl),
            ("REMEMBER_ABSOLUTE_TTL", self.remember_absolute_ttl),
            ("LOGIN_FAILURE_WINDOW", self.throttle.window),
            ("AUDIT_RETENTION", self.audit_retention),
            ("REAUTH_MAX_AGE", self.reauth_max_age),
        ] {
            if value <= 0 {
                return Err(ConfigError::NotPositive(name));
            }
        }
        if self.session_absolute_ttl < self.session_idle_ttl {
            return Err(ConfigError::AbsoluteShorterThanIdle {
                absolute: "SESSION_ABSOLUTE_TTL",
                idle: "SESSION_IDLE_TTL",
            });
        }
        if self.remember_absolute_ttl < self.remember_idle_ttl {
            return Err(ConfigError::AbsoluteShorterThanIdle {
                absolute: "REMEMBER_ABSOLUTE_TTL",
                idle: "REMEMBER_IDLE_TTL",
            });
        }
        Ok(())
    }
}

/// A listener address, or `None` when the value is empty or `off`.
pub fn listener_addr(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty() && !value.eq_ignore_ascii_case("off")).then(|| value.to_owned())
}

/// `admin,user` → the roles; empty → none.
fn roles_list(text: &str) -> Result<Vec<Role>, ConfigError> {
    let names = text.split(',').map(str::trim).filter(|s| !s.is_empty());
    Ok(names.map(str::parse).collect::<Result<_, _>>()?)
}

/// `MFA_ENCRYPTION_KEY` alone: the CLI's `mfa` commands need it without the
/// rest of the server's settings.
pub fn mfa_keys(args: &ServeArgs) -> Result<MfaKeys, ConfigError> {
    let text =
        args.mfa_encryption_key.as_deref().ok_or(ConfigError::Missing("MFA_ENCRYPTION_KEY"))?;
    Ok(MfaKeys::parse(text)?)
}

/// The password policy alone: the CLI's `user add` and `user set-password`
/// need it without the rest of the server's settings.
pub fn password_policy(args: &ServeArgs) -> Result<PasswordPolicy, ConfigError> {
    if args.password_min_score > 4 {
        return Err(ConfigError::ScoreOutOfRange);
    }
    if args.password_min_length == 0 {
        return Err(ConfigError::NotPositive("PASSWORD_MIN_LENGTH"));
    }
    Ok(PasswordPolicy {
        min_length: args.password_min_length as usize,
        min_score: args.password_min_score,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_database_password_and_the_client_secret() {
        let settings = Settings {
            database_url: "postgres://cloakroom:hunter2-db@db.internal/cloakroom".into(),
            addr: "127.0.0.1:0".into(),
            metrics_addr: None,
            issuer: "http://issuer".into(),
            client_id: "frontend".into(),
            client_secrets: ClientSecrets::parse(
                "client-secret-0123456789,second-secret-0123456789",
            )
            .unwrap(),
            access_token_ttl: 300,
            session_idle_ttl: 3600,
            session_absolute_ttl: 86400,
            remember_idle_ttl: 7 * 86400,
            remember_absolute_ttl: 30 * 86400,
            max_sessions_per_user: 50,
            throttle: ThrottleSettings {
                max_failures_per_user: 5,
                max_failures_per_ip: 50,
                max_failures_per_device: 10,
                window: 900,
            },
            password_policy: PasswordPolicy::default(),
            audit_retention: 90 * 86400,
            reauth_max_age: 600,
            mfa: MfaSettings {
                keys: crate::mfa::key::MfaKey::from_bytes(&[9; 32]).into(),
                required_roles: vec![Role::Admin],
            },
            public_origins: vec![],
            shutdown_grace: 30,
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("hunter2-db"), "{shown}");
        assert!(!shown.contains("secret-0123456789"), "{shown}");
        assert!(shown.contains("db.internal"), "the rest of the URL stays useful: {shown}");
    }

    #[test]
    fn an_empty_or_off_metrics_address_turns_the_listener_off() {
        assert_eq!(listener_addr("127.0.0.1:9100").as_deref(), Some("127.0.0.1:9100"));
        assert_eq!(listener_addr(""), None);
        assert_eq!(listener_addr(" OFF "), None);
    }
}
