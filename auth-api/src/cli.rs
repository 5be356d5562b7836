//! The command line: `clap` definitions and what each subcommand does.
//!
//! Every setting is a flag with an environment-variable twin (`--help` lists
//! both). Passwords are only ever read from standard input, never from argv,
//! where `ps` and shell history would keep them.

use std::io::BufRead;

use clap::{Args, Parser, Subcommand};
use shared::Role;

use crate::{
    audit::{self, Actor, Event},
    clock::{Clock, SystemClock},
    domain::{EndReason, EventKind, Password, Username},
    passwords::policy::PasswordPolicy,
    store::{KeyRetirement, Liveness, Store, UserChange, UserRecord},
    tokens::keys,
};

#[derive(Debug, Parser)]
#[command(name = "auth-api", version, about = "Cloakroom's token service", long_about = None)]
pub struct Cli {
    /// Database to use: `sqlite://PATH` (created and migrated when missing) or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (migrated; for several instances).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/auth.db",
        global = true,
        hide_env_values = true
    )]
    pub database_url: String,

    /// Logs and traces: `LOG_FORMAT` and OpenTelemetry's `OTEL_*` variables.
    #[command(flatten)]
    pub telemetry: shared::telemetry::TelemetryArgs,

    #[command(flatten)]
    pub serve: ServeArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long = "addr", env = "AUTH_API_ADDR", default_value = "127.0.0.1:8080", global = true)]
    pub addr: String,

    /// Address of the private listener that serves `/metrics` (and nothing
    /// else); port 0 picks a free port; empty or `off`: no metrics listener.
    /// Keep it off the public network: scrape it from the private one.
    #[arg(long, env = "METRICS_ADDR", default_value = "127.0.0.1:9100", global = true)]
    pub metrics_addr: String,

    /// `iss` of the access tokens this service signs.
    #[arg(
        long = "issuer",
        env = "AUTH_ISSUER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub issuer: String,

    /// The frontend's client id (HTTP Basic user on client endpoints; `aud` of access tokens).
    #[arg(long, env = "AUTH_CLIENT_ID", global = true)]
    pub client_id: Option<String>,

    /// The frontend's client secrets (HTTP Basic password on client endpoints),
    /// comma-separated: any of them is accepted, so a new one can be added
    /// before the frontends use it and the old one removed after.
    #[arg(long, env = "AUTH_CLIENT_SECRETS", global = true, hide_env_values = true)]
    pub client_secrets: Option<String>,

    /// Deprecated: one client secret; use AUTH_CLIENT_SECRETS (not both).
    #[arg(long, env = "AUTH_CLIENT_SECRET", global = true, hide_env_values = true)]
    pub client_secret: Option<String>,

    /// Lifetime of an access token, in seconds.
    #[arg(long, env = "ACCESS_TOKEN_TTL", default_value_t = 300, global = true)]
    pub access_token_ttl: u32,

    /// A session without "remember me" unused for this many seconds ends (default 30 minutes).
    #[arg(long, env = "SESSION_IDLE_TTL", default_value_t = 1800, global = true)]
    pub session_idle_ttl: u32,

    /// A session without "remember me" ends this many seconds after sign-in (default 12 hours).
    #[arg(long, env = "SESSION_ABSOLUTE_TTL", default_value_t = 12 * 3600, global = true)]
    pub session_absolute_ttl: u32,

    /// A "remember me" session unused for this many seconds ends (default 7 days).
    #[arg(long, env = "REMEMBER_IDLE_TTL", default_value_t = 7 * 24 * 3600, global = true)]
    pub remember_idle_ttl: u32,

    /// A "remember me" session ends this many seconds after sign-in (default 30 days).
    #[arg(long, env = "REMEMBER_ABSOLUTE_TTL", default_value_t = 30 * 24 * 3600, global = true)]
    pub remember_absolute_ttl: u32,

    /// Live sessions one user may have; a sign-in beyond ends their oldest.
    #[arg(long, env = "MAX_SESSIONS_PER_USER", default_value_t = 50, global = true,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_sessions_per_user: u32,

    /// Failed logins for one username before it is throttled.
    #[arg(long, env = "LOGIN_MAX_FAILURES_PER_USER", default_value_t = 5, global = true)]
    pub login_max_failures_per_user: u32,

    /// Failed logins from one client network (IPv4 address, IPv6 /64) before it is throttled.
    #[arg(long, env = "LOGIN_MAX_FAILURES_PER_IP", default_value_t = 50, global = true)]
    pub login_max_failures_per_ip: u32,

    /// Failed logins from one trusted device (a browser that signed in as the user before).
    #[arg(long, env = "LOGIN_MAX_FAILURES_PER_DEVICE", default_value_t = 10, global = true)]
    pub login_max_failures_per_device: u32,

    /// Length of the throttling window, in seconds.
    #[arg(long, env = "LOGIN_FAILURE_WINDOW", default_value_t = 900, global = true)]
    pub login_failure_window: u32,

    /// Fewest characters a new password may have.
    #[arg(long, env = "PASSWORD_MIN_LENGTH", default_value_t = 12, global = true)]
    pub password_min_length: u32,

    /// Lowest zxcvbn strength score (0-4) a new password may have.
    #[arg(long, env = "PASSWORD_MIN_SCORE", default_value_t = 3, global = true)]
    pub password_min_score: u8,

    /// Sensitive actions (roles, disabling, deleting users, ending others'
    /// sessions) need the password entered within this many seconds.
    #[arg(long, env = "REAUTH_MAX_AGE", default_value_t = 600, global = true)]
    pub reauth_max_age: u32,

    /// The keys that seal second factors at rest: 32 random bytes each, base64
    /// (`openssl rand -base64 32`; `just dev` writes one into .env),
    /// comma-separated: the first seals what is new, every one opens (rotation:
    /// `auth-api mfa status`). Keep them with the database's backups: without
    /// them, authenticator apps stop working.
    #[arg(long, env = "MFA_ENCRYPTION_KEY", hide_env_values = true, global = true)]
    pub mfa_encryption_key: Option<String>,

    /// The origin(s) browsers use for the frontend, e.g. `https://app.example.com`
    /// (comma-separated): the relying parties of passkeys. The same value as
    /// the frontend's. Unset: no passkeys.
    #[arg(long, env = "PUBLIC_ORIGIN", global = true)]
    pub public_origin: Option<String>,

    /// Roles that must have a second factor (comma-separated; empty for none).
    #[arg(long, env = "MFA_REQUIRED_ROLES", default_value = "admin", global = true)]
    pub mfa_required_roles: String,

    /// Seconds an audit event is kept (default 90 days).
    #[arg(long, env = "AUDIT_RETENTION", default_value_t = 90 * 24 * 3600, global = true)]
    pub audit_retention: u32,

    /// Seconds a stopping server (SIGTERM or SIGINT) gives the requests in
    /// flight to finish; it accepts no new connections meanwhile.
    #[arg(long, env = "SHUTDOWN_GRACE", default_value_t = 30, global = true,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub shutdown_grace: u64,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage sessions.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Rotate MFA_ENCRYPTION_KEY (the keys that seal second factors).
    #[command(subcommand)]
    Mfa(MfaCommand),
    /// Show security events (the audit log), newest first.
    Audit {
        /// Only events that happened to this user.
        #[arg(long)]
        user: Option<String>,
        /// How many events to show (1-200).
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; every user has role `user`, `--role admin` adds more.
    Add {
        name: String,
        #[arg(long = "role")]
        roles: Vec<Role>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Set a user's password and end all their sessions.
    SetPassword {
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user: their sessions end and they cannot sign in.
    Disable { name: String },
    /// Remove every second factor of a user who lost them (their
    /// authenticator app and recovery codes); their sessions end.
    ResetSecondFactors { name: String },
    /// Enable a disabled user again.
    Enable { name: String },
    /// Delete a user and end their sessions (their audit events stay).
    Delete { name: String },
    /// Set a user's roles (`user` is always kept): `user roles NAME admin`.
    Roles { name: String, roles: Vec<Role> },
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// End every session of a user.
    RevokeUser { name: String },
}

#[derive(Debug, Subcommand)]
pub enum MfaCommand {
    /// What still depends on keys other than the first of MFA_ENCRYPTION_KEY.
    Status,
    /// Re-seal every authenticator-app key under the first key, a batch of
    /// users per transaction; then the status.
    Rekey {
        /// Users per transaction (1-10000).
        #[arg(long, default_value_t = crate::mfa_rotation::DEFAULT_BATCH)]
        batch: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the signing keys: kid, created, and whether current, rotated out or retired.
    List,
    /// Add a new current signing key; the old one stays in JWKS until its tokens expire.
    Rotate,
    /// Cut a signing key off now (a leaked key): it is no longer published
    /// nor accepted, and running frontends drop it within 2 s (sessions
    /// holding its tokens refresh). The current key is first replaced by a new one.
    Retire {
        /// A kid may begin with `-` (base64url): taken as the kid, not a flag.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Api(#[from] crate::error::ApiError),
}

/// Runs a maintenance subcommand against the database and returns what to
/// print. New passwords (`user add`, `set-password`) must pass `policy`.
pub async fn run_admin_command(
    database_url: &str,
    policy: PasswordPolicy,
    command: Command,
) -> Result<String, CommandError> {
    let store = Store::connect(database_url).await?;
    store.migrate().await?;
    let now = SystemClock.now();
    match command {
        Command::Serve => unreachable!("serve is dispatched by main"),
        Command::Mfa(_) => unreachable!("mfa is dispatched by main (run_mfa_command)"),
        Command::Migrate => {
            Ok(format!("database at {} is up to date", crate::store::redacted_url(database_url)))
        }
        Command::User(UserCommand::Add { name, roles, password_stdin }) => {
            let username = parse_username(&name)?;
            let password = read_password(password_stdin)?;
            let password = policy
                .accept(password, username.as_str())
                .await
                .map_err(|weak| CommandError::Usage(weak.to_string()))?;
            let user =
                crate::users::add(&store, username.clone(), password, &roles, Actor::Cli, now)
                    .await?
                    .ok_or_else(|| {
                        CommandError::Usage(format!("user {username} already exists"))
                    })?;
            Ok(format!(
                "added user {} ({}) with roles {}",
                user.username,
                user.id,
                join(&user.roles)
            ))
        }
        Command::User(UserCommand::List) => {
            let users = store.list_users().await?;
            let mut out = String::from("id\tusername\troles\n");
            for u in users {
                out.push_str(&format!("{}\t{}\t{}\n", u.id, u.username, join(&u.roles)));
            }
            Ok(out.trim_end().to_owned())
        }
        Command::User(UserCommand::SetPassword { name, password_stdin }) => {
            let username = parse_username(&name)?;
            let password = read_password(password_stdin)?;
            let user = store
                .find_user_by_name(&username)
                .await?
                .ok_or_else(|| CommandError::Usage(format!("no user {username}")))?;
            let password = policy
                .accept(password, username.as_str())
                .await
                .map_err(|weak| CommandError::Usage(weak.to_string()))?;
            // A new password must lock out whoever knew the old one.
            let change = crate::users::Change { actor: Actor::Cli, keep: None };
            let ended = crate::users::change_password(
                &store,
                &user,
                password,
                change,
                now,
                now + REVOCATION_HORIZON,
            )
            .await?;
            Ok(format!("password of {username} changed; {ended} session(s) ended"))
        }
        Command::User(UserCommand::Disable { name }) => {
            let user = find_user(&store, &name).await?;
            let change = crate::users::set_disabled(
                &store,
                &user,
                true,
                Actor::Cli,
                now,
                now + REVOCATION_HORIZON,
            )
            .await?;
            let ended = done(change, &user)?;
            Ok(format!("{} disabled; {ended} session(s) ended", user.username))
        }
        Command::User(UserCommand::ResetSecondFactors { name }) => {
            let user = find_user(&store, &name).await?;
            let horizon = now + REVOCATION_HORIZON;
            let ended =
                crate::users::reset_second_factors(&store, &user, Actor::Cli, now, horizon).await?;
            Ok(format!("second factors of {} removed; {ended} session(s) ended", user.username))
        }
        Command::User(UserCommand::Enable { name }) => {
            let user = find_user(&store, &name).await?;
            let change = crate::users::set_disabled(
                &store,
                &user,
                false,
                Actor::Cli,
                now,
                now + REVOCATION_HORIZON,
            )
            .await?;
            done(change, &user)?;
            Ok(format!("{} enabled", user.username))
        }
        Command::User(UserCommand::Delete { name }) => {
            let user = find_user(&store, &name).await?;
            let change =
                crate::users::delete(&store, &user, Actor::Cli, now, now + REVOCATION_HORIZON)
                    .await?;
            let ended = done(change, &user)?;
            Ok(format!("{} deleted; {ended} session(s) ended", user.username))
        }
        Command::User(UserCommand::Roles { name, roles }) => {
            let user = find_user(&store, &name).await?;
            // Every session the CLI cannot rule out as live is made stale:
            // it does not know the server's idle timeouts.
            let live_at = Liveness { now, idle_cutoff: i64::MIN, remember_idle_cutoff: i64::MIN };
            let change = crate::users::set_roles(
                &store,
                &user,
                &roles,
                Actor::Cli,
                live_at,
                now + REVOCATION_HORIZON,
            )
            .await?;
            done(change, &user)?;
            let roles = crate::users::with_user_role(&roles);
            Ok(format!("roles of {} are now {}", user.username, join(&roles)))
        }
        Command::Sessions(SessionsCommand::RevokeUser { name }) => {
            let username = parse_username(&name)?;
            let user = store
                .find_user_by_name(&username)
                .await?
                .ok_or_else(|| CommandError::Usage(format!("no user {username}")))?;
            let ended = store
                .end_user_sessions(&user.id, None, EndReason::Admin, now, now + REVOCATION_HORIZON)
                .await?;
            let event = Event::new(EventKind::SessionEnded, now)
                .user(&user)
                .actor(Actor::Cli)
                .detail(format!("admin: {ended} session(s)"));
            audit::record(&store, event).await?;
            Ok(format!("{ended} session(s) of {username} ended"))
        }
        Command::Keys(KeysCommand::Rotate) => {
            let kid = store.rotate_signing_key(keys::generate(), now).await?;
            let event = Event::new(EventKind::KeysRotated, now).actor(Actor::Cli).detail(&kid);
            audit::record(&store, event).await?;
            Ok(format!(
                "new signing key {kid} is current; the previous key stays published until its tokens expire"
            ))
        }
        Command::Keys(KeysCommand::List) => {
            let mut out = String::from("kid\tcreated_at\tstate\n");
            for (kid, created_at, retired_at, removed_at) in store.all_signing_keys().await? {
                let state = match (retired_at, removed_at) {
                    (_, Some(at)) => format!("retired at {at}"),
                    (Some(at), None) => format!("rotated out at {at}"),
                    (None, None) => "current".to_owned(),
                };
                out.push_str(&format!("{kid}\t{created_at}\t{state}\n"));
            }
            Ok(out.trim_end().to_owned())
        }
        Command::Keys(KeysCommand::Retire { kid }) => {
            let replacement = keys::generate();
            match store.retire_signing_key(&kid, replacement, now).await? {
                KeyRetirement::Unknown => Err(CommandError::Usage(format!(
                    "no signing key {kid} (see JWKS for the kids)"
                ))),
                KeyRetirement::AlreadyRetired => {
                    Err(CommandError::Usage(format!("signing key {kid} was retired before")))
                }
                KeyRetirement::Retired { replaced_by } => {
                    let detail = match &replaced_by {
                        Some(new) => format!("{kid}; new current key {new}"),
                        None => kid.clone(),
                    };
                    let event =
                        Event::new(EventKind::KeyRetired, now).actor(Actor::Cli).detail(detail);
                    audit::record(&store, event).await?;
                    let replaced = match replaced_by {
                        Some(new) => format!(" it was the current key: new key {new} signs now;"),
                        None => String::new(),
                    };
                    Ok(format!(
                        "signing key {kid} retired:{replaced} it is no longer published or accepted; \
                         running auth-apis and frontends drop it within 2 s, and sessions holding \
                         its tokens refresh to the current key"
                    ))
                }
            }
        }
        Command::Audit { user, limit } => {
            let mut filter = audit::page_of(None, Some(limit))?;
            if let Some(name) = user {
                filter.username = Some(parse_username(&name)?.as_str().to_owned());
            }
            let page = audit::page(&store, filter).await?;
            let mut out = String::from("id\tat\ttype\tuser\tactor\tsession\tip\tdetail\n");
            for e in page.events {
                let cells = [
                    e.id.to_string(),
                    e.at.to_string(),
                    e.kind,
                    e.username.unwrap_or_default(),
                    e.actor_name.unwrap_or_default(),
                    e.session_id.unwrap_or_default(),
                    e.ip.unwrap_or_default(),
                    e.detail.unwrap_or_default(),
                ];
                // One event per line, whatever a user agent or detail holds.
                let cells: Vec<String> =
                    cells.iter().map(|c| c.replace(['\t', '\n', '\r'], " ")).collect();
                out.push_str(&cells.join("\t"));
                out.push('\n');
            }
            Ok(out.trim_end().to_owned())
        }
    }
}

/// Runs an `mfa` subcommand with the keys of `MFA_ENCRYPTION_KEY`.
pub async fn run_mfa_command(
    database_url: &str,
    keys: &crate::mfa::key::MfaKeys,
    command: MfaCommand,
) -> Result<String, CommandError> {
    let store = Store::connect(database_url).await?;
    store.migrate().await?;
    match command {
        MfaCommand::Status => Ok(crate::mfa_rotation::status(&store, keys).await?.to_string()),
        MfaCommand::Rekey { batch } => {
            if !(1..=10_000).contains(&batch) {
                return Err(CommandError::Usage("--batch must be between 1 and 10000".into()));
            }
            Ok(crate::mfa_rotation::rekey(&store, keys, batch).await?.to_string())
        }
    }
}

async fn find_user(store: &Store, name: &str) -> Result<UserRecord, CommandError> {
    let username = parse_username(name)?;
    store
        .find_user_by_name(&username)
        .await?
        .ok_or_else(|| CommandError::Usage(format!("no user {username}")))
}

/// The sessions a change ended, or why it was refused.
fn done(change: UserChange, user: &UserRecord) -> Result<u64, CommandError> {
    match change {
        UserChange::Done(ended) => Ok(ended),
        UserChange::NotFound => Err(CommandError::Usage(format!("no user {}", user.username))),
        UserChange::LastAdmin => Err(CommandError::Usage(format!(
            "{} is the last active administrator: make someone else an administrator first",
            user.username
        ))),
    }
}

/// The CLI does not know the server's ACCESS_TOKEN_TTL; revocations it
/// publishes are kept for the longest sensible lifetime so no access token
/// outlives its entry.
const REVOCATION_HORIZON: i64 = 24 * 3600;

fn parse_username(raw: &str) -> Result<Username, CommandError> {
    Username::parse(raw).map_err(|e| CommandError::Usage(e.to_string()))
}

fn read_password(password_stdin: bool) -> Result<Password, CommandError> {
    if !password_stdin {
        return Err(CommandError::Usage(
            "pass --password-stdin and write the password on standard input".into(),
        ));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CommandError::Usage(format!("could not read standard input: {e}")))?;
    // The trailing newline ends the line; it is not part of the password.
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    Password::parse(password.to_owned()).map_err(|e| CommandError::Usage(e.to_string()))
}

fn join(roles: &[Role]) -> String {
    roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kid_that_begins_with_a_dash_is_a_kid_not_a_flag() {
        let cli = Cli::try_parse_from(["auth-api", "keys", "retire", "-Xy_z"]).unwrap();
        match cli.command {
            Some(Command::Keys(KeysCommand::Retire { kid })) => assert_eq!(kid, "-Xy_z"),
            other => panic!("{other:?}"),
        }
    }
}
