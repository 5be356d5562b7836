//! Every variable the auth-api reads (each also a `--flag`): the auth-api's
//! tests check its `--help` against it, and every test that starts the
//! binary clears them so nothing from the developer's shell leaks in. Shared
//! with the frontend's multi-process tests (included there by `#[path]`).

pub const VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "AUTH_API_ADDR",
    "METRICS_ADDR",
    "AUTH_ISSUER",
    "AUTH_CLIENT_ID",
    "AUTH_CLIENT_SECRETS",
    "AUTH_CLIENT_SECRET",
    "ACCESS_TOKEN_TTL",
    "SESSION_IDLE_TTL",
    "SESSION_ABSOLUTE_TTL",
    "REMEMBER_IDLE_TTL",
    "REMEMBER_ABSOLUTE_TTL",
    "MAX_SESSIONS_PER_USER",
    "LOGIN_MAX_FAILURES_PER_USER",
    "LOGIN_MAX_FAILURES_PER_IP",
    "LOGIN_MAX_FAILURES_PER_DEVICE",
    "LOGIN_FAILURE_WINDOW",
    "PASSWORD_MIN_LENGTH",
    "PASSWORD_MIN_SCORE",
    "AUDIT_RETENTION",
    "REAUTH_MAX_AGE",
    "MFA_ENCRYPTION_KEY",
    "MFA_REQUIRED_ROLES",
    "PUBLIC_ORIGIN",
    "SHUTDOWN_GRACE",
    "LOG_FORMAT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_SERVICE_NAME",
];
