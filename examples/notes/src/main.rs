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
    // Cloakroom's own logs and traces (`shared::telemetry`): a request
    // forwarded by Cloakroom continues its trace.
    let telemetry = match shared::telemetry::init("notes", &cli.telemetry) {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let code = actix_web::rt::System::new().block_on(run(cli));
    telemetry.shutdown();
    code
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
