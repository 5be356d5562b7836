//! Logging. Every request gets a span with a request id (`tracing-actix-web`);
//! handlers log inside it. Nothing logged here or elsewhere carries a
//! password, token or secret: those types redact themselves in `Debug`.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Installs the global subscriber; `RUST_LOG` filters (default `info`, less
/// PostgreSQL's notices, such as the "already exists, skipping" that every
/// start's migration check draws). Safe to call more than once (later calls
/// do nothing), which tests rely on.
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx::postgres::notice=warn"));
    // Colours only for a person at a terminal; not in files, pipes or `just dev`'s prefixed log.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt::layer().with_target(true).with_ansi(ansi))
        .try_init();
}
