//! Logging: a request-id span per request (`tracing-actix-web`); `RUST_LOG`
//! filters. Tokens and the cookie never reach a log line: the types that hold
//! them redact themselves in `Debug`.

use shared::log_format::LogFormat;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        LogFormat::Text => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
            registry.with(fmt::layer().with_ansi(ansi)).try_init()
        }
        // One object per line: the event's fields flattened beside
        // `message`, and every span it is in (the request's, with its
        // `request_id`) in `spans`.
        LogFormat::Json => {
            registry.with(fmt::layer().json().flatten_event(true).with_span_list(true)).try_init()
        }
    };
}
