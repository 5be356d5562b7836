//! Logging. Every request gets a span with a request id (`tracing-actix-web`);
//! handlers log inside it. Nothing logged here or elsewhere carries a
//! password, token or secret: those types redact themselves in `Debug`.

use shared::log_format::LogFormat;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Installs the global subscriber; `RUST_LOG` filters (default `info`, less
/// PostgreSQL's notices, such as the "already exists, skipping" that every
/// start's migration check draws). Safe to call more than once (later calls
/// do nothing), which tests rely on.
pub fn init(format: LogFormat) {
    match format {
        LogFormat::Text => {
            // Colours only for a person at a terminal; not in files, pipes
            // or `just dev`'s prefixed log.
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
            install(fmt::layer().with_target(true).with_ansi(ansi));
        }
        // One object per line: the event's fields flattened beside
        // `message`, and every span it is in (the request's, with its
        // `request_id`) in `spans`.
        LogFormat::Json => install(fmt::layer().json().flatten_event(true).with_span_list(true)),
    }
}

/// For servers started inside a test process: the same lines, written through
/// the test harness's output capture, so a passing test's servers stay quiet
/// and a failing test shows what its own servers logged.
pub fn init_for_tests() {
    install(fmt::layer().with_target(true).with_ansi(false).with_test_writer());
}

fn install<L>(layer: L)
where
    L: tracing_subscriber::Layer<
            tracing_subscriber::layer::Layered<EnvFilter, tracing_subscriber::Registry>,
        > + Send
        + Sync,
{
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx::postgres::notice=warn"));
    let _ = tracing_subscriber::registry().with(filter).with(layer).try_init();
}
