//! `Settings`: the frontend's whole configuration, parsed once at start.
//!
//! Site settings (address, site root, pkg dir) come from `Leptos.toml`, the
//! one source of truth for them, with `LEPTOS_*` variables overriding; the
//! rest are the variables of `docs/DESIGN.md`, each with a `--flag` twin.

use std::{fmt, path::PathBuf};

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use clap::{ArgAction, Parser};
use cookie::Key;
use leptos::config::LeptosOptions;

#[derive(Debug, Parser)]
#[command(name = "frontend", version, about = "Cloakroom's web frontend (Leptos SSR)")]
pub struct Cli {
    /// The Leptos configuration file; its `[package.metadata.leptos]` section is read.
    #[arg(long, env = "LEPTOS_CONFIG", default_value = "Leptos.toml")]
    pub leptos_config: PathBuf,

    /// Address to listen on (overrides `site-addr` of Leptos.toml); port 0 picks a free port.
    #[arg(long, env = "LEPTOS_SITE_ADDR")]
    pub site_addr: Option<String>,

    /// Base URL of the auth-api.
    #[arg(long, env = "AUTH_API_URL", default_value = "http://127.0.0.1:8080")]
    pub auth_api_url: String,

    /// Allow a plain-http AUTH_API_URL to a host other than loopback even
    /// with COOKIE_SECURE (the client secret and every token would cross
    /// that network readable): only for a network you trust as much as the
    /// machine. Logged at start.
    #[arg(long, env = "AUTH_API_ALLOW_HTTP", default_value_t = false, action = ArgAction::Set)]
    pub auth_api_allow_http: bool,

    /// Address of the private listener that serves `/metrics` (and nothing
    /// else); port 0 picks a free port; empty or `off`: no metrics listener.
    #[arg(long, env = "METRICS_ADDR", default_value = "127.0.0.1:9101")]
    pub metrics_addr: String,

    /// `iss` the access tokens must carry.
    #[arg(long, env = "AUTH_ISSUER", default_value = "http://127.0.0.1:8080")]
    pub issuer: String,

    /// This frontend's client id at the auth-api (also the tokens' `aud`).
    #[arg(long, env = "AUTH_CLIENT_ID")]
    pub client_id: Option<String>,

    /// This frontend's client secrets at the auth-api, comma-separated: the
    /// first is sent (the same list as the auth-api's may be used).
    #[arg(long, env = "AUTH_CLIENT_SECRETS", hide_env_values = true)]
    pub client_secrets: Option<String>,

    /// Deprecated: one client secret; use AUTH_CLIENT_SECRETS (not both).
    #[arg(long, env = "AUTH_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,

    /// Comma-separated base64 keys of 64 bytes; the first seals cookies, all open them.
    #[arg(long, env = "COOKIE_KEYS", hide_env_values = true)]
    pub cookie_keys: Option<String>,

    /// `Secure` flag and `__Host-` cookie name; `false` only for plain http on localhost.
    #[arg(long, env = "COOKIE_SECURE", default_value_t = true, action = ArgAction::Set)]
    pub cookie_secure: bool,

    /// The origin browsers use, e.g. `https://app.example.com`; state-changing
    /// requests from any other origin are refused. Defaults to `http://` + the
    /// bound address when COOKIE_SECURE is false.
    #[arg(long, env = "PUBLIC_ORIGIN")]
    pub public_origin: Option<String>,

    /// Comma-separated CIDRs of the reverse proxies in front of this server
    /// (e.g. `10.0.0.0/8,127.0.0.1/32`). Only from these is `X-Forwarded-For`
    /// believed; by default nobody's, and the client is the peer address.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,

    /// Continue the trace a `TRUSTED_PROXIES` peer names in `traceparent`.
    /// Only if that proxy sets or removes the header itself: one that passes
    /// a browser's on would let the browser choose its trace (and sampling).
    #[arg(long, env = "TRACE_FROM_PROXIES", default_value_t = false, action = ArgAction::Set)]
    pub trace_from_proxies: bool,

