//! The `bfl` command line: flags (clap), and one module per command.
//!
//! Exit codes: `0` success; `1` a task or some jobs of a batch failed; `2` bad flags or an
//! unreadable input file; `3` no key or an unusable configuration; `4` the API refused the key or
//! the credits ran out (401/403/402).

mod batch;
mod compare;
mod connect;
mod credits;
mod generate;
mod output;
mod resume;
mod sim;
mod single;
mod webhooks;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Exit code: a task or some jobs failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad flags or input.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: no key or an unusable configuration.
pub const EXIT_CONFIG: u8 = 3;
/// Exit code: the API refused the key, or no credits are left.
pub const EXIT_REFUSED: u8 = 4;
/// Exit code: interrupted (Ctrl-C), as shells report SIGINT.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Ctrl-C presses, as they come. Listening replaces the default "die at once" (which would drop
/// paid tasks on the floor), so every command that listens must act on them.
pub fn interrupts() -> tokio::sync::mpsc::UnboundedReceiver<()> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if tx.send(()).is_err() {
                break;
            }
        }
    });
    rx
}

/// Images from the Black Forest Labs API: polled well, batched under the key's limit, never lost.
#[derive(Debug, Parser)]
#[command(name = "bfl", version, propagate_version = true)]
#[command(
    after_help = "Exit codes: 0 success · 1 a task or some jobs failed · 2 bad flags or \
input · 3 no key or bad configuration · 4 key refused or no credits left · 130 interrupted\n\n\
The key is read from BFL_API_KEY (never from a flag, so it stays out of shell history)."
)]
pub struct Cli {
    /// Settings every command shares.
    #[command(flatten, next_help_heading = "Global options")]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Settings every command shares.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Start an embedded simulator on 127.0.0.1 and use it (no key needed).
    #[arg(long, global = true)]
    pub sim: bool,
    /// The embedded simulator's scenario (JSON of `bfl_sim::SimConfig`); implies --sim.
    #[arg(long, global = true, value_name = "FILE")]
    pub sim_scenario: Option<PathBuf>,
    /// The API base URL (default: $BFL_BASE_URL, else the region's).
    #[arg(long, global = true, value_name = "URL")]
    pub base_url: Option<String>,
    /// The API region: global, eu or us (default: $BFL_REGION, else global).
    #[arg(long, global = true, value_parser = ["global", "eu", "us"])]
    pub region: Option<String>,
    /// Also send the key to this HOST:PORT, e.g. the regional polling host `bfl sim
    /// --polling-host regional` prints (repeatable; the key goes to no other host).
    #[arg(long, global = true, value_name = "HOST:PORT")]
    pub key_host: Vec<String>,
    /// Machine-readable output (JSON on stdout).
    #[arg(long, global = true)]
    pub json: bool,
    /// More logging (-v info, -vv debug, -vvv trace), on stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate one image.
    Generate(generate::GenerateArgs),
    /// Turn a file of prompts into images (journaled; resumable after a crash).
    Batch(batch::BatchArgs),
    /// Pick up a task submitted earlier and download its image.
    Resume(resume::ResumeArgs),
    /// Run the simulator (the fake BFL server) in the foreground.
    Sim(Box<bfl_sim::cli::SimArgs>),
    /// Show the key's credit balance.
    Credits,
    /// Polling strategies side by side on one seeded scenario, in virtual time (with --json:
    /// machine-readable), against the oracle frontier.
    Compare(Box<crate::compare::CompareArgs>),
}

/// Settings of the polling engine shared by `generate` and `batch`.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// The polling strategy.
    #[arg(long, value_parser = parse_strategy, default_value = "default", help = strategy_help())]
    pub strategy: String,
    /// The most one task may take to be accepted, and again from acceptance to its image on disk,
    /// in seconds (a paid task is never cut short by the time its submit took).
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "600")]
    pub timeout: Duration,
    /// The seed of the client's own random choices (jitter), for reproducible schedules.
    #[arg(long, default_value_t = 0)]
    pub client_seed: u64,
    /// Caps the requests sent with the key at N a second across all tasks (submits and polls;
    /// image downloads do not count). Submits go ahead of polls, polls in the order they fell
    /// due; nothing is dropped, only delayed. Off by default; e.g. 48 (2 a second per slot of a
    /// 24-task key).
    #[arg(long, value_name = "N", value_parser = parse_rps)]
    pub max_rps: Option<f64>,
    /// Webhooks.
    #[command(flatten)]
    pub webhooks: webhooks::WebhookArgs,
}

fn strategy_help() -> String {
    format!(
        "The polling strategy: default (learned, contention-aware), or one of {}, \
         learned:lambda=X (a poll priced at X seconds of lag)",
        bfl_core::strategy::PRESET_NAMES.join(", ")
    )
}

fn parse_strategy(name: &str) -> Result<String, String> {
    if name == "default" || bfl_core::strategy::preset(name).is_some() {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "unknown strategy {name:?}; choose one of: default, {}",
            bfl_core::strategy::PRESET_NAMES.join(", ")
        ))
    }
}

fn parse_rps(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.1..=100_000.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "{s:?} is not a request rate: give requests a second, from 0.1 to 100000"
        )),
    }
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!(
            "{s:?} is not a timeout: give seconds, more than 0 and at most 86400 (a day)"
        )),
    }
}

/// Runs a parsed command line to its exit code.
pub async fn run(cli: Cli) -> ExitCode {
    if let Some(message) = meaningless_flag(&cli) {
        return ExitCode::from(output::fail(&cli.global, EXIT_USAGE, &message));
    }
    let code = match cli.command {
        Command::Sim(args) => sim::run(&cli.global, *args).await,
        Command::Credits => credits::run(&cli.global).await,
        Command::Generate(args) => generate::run(&cli.global, &args).await,
        Command::Batch(args) => batch::run(&cli.global, &args).await,
        Command::Resume(args) => resume::run(&cli.global, &args).await,
        Command::Compare(args) => compare::run(&cli.global, *args).await,
    };
    ExitCode::from(code)
}

/// A global flag given to a command it means nothing to (it would be silently ignored).
fn meaningless_flag(cli: &Cli) -> Option<String> {
    let name = match cli.command {
        Command::Sim(_) => "sim",
        Command::Compare(_) => "compare",
        _ => return None,
    };
    let g = &cli.global;
    let given = [
        ("--sim", g.sim),
        ("--sim-scenario", g.sim_scenario.is_some()),
        ("--base-url", g.base_url.is_some()),
        ("--region", g.region.is_some()),
        ("--key-host", !g.key_host.is_empty()),
    ];
    let flag = given.iter().find(|(_, on)| *on)?.0;
    Some(format!(
        "{flag} means nothing to `bfl {name}`: it runs its own simulator and talks to no API"
    ))
}
