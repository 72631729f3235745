//! `bfl-sim`: the fake BFL API server.

use clap::Parser;

/// A faithful fake Black Forest Labs API server.
#[derive(Debug, Parser)]
#[command(name = "bfl-sim", version, about)]
struct Cli {
    #[command(flatten)]
    sim: bfl_sim::cli::SimArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match bfl_sim::cli::run(Cli::parse().sim).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bfl-sim: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
