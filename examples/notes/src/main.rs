//! `notes`: reads the configuration and serves; see the library docs.

use std::process::ExitCode;

use clap::Parser;
use notes::{
    config::{Cli, Settings},
    startup::Application,
};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

#[actix_web::main]
async fn main() -> ExitCode {
    // Load `.env` before clap reads the environment; real variables win.
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    // Colours only for a person at a terminal, not `just dev`'s prefixed log.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    tracing_subscriber::registry()
        .with(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with(fmt::layer().with_target(true).with_ansi(ansi))
        .init();
    let settings = match Settings::from_cli(cli) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let addr = settings.addr.clone();
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
    tracing::info!("notes listening on http://{host}:{}", app.port());
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    }
}