    /// The apps Cloakroom stands in front of (`docs/upstreams.md`).
    #[arg(long, env = "UPSTREAMS")]
    pub upstreams: Option<PathBuf>,

    /// PEM certificates of a private CA to trust, besides the system's, for
    /// https upstreams (an https AUTH_API_URL is checked against the system's).
    #[arg(long, env = "UPSTREAM_CA_FILE")]
    pub upstream_ca_file: Option<PathBuf>,

    /// Logs and traces: `LOG_FORMAT` and OpenTelemetry's `OTEL_*` variables.
    #[command(flatten)]
    pub telemetry: shared::telemetry::TelemetryArgs,

    /// Seconds a stopping server (SIGTERM or SIGINT) gives the requests in
    /// flight to finish (proxied ones and WebSockets too); it accepts no new
    /// connections meanwhile.
    #[arg(long, env = "SHUTDOWN_GRACE", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub shutdown_grace: u64,
}

/// A secret string whose `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The cookie keys: the first seals, every one opens.
#[derive(Clone)]
pub struct CookieKeys(Vec<Key>);

impl fmt::Debug for CookieKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CookieKeys({} keys, redacted)", self.0.len())
    }
}

impl CookieKeys {
    pub const KEY_BYTES: usize = 64;

    /// Parses `COOKIE_KEYS`: comma-separated, standard or URL-safe base64.
    pub fn parse(list: &str) -> Result<Self, ConfigError> {
        let keys = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .enumerate()
            .map(|(i, k)| {
                let bytes = STANDARD
                    .decode(k)
                    .or_else(|_| URL_SAFE_NO_PAD.decode(k.trim_end_matches('=')))
                    .map_err(|_| ConfigError::CookieKey(i + 1, "is not base64"))?;
                if bytes.len() != Self::KEY_BYTES {
                    return Err(ConfigError::CookieKey(i + 1, "must decode to exactly 64 bytes"));
                }
                Key::try_from(bytes.as_slice())
                    .map_err(|_| ConfigError::CookieKey(i + 1, "is not a usable key"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(ConfigError::Missing("COOKIE_KEYS"));
        }
        Ok(Self(keys))
    }

    pub fn from_keys(keys: Vec<Key>) -> Self {
        assert!(!keys.is_empty(), "at least one cookie key");
        Self(keys)
    }

    pub fn current(&self) -> &Key {
        &self.0[0]
    }

    pub fn all(&self) -> &[Key] {
        &self.0
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub leptos: LeptosOptions,
    pub auth_api_url: String,
    /// `AUTH_API_ALLOW_HTTP`: see `validate`.
    pub auth_api_allow_http: bool,
    /// `METRICS_ADDR`: the private `/metrics` listener; `None` (empty or
    /// `off`): none. Port 0 works (`Application::metrics_port`).
    pub metrics_addr: Option<String>,
    pub issuer: String,
    pub client_id: String,
    /// The first of `AUTH_CLIENT_SECRETS`: the one this frontend sends.
    pub client_secret: Secret,
    pub cookie_keys: CookieKeys,
    pub cookie_secure: bool,
    /// `None` derives it from the bound address (only allowed without `COOKIE_SECURE`).
    pub public_origin: Option<String>,
    /// Whose `X-Forwarded-For` is believed (see `security::client`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `TRACE_FROM_PROXIES`: a trusted proxy's `traceparent` is followed.
    pub trace_from_proxies: bool,
    /// From the `UPSTREAMS` file; empty without one.
    pub upstreams: Vec<crate::routes::Upstream>,
    /// TLS for outgoing https calls (`UPSTREAM_CA_FILE`).
    pub tls: crate::tls::ClientTls,
    /// `SHUTDOWN_GRACE`: seconds a stopping server gives requests in flight.
    pub shutdown_grace: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required (set the variable or pass the flag; `just dev` writes one into .env)")]
    Missing(&'static str),
    #[error(transparent)]
    ClientSecrets(#[from] shared::client_secrets::SecretsError),
    #[error("COOKIE_KEYS entry {0} {1}")]
    CookieKey(usize, &'static str),
    #[error("could not read the Leptos configuration {path}: {reason}")]
    Leptos { path: String, reason: String },
    #[error("invalid LEPTOS_SITE_ADDR {0:?}: expected host:port")]
    SiteAddr(String),
    #[error("PUBLIC_ORIGIN is required when COOKIE_SECURE is true (e.g. https://app.example.com)")]
    PublicOriginRequired,
    #[error("PUBLIC_ORIGIN {0:?} must be scheme://host[:port] with no path")]
    PublicOrigin(String),
    #[error("AUTH_API_URL {0:?} must start with http:// or https://")]
    AuthApiUrl(String),
    #[error(
        "AUTH_API_URL {0:?} is plain http to a host that is not loopback, and COOKIE_SECURE \
         is true: the client secret and every token would cross the network readable. Use \
         https://, or set AUTH_API_ALLOW_HTTP=true if that network is private"
    )]
    PlaintextAuthApi(String),
    #[error("TRUSTED_PROXIES entry {0:?} is not an address or CIDR (e.g. 10.0.0.0/8)")]
    TrustedProxy(String),
    #[error("UPSTREAMS {0}")]
    Upstreams(#[from] crate::routes::upstreams::UpstreamsError),
    #[error(
        "UPSTREAMS: the upstream at {0:?} has the frontend's own client id as its audience; \
         tokens for it are good at the auth-api, so no app may be given one: name another"
    )]
    UpstreamAudience(String),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

impl Settings {
    pub fn from_cli(cli: Cli) -> Result<Self, ConfigError> {
        let client_secret =
            client_secret(cli.client_secrets.as_deref(), cli.client_secret.as_deref())?;
        let conf = leptos::config::get_configuration(Some(&cli.leptos_config.to_string_lossy()))
            .map_err(|e| ConfigError::Leptos {
                path: cli.leptos_config.display().to_string(),
                reason: e.to_string(),
            })?;
        let mut leptos = conf.leptos_options;
        if let Some(addr) = cli.site_addr {
            leptos.site_addr = addr.parse().map_err(|_| ConfigError::SiteAddr(addr.clone()))?;
        }
        let settings = Settings {
            leptos,
            auth_api_url: cli.auth_api_url.trim_end_matches('/').to_owned(),
            auth_api_allow_http: cli.auth_api_allow_http,
            metrics_addr: Some(cli.metrics_addr.trim())
                .filter(|a| !a.is_empty() && !a.eq_ignore_ascii_case("off"))
                .map(str::to_owned),
            issuer: cli.issuer,
            client_id: cli
                .client_id
                .filter(|s| !s.is_empty())
                .ok_or(ConfigError::Missing("AUTH_CLIENT_ID"))?,
            client_secret,
            cookie_keys: CookieKeys::parse(
                &cli.cookie_keys.ok_or(ConfigError::Missing("COOKIE_KEYS"))?,
            )?,
            cookie_secure: cli.cookie_secure,
            public_origin: cli.public_origin.map(|o| o.trim_end_matches('/').to_owned()),
            trusted_proxies: parse_proxies(&cli.trusted_proxies)?,
            trace_from_proxies: cli.trace_from_proxies,
            upstreams: match &cli.upstreams {
                Some(path) => crate::routes::upstreams::load(path)?,
                None => Vec::new(),
            },
            tls: match &cli.upstream_ca_file {
                Some(path) => crate::tls::ClientTls::new(Some(path))?,
                None => crate::tls::ClientTls::system(),
            },
            shutdown_grace: cli.shutdown_grace,
        };
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.auth_api_url.starts_with("http://") || self.auth_api_url.starts_with("https://"))
        {
            return Err(ConfigError::AuthApiUrl(self.auth_api_url.clone()));
        }
        if self.cookie_secure && self.plaintext_auth_api() && !self.auth_api_allow_http {
            return Err(ConfigError::PlaintextAuthApi(self.auth_api_url.clone()));
        }
        if let Some(u) = self.upstreams.iter().find(|u| u.audience == self.client_id) {
            return Err(ConfigError::UpstreamAudience(u.path.clone()));
        }
        match &self.public_origin {
            None if self.cookie_secure => return Err(ConfigError::PublicOriginRequired),
            Some(o) if !is_origin(o) => return Err(ConfigError::PublicOrigin(o.clone())),
            _ => {}
        }
        Ok(())
    }
}

impl Settings {
    /// True when the auth-api is called over plain http to a host that is
    /// not loopback: its traffic (client secret, tokens) leaves the machine
    /// readable. Allowed only with `AUTH_API_ALLOW_HTTP` when COOKIE_SECURE.
    pub fn plaintext_auth_api(&self) -> bool {
        self.auth_api_url.strip_prefix("http://").is_some_and(|rest| !is_loopback_host(rest))
    }
}

/// Whether the authority at the start of `rest` (what follows `http://`)
/// names this machine: 127.0.0.0/8, `::1`, or the name `localhost` (RFC 6761
/// reserves it for loopback). Any other name is not proven loopback, whatever
/// it resolves to today, so it counts as remote.
fn is_loopback_host(rest: &str) -> bool {
    // `\` ends the authority too, as the WHATWG URL parser (awc's) reads
    // http URLs: `http://evil.example\@localhost` is a request to evil.example.
    let authority = rest.split(['/', '\\', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(v6, |(h, _)| h),
        None => host_port.split_once(':').map_or(host_port, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// The secret this frontend sends: the first of `AUTH_CLIENT_SECRETS`
/// (`list`), or the deprecated `AUTH_CLIENT_SECRET` (`single`), every entry
/// checked by the rule the auth-api applies (`shared::client_secrets`).
pub fn client_secret(list: Option<&str>, single: Option<&str>) -> Result<Secret, ConfigError> {
    let list = shared::client_secrets::parse(list, single)?;
    if list.deprecated {
        tracing::warn!(
            "AUTH_CLIENT_SECRET is deprecated: rename it AUTH_CLIENT_SECRETS (a comma-separated \
             list whose first entry is sent, which lets the secret rotate with no outage)"
        );
    }
    let first = list.secrets.into_iter().next().expect("parse returns at least one secret");
    Ok(Secret::new(first))
}

/// `TRUSTED_PROXIES`: CIDRs, or bare addresses (one host each).
pub fn parse_proxies(list: &str) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map(|net| net.trunc())
                .map_err(|_| ConfigError::TrustedProxy(s.to_owned()))
        })
        .collect()
}

fn is_origin(s: &str) -> bool {
    let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|host| !host.is_empty() && !host.contains(['/', '?', '#', '@']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_keys_must_be_64_bytes_of_base64() {
        let good = STANDARD.encode([7u8; 64]);
        let other = URL_SAFE_NO_PAD.encode([9u8; 64]);
        assert_eq!(CookieKeys::parse(&format!("{good}, {other}")).unwrap().all().len(), 2);
        assert!(matches!(
            CookieKeys::parse(&STANDARD.encode([1u8; 32])),
            Err(ConfigError::CookieKey(1, _))
        ));
        assert!(matches!(CookieKeys::parse("not base64!"), Err(ConfigError::CookieKey(1, _))));
        assert!(matches!(CookieKeys::parse(" , "), Err(ConfigError::Missing(_))));
    }

    #[test]
    fn the_first_client_secret_is_sent_and_every_one_is_checked() {
        let new = "new-client-secret-0123456789";
        let old = "old-client-secret-0123456789";
        let both = Cli::try_parse_from(["frontend", "--client-secrets", &format!("{new}, {old}")])
            .unwrap();
        let sent = client_secret(both.client_secrets.as_deref(), both.client_secret.as_deref());
        assert_eq!(sent.unwrap().expose(), new);
        assert_eq!(client_secret(None, Some(old)).unwrap().expose(), old, "the deprecated one");
        let short = client_secret(Some(&format!("{new},short")), None);
        assert!(matches!(short, Err(ConfigError::ClientSecrets(_))));
        let refused = client_secret(Some(new), Some(old)).unwrap_err().to_string();
        assert!(refused.contains("not both") && !refused.contains(old), "{refused}");
    }

    #[test]
    fn trusted_proxies_are_cidrs_or_addresses() {
        let nets = parse_proxies(" 10.0.0.0/8, 127.0.0.1 ,2001:db8::/32").unwrap();
        assert_eq!(nets.len(), 3);
        assert!(nets[0].contains(&"10.1.2.3".parse::<std::net::IpAddr>().unwrap()));
        assert!(nets[1].contains(&"127.0.0.1".parse::<std::net::IpAddr>().unwrap()));
        assert!(!nets[1].contains(&"127.0.0.2".parse::<std::net::IpAddr>().unwrap()));
        assert!(parse_proxies("").unwrap().is_empty());
        assert!(matches!(parse_proxies("10.0.0.0/33"), Err(ConfigError::TrustedProxy(_))));
        assert!(matches!(parse_proxies("proxy.internal"), Err(ConfigError::TrustedProxy(_))));
    }

    #[test]
    fn loopback_is_127_8_the_v6_loopback_and_localhost_only() {
        for rest in [
            "127.0.0.1:8080",
            "127.3.2.1",
            "localhost:8080/",
            "LOCALHOST",
            "[::1]:8080",
            "[::ffff:127.0.0.1]:80",
            "user@127.0.0.1:8080/x",
        ] {
            assert!(is_loopback_host(rest), "{rest}");
        }
        for rest in [
            "10.0.0.5:8080",
            "auth.internal:8080",
            "localhost.example.com",
            "app.localhost",
            "127.0.0.1.nip.io",
            "[::2]:80",
            "0.0.0.0:8080",
            "localhost@evil.example",
            "evil.example\\@localhost",
            "evil.example\\@127.0.0.1:8080/",
            "",
        ] {
            assert!(!is_loopback_host(rest), "{rest}");
        }
    }

    fn settings_calling(url: &str, cookie_secure: bool, allow_http: bool) -> Settings {
        Settings {
            leptos: LeptosOptions::builder().output_name("t").build(),
            auth_api_url: url.into(),
            auth_api_allow_http: allow_http,
            metrics_addr: None,
            issuer: "http://issuer".into(),
            client_id: "frontend".into(),
            client_secret: Secret::new("s"),
            cookie_keys: CookieKeys::from_keys(vec![Key::generate()]),
            cookie_secure,
            public_origin: Some("https://app.example.com".into()),
            trusted_proxies: vec![],
            trace_from_proxies: false,
            upstreams: vec![],
            tls: crate::tls::ClientTls::system(),
            shutdown_grace: 30,
        }
    }

    #[test]
    fn secure_cookies_refuse_plain_http_to_another_host_unless_allowed() {
        let refused = |url| {
            matches!(
                settings_calling(url, true, false).validate(),
                Err(ConfigError::PlaintextAuthApi(_))
            )
        };
        assert!(refused("http://auth.internal:8080"));
        assert!(refused("http://10.0.0.5:8080"));
        assert!(refused("http://localhost@10.0.0.5:8080"));
        // Loopback never leaves the machine; https is what is asked for.
        assert!(settings_calling("http://127.0.0.1:8080", true, false).validate().is_ok());
        assert!(settings_calling("http://localhost:8080", true, false).validate().is_ok());
        assert!(settings_calling("http://[::1]:8080", true, false).validate().is_ok());
        assert!(settings_calling("https://auth.internal", true, false).validate().is_ok());
        // Said explicitly, or in development without secure cookies.
        assert!(settings_calling("http://auth.internal:8080", true, true).validate().is_ok());
        assert!(settings_calling("http://auth.internal:8080", false, false).validate().is_ok());
        let message = settings_calling("http://auth.internal", true, false)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("AUTH_API_URL") && message.contains("AUTH_API_ALLOW_HTTP"),
            "{message}"
        );
    }

    #[test]
    fn origins_have_no_path() {
        assert!(is_origin("https://app.example.com"));
        assert!(is_origin("http://127.0.0.1:3000"));
        assert!(!is_origin("https://app.example.com/login"));
        assert!(!is_origin("app.example.com"));
        assert!(!is_origin("https://user@evil.example"));
    }
}
