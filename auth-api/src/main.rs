//! `auth-api`: parses the command line and dispatches; see the library docs.

use std::process::ExitCode;

use auth_api::{
    cli::{Cli, Command, run_admin_command, run_mfa_command},
    config::{self, Settings},
    startup::Application,
};
use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Load `.env` before clap reads the environment; real variables win.
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    // The server runs inside `shared::telemetry::run`, which sets up logs
    // and traces first and sends the last spans once it is done.
    let telemetry = cli.telemetry.clone();
    shared::telemetry::run("cloakroom-auth-api", &telemetry, run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        None | Some(Command::Serve) => serve(cli.database_url, &cli.serve).await,
        Some(command) => {
            let result = match command {
                Command::Mfa(mfa) => match config::mfa_keys(&cli.serve) {
                    Ok(keys) => run_mfa_command(&cli.database_url, &keys, mfa)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                },
                command => match config::password_policy(&cli.serve) {
                    Ok(policy) => run_admin_command(&cli.database_url, policy, command)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                },
            };
            match result {
                Ok(out) => {
                    println!("{out}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

async fn serve(database_url: String, args: &auth_api::cli::ServeArgs) -> ExitCode {
    let settings = match Settings::from_args(database_url, args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "could not start");
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let host = args.addr.rsplit_once(':').map_or(args.addr.as_str(), |(h, _)| h);
    // The metrics line first: whoever waits for the listening line has both.
    match app.metrics_port() {
        Some(port) => {
            let addr = args.metrics_addr.trim();
            let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
            tracing::info!("auth-api metrics served at http://{host}:{port}/metrics");
        }
        None => tracing::info!("auth-api serves no metrics (METRICS_ADDR is off)"),
    }
    tracing::info!("auth-api listening on http://{host}:{}", app.port());
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    }
}
