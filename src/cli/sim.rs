//! `bfl sim`: the simulator in the foreground, with the CLI's exit codes and `--json`.

use super::output::{emit, fail};
use super::{Global, EXIT_CONFIG, EXIT_USAGE};
use bfl_sim::cli::{CliError, SimArgs};

/// Runs the simulator until Ctrl-C (or lists the built-in scenarios).
pub(super) async fn run(global: &Global, args: SimArgs) -> u8 {
    if !global.json {
        return match bfl_sim::cli::run(args.clone()).await {
            Ok(()) => 0,
            Err(e) => failed(global, &args, &e),
        };
    }
    if args.list_scenarios {
        let list: Vec<_> = bfl_sim::scenarios::BUILTIN
            .iter()
            .map(|s| serde_json::json!({"name": s.name, "description": s.description}))
            .collect();
        emit(serde_json::Value::Array(list));
        return 0;
    }
    match serve_json(&args).await {
        Ok(()) => 0,
        Err(e) => failed(global, &args, &e),
    }
}

/// The simulator's hosts as one JSON line, then serving until Ctrl-C.
async fn serve_json(args: &SimArgs) -> Result<(), CliError> {
    let config = args.config()?;
    let same_origin = config.delivery == bfl_sim::Delivery::SameOrigin;
    let server = bfl_sim::SimServer::start_with(config, args.server_options()).await?;
    let delivery = if same_origin {
        server.base_url()
    } else {
        format!("http://{}", server.delivery_authority())
    };
    emit(serde_json::json!({
        "base_url": server.base_url(),
        "delivery": delivery,
        "regional": format!("http://{}", server.regional_authority()),
        "stats": format!("{}/__sim/stats", server.base_url()),
        "config": format!("{}/__sim/config", server.base_url()),
    }));
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}

/// Bad flags or scenario → 2; a port that cannot be bound → 3, naming the port.
fn failed(global: &Global, args: &SimArgs, e: &CliError) -> u8 {
    match e {
        CliError::Io(io) if io.kind() == std::io::ErrorKind::AddrInUse => {
            let msg = format!(
                "port {} is already in use: pick another with --port (0 for any free one)",
                args.port
            );
            fail(global, EXIT_CONFIG, &msg)
        }
        CliError::Io(io) => fail(global, EXIT_CONFIG, &io.to_string()),
        other => fail(global, EXIT_USAGE, &other.to_string()),
    }
}
