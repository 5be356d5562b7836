//! Logging: a request-id span per request (`tracing-actix-web`); `RUST_LOG`
//! filters. Tokens and the cookie never reach a log line: the types that hold
//! them redact themselves in `Debug`.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let _ =
        tracing_subscriber::registry().with(filter).with(fmt::layer().with_ansi(ansi)).try_init();
}
