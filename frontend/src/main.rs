//! `frontend`: reads the configuration and serves; see the library docs.

use std::process::ExitCode;

use clap::Parser;
use frontend::{
    config::{Cli, Settings},
    startup::Application,
};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Load `.env` before clap reads the environment; real variables win.
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    // The server runs inside `shared::telemetry::run`, which sets up logs
    // and traces first and sends the last spans once it is done.
    let telemetry = cli.telemetry.clone();
    shared::telemetry::run("cloakroom-frontend", &telemetry, run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    let settings = match Settings::from_cli(cli) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let metrics_host = settings
        .metrics_addr
        .as_deref()
        .map(|addr| addr.rsplit_once(':').map_or(addr, |(h, _)| h).to_owned());
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The metrics line first: whoever waits for the listening line has both.
    match (app.metrics_port(), metrics_host) {
        (Some(port), Some(host)) => {
            tracing::info!("frontend metrics served at http://{host}:{port}/metrics");
        }
        _ => tracing::info!("frontend serves no metrics (METRICS_ADDR is off)"),
    }
    tracing::info!("frontend listening on {} (port {})", app.public_origin(), app.port());
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    }
}
