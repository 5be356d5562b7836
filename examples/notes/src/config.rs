//! `Settings`: the whole configuration, parsed once at start from flags and
//! environment variables (each flag has an environment twin, shown by
//! `--help`) and checked before anything binds. Nothing else reads the
//! environment. There is no secret here: verifying tokens needs only the
//! auth-api's public keys.

use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "notes", version, about = "An example app behind Cloakroom: a note list per user")]
pub struct Cli {
    /// Address to listen on; port 0 picks a free port. Keep it reachable only
    /// from Cloakroom (see docs/upstreams.md).
    #[arg(long, env = "NOTES_ADDR", default_value = "127.0.0.1:9000")]
    pub addr: String,

    /// The notes database (`sqlite://PATH`); the file and its folder are created when missing.
    #[arg(long, env = "NOTES_DATABASE_URL", default_value = "sqlite://data/notes.db?mode=rwc")]
    pub database_url: String,

    /// Base URL of the auth-api, whose `/.well-known/jwks.json` holds the
    /// keys access tokens are signed with. Plain http: this example's HTTP
    /// client has no TLS, so run it beside the auth-api on a private network.
    #[arg(long, env = "AUTH_API_URL", default_value = "http://127.0.0.1:8080")]
    pub auth_api_url: String,

    /// `iss` the access tokens must carry (the auth-api's AUTH_ISSUER).
    #[arg(long, env = "AUTH_ISSUER", default_value = "http://127.0.0.1:8080")]
    pub issuer: String,

    /// `aud` the access tokens must carry: this app's `audience` in the
    /// frontend's UPSTREAMS file (the frontend exchanges the session's token
    /// for one with it).
    #[arg(long, env = "NOTES_AUDIENCE", default_value = "notes-api")]
    pub audience: String,

    /// The Cloakroom frontend's client id: refused as NOTES_AUDIENCE, since
    /// tokens for that audience are the session's own, good at the auth-api.
    #[arg(long, env = "AUTH_CLIENT_ID")]
    pub client_id: Option<String>,

    /// Logs and traces: `LOG_FORMAT` and OpenTelemetry's `OTEL_*` variables
    /// (Cloakroom sends `traceparent`: the app's spans join its traces).
    #[command(flatten)]
    pub telemetry: shared::telemetry::TelemetryArgs,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// `host:port`.
    pub addr: String,
    pub database_url: String,
    /// Without a trailing slash.
    pub auth_api_url: String,
    pub issuer: String,
    pub audience: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("NOTES_AUDIENCE must not be empty: it is this app's audience in UPSTREAMS")]
    MissingAudience,
    #[error(
        "NOTES_AUDIENCE must not be the frontend's client id: tokens for it are the session's own, \
         which the auth-api honours; give this app an audience of its own in UPSTREAMS"
    )]
    FrontendAudience,
    #[error("AUTH_API_URL must start with http:// (this example's client has no TLS)")]
    AuthApiUrl,
    #[error("NOTES_DATABASE_URL must be a sqlite:// URL")]
    DatabaseUrl,
    #[error("AUTH_ISSUER must not be empty")]
    MissingIssuer,
}

impl Settings {
    pub fn from_cli(cli: Cli) -> Result<Self, ConfigError> {
        let audience = cli.audience.trim().to_owned();
        if audience.is_empty() {
            return Err(ConfigError::MissingAudience);
        }
        if cli.client_id.as_deref().is_some_and(|id| id.trim() == audience) {
            return Err(ConfigError::FrontendAudience);
        }
        if !cli.auth_api_url.starts_with("http://") {
            return Err(ConfigError::AuthApiUrl);
        }
        if !cli.database_url.starts_with("sqlite:") {
            return Err(ConfigError::DatabaseUrl);
        }
        if cli.issuer.trim().is_empty() {
            return Err(ConfigError::MissingIssuer);
        }
        Ok(Self {
            addr: cli.addr,
            database_url: cli.database_url,
            auth_api_url: cli.auth_api_url.trim_end_matches('/').to_owned(),
            issuer: cli.issuer,
            audience,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults, as if no flag or variable were set (built by hand:
    /// parsing would read the developer's environment).
    fn cli() -> Cli {
        Cli {
            addr: "127.0.0.1:9000".into(),
            database_url: "sqlite://data/notes.db?mode=rwc".into(),
            auth_api_url: "http://127.0.0.1:8080".into(),
            issuer: "http://127.0.0.1:8080".into(),
            audience: "notes-api".into(),
            client_id: None,
            telemetry: Default::default(),
        }
    }

    #[test]
    fn the_audience_is_the_apps_own_never_the_frontends() {
        let frontend = Some("cloakroom-frontend".to_owned());
        let settings = Settings::from_cli(Cli { client_id: frontend.clone(), ..cli() });
        assert_eq!(settings.unwrap().audience, "notes-api");
        let theirs = Cli { audience: "cloakroom-frontend".into(), client_id: frontend, ..cli() };
        assert_eq!(Settings::from_cli(theirs).unwrap_err(), ConfigError::FrontendAudience);
        let blank = Cli { audience: " ".into(), ..cli() };
        assert_eq!(Settings::from_cli(blank).unwrap_err(), ConfigError::MissingAudience);
    }

    #[test]
    fn the_auth_api_url_must_be_plain_http_and_loses_its_trailing_slash() {
        let https = Cli { auth_api_url: "https://auth.example.com".into(), ..cli() };
        assert_eq!(Settings::from_cli(https).unwrap_err(), ConfigError::AuthApiUrl);
        let slash = Cli { auth_api_url: "http://10.0.0.2:8080/".into(), ..cli() };
        assert_eq!(Settings::from_cli(slash).unwrap().auth_api_url, "http://10.0.0.2:8080");
    }

    #[test]
    fn the_flags_parse() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
