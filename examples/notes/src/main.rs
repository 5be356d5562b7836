//! `notes`: reads the configuration and serves; see the library docs.

use std::process::ExitCode;

use clap::Parser;
use notes::{
    config::{Cli, Settings},
    startup::Application,
};

fn main() -> ExitCode {
    // Load `.env` before clap reads the environment; real variables win.
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    // The server runs inside `shared::telemetry::run`, which sets up logs
    // and traces first and sends the last spans once it is done.
    let telemetry = cli.telemetry.clone();
    shared::telemetry::run("notes", &telemetry, run(cli))
}

async fn run(cli: Cli) -> ExitCode {
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
