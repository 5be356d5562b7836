//! `frontend`: reads the configuration and serves; see the library docs.

use std::process::ExitCode;

use clap::Parser;
use frontend::{
    config::{Cli, Settings},
    startup::Application,
    telemetry,
};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[actix_web::main]
async fn main() -> ExitCode {
    // Load `.env` before clap reads the environment; real variables win.
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    telemetry::init();
    let settings = match Settings::from_cli(cli) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!("frontend listening on {} (port {})", app.public_origin(), app.port());
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    }
}
