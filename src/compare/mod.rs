//! `bfl compare`: polling strategies side by side on one seeded scenario.
//!
//! Each strategy drives the real [`bfl_core::Client`] (submit, poll, download, through the
//! limiter) against a fresh virtual-time simulator with the same seed, so every strategy meets
//! the same jobs. A warm-up batch runs first (learning strategies learn from it) and is not
//! measured; lag, polls and requests come from the simulator's ground truth, never from the
//! client. The oracle frontier of the scenario's duration distribution is reported beside.
//!
//! ```no_run
//! use clap::Parser;
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     compare: bfl::compare::CompareArgs,
//! }
//! let cli = Cli::parse_from(["bfl", "--scenario", "s1", "--jobs", "1000", "--json"]);
//! let report = bfl::compare::run(&cli.compare).unwrap();
//! println!("{}", report.to_json());
//! ```

mod plot;
mod report;
pub mod scenarios;
pub mod webhooks;
mod workload;

pub use report::{CompareReport, OraclePoint, StrategyResult};
pub use scenarios::Scenario;

use bfl_core::dist::DurationDist;
use bfl_core::stats::Spread;
use bfl_core::strategy::oracle::{lambda_sweep, Grid};
use bfl_core::strategy::{preset, PRESET_NAMES};
use bfl_sim::{Summary, TaskTruth, VirtualSim};
use std::path::PathBuf;

/// The model every job of a comparison uses (the scenario sets the durations of every model).
const MODEL: &str = "flux-2-pro";

/// Whether the simulated server reports `progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    /// Reported (coarse and noisy, as the simulator makes it).
    On,
    /// Not reported.
    Off,
}

/// The arguments of `bfl compare`.
#[derive(Debug, Clone, clap::Args)]
pub struct CompareArgs {
    /// The scenario: any of bfl-sim's (see `--list`: S1–S7, the same names as `bfl sim`).
    #[arg(long, default_value = "s1")]
    pub scenario: String,
    /// Lists the scenarios and exits (the same list as `bfl sim --list-scenarios`).
    #[arg(long)]
    pub list: bool,
    /// Overrides the scenario's durations: a spec such as `lognormal:MEDIAN_S,SIGMA`, `fixed:S`,
    /// `uniform:LO,HI`, `bimodal:P_SLOW,MEDIAN,SIGMA,SLOW_MEDIAN,SLOW_SIGMA` or `samples:S,S,…`
    /// (the simulator's grammar, `bfl_core::dist`).
    #[arg(long, value_name = "DIST")]
    pub duration: Option<DurationDist>,
    /// Jobs measured per strategy.
    #[arg(long, default_value_t = 10_000)]
    pub jobs: usize,
    /// The seed of the simulation (the same for every strategy).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Whether the server reports progress.
    #[arg(long, value_enum, default_value_t = OnOff::Off)]
    pub progress: OnOff,
    /// Strategies to compare (default: every preset, `learned` and `fixed-500ms`);
    /// `learned:polls=X` and `learned:lambda=X` set learned's trade-off.
    #[arg(long, value_delimiter = ',')]
    pub strategies: Vec<String>,
    /// Jobs run first with each strategy and not measured.
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,
    /// Also writes an SVG plot of lag against polls per job, with the oracle frontier.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Adds webhook rows: the simulator delivers outcomes (`ideal`: all, 0.2 s median delay;
    /// `lossy`: 20 % lost, 5 % duplicated, 5 % late, 5 % forged) and the client confirms each
    /// with one poll, polling on the fallback schedule meanwhile.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub webhooks: Vec<webhooks::WebhookProfile>,
    /// The fallback schedule of webhook rows: first poll and interval, seconds.
    #[arg(long, value_name = "FIRST,EVERY", default_value = "12,4", value_parser = webhooks::parse_fallback)]
    pub webhook_fallback: bfl_core::webhook::Fallback,
}

impl Default for CompareArgs {
    fn default() -> Self {
        CompareArgs {
            scenario: "s1".into(),
            list: false,
            duration: None,
            jobs: 10_000,
            seed: 1,
            progress: OnOff::Off,
            strategies: Vec::new(),
            warmup: 200,
            plot: None,
            webhooks: Vec::new(),
            webhook_fallback: bfl_core::webhook::Fallback::default(),
        }
    }
}

/// Why a comparison could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompareError {
    /// No scenario of that name.
    #[error("unknown scenario `{0}` (see --list)")]
    UnknownScenario(String),
    /// No strategy of that name.
    #[error("unknown strategy `{0}`; known: {known}", known = PRESET_NAMES.join(", "))]
    UnknownStrategy(String),
    /// The client could not be built, or the runtime could not start.
    #[error("setup: {0}")]
    Setup(String),
    /// The plot could not be written.
    #[error("{0}")]
    Plot(String),
}

/// Runs the comparison `args` asks for (or lists the scenarios).
pub fn run(args: &CompareArgs) -> Result<CompareReport, CompareError> {
    if args.list {
        return Ok(CompareReport {
            scenario: String::new(),
            seed: args.seed,
            workload: String::new(),
            results: Vec::new(),
            oracle: Vec::new(),
            listing: Some(bfl_sim::scenarios::listing()),
        });
    }
    let scenario = match &args.duration {
        Some(d) => {
            scenarios::from_dist(d).ok_or_else(|| CompareError::UnknownScenario("s1".into()))?
        }
        None => scenarios::by_name(&args.scenario)
            .ok_or_else(|| CompareError::UnknownScenario(args.scenario.clone()))?,
    };
    let names: Vec<String> = if args.strategies.is_empty() {
        PRESET_NAMES.iter().map(|s| (*s).to_owned()).collect()
    } else {
        args.strategies.clone()
    };
    // Resolve every name before running anything.
    for name in &names {
        preset(name).ok_or_else(|| CompareError::UnknownStrategy(name.clone()))?;
    }
    let rt = VirtualSim::tokio_runtime().map_err(|e| CompareError::Setup(e.to_string()))?;
    let mut results = Vec::with_capacity(names.len());
    for name in &names {
        results.push(run_one(&rt, &scenario, name, args, None)?);
    }
    for &profile in &args.webhooks {
        let row = webhooks::WebhookRow {
            profile,
            fallback: args.webhook_fallback,
        };
        results.push(run_one(&rt, &scenario, "learned", args, Some(row))?);
    }
    let oracle = scenario
        .oracle_dist
        .as_ref()
        .map(oracle_frontier)
        .unwrap_or_default();
    let report = CompareReport {
        scenario: scenario.name.clone(),
        seed: args.seed,
        workload: format!("{:?}", scenario.workload),
        results,
        oracle,
        listing: None,
    };
    if let Some(path) = &args.plot {
        plot::write_svg(path, &report).map_err(CompareError::Plot)?;
    }
    Ok(report)
}

/// The oracle frontier over a wide sweep of poll costs.
pub fn oracle_frontier(dist: &DurationDist) -> Vec<OraclePoint> {
    let grid = Grid::new(dist, 2000);
    let scale = dist.mean().max(1e-3);
    grid.frontier(&lambda_sweep(scale * 1e-5, scale * 2.0, 48))
        .into_iter()
        .map(OraclePoint::from)
        .collect()
}

fn run_one(
    rt: &tokio::runtime::Runtime,
    scenario: &Scenario,
    strategy: &str,
    args: &CompareArgs,
    webhook: Option<webhooks::WebhookRow>,
) -> Result<StrategyResult, CompareError> {
    let mut cfg = scenario.sim_config(args.seed, args.progress == OnOff::On);
    if let Some(row) = &webhook {
        row.configure(&mut cfg);
    }
    rt.block_on(async {
        let sim = VirtualSim::new(cfg);
        let router = webhook.map(|row| (row, row.receiver(&sim)));
        let with_webhooks = |b: bfl_core::ClientBuilder| match &router {
            Some((row, router)) => row.apply(router, b),
            None => b,
        };
        let n = scenario.workload.clients();
        let clients = workload::clients(&sim, strategy, n, args.seed, &with_webhooks)?;
        let name = match &webhook {
            Some(row) => row.profile.row_name().to_owned(),
            None => clients[0].strategy().name(),
        };
        workload::warm_up(&sim, &clients, args.warmup).await;
        let (start, before) = sim.with_sim(|s, now| (now, s.counters().clone()));
        let measured = workload::measure(&sim, &clients, scenario, args, start).await;
        let (end, after, tasks) = sim.with_sim(|s, now| {
            let tasks: Vec<TaskTruth> = s
                .tasks(now)
                .into_iter()
                .filter(|t| t.submitted_at >= start)
                .collect();
            (now, s.counters().clone(), tasks)
        });
        let per_job = |n: u64| n as f64 / args.jobs.max(1) as f64;
        let run = Run {
            strategy: name,
            jobs: args.jobs,
            limit: scenario.key_limit(),
            makespan_s: end - start,
            requests_per_job: per_job(after.requests - before.requests),
            rate_limited_per_job: per_job(after.rate_limited - before.rate_limited),
        };
        Ok(summarise(run, &tasks, &measured))
    })
}

/// The figures of a run that are not per task.
struct Run {
    strategy: String,
    jobs: usize,
    limit: usize,
    makespan_s: f64,
    requests_per_job: f64,
    rate_limited_per_job: f64,
}

/// A row from the simulator's [`Summary`] of the measured tasks and the run's own figures
/// (the per-job counts are per *job*: a job whose submit never made a task still counts).
fn summarise(run: Run, tasks: &[TaskTruth], measured: &workload::Measured) -> StrategyResult {
    // The request log is off (`Scenario::sim_config`): requests come from the counters in `run`.
    let summary = Summary::of(tasks, &[], 0);
    let durations = tasks.iter().map(|t| t.finished_at - t.submitted_at);
    let longest = durations.clone().fold(0.0, f64::max);
    let shortest = durations.fold(f64::INFINITY, f64::min);
    // No client can finish sooner: the key's limit bounds the work per second, the longest
    // job bounds a burst, and the last arrival's job has to run after it arrives.
    let bound = longest
        .max(summary.active_task_seconds / run.limit.max(1) as f64)
        .max(measured.last_arrival + shortest.min(longest));
    StrategyResult {
        strategy: run.strategy,
        jobs: run.jobs,
        polls_per_job: summary.polls as f64 / run.jobs.max(1) as f64,
        lag: summary.detection_lag,
        requests_per_job: run.requests_per_job,
        rate_limited_per_job: run.rate_limited_per_job,
        makespan_s: run.makespan_s,
        makespan_lower_bound_s: bound,
        p99_time_to_result_s: Spread::of(measured.time_to_result.clone()).p99,
        expired: summary.expired,
        lost: tasks
            .iter()
            .filter(|t| t.ready_at.is_some() && t.downloaded_at.is_none())
            .count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_comparison_reports_every_strategy_from_ground_truth() {
        let plot = std::env::temp_dir().join(format!("bfl-compare-{}.svg", std::process::id()));
        let args = CompareArgs {
            jobs: 40,
            warmup: 20,
            strategies: vec!["fixed-2s".into(), "learned".into()],
            plot: Some(plot.clone()),
            ..CompareArgs::default()
        };
        let report = run(&args).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.scenario, "s1");
        assert_eq!(report.results.len(), 2);
        let fixed = &report.results[0];
        assert_eq!((fixed.strategy.as_str(), fixed.jobs), ("fixed-2s", 40));
        // Fixed 2 s from t = 0 on lognormal(6 s, 0.5): about 4.9 polls and 1 s of lag.
        assert!((fixed.polls_per_job - 4.9).abs() < 0.8, "{fixed:?}");
        assert!((fixed.lag.mean - 1.0).abs() < 0.3, "{fixed:?}");
        // Submit + polls + download.
        assert!((fixed.requests_per_job - fixed.polls_per_job - 2.0).abs() < 1e-9);
        assert_eq!((fixed.expired, fixed.lost), (0, 0));
        assert!(fixed.makespan_s >= fixed.makespan_lower_bound_s);
        assert!(report.oracle.len() > 10);
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap_or_default();
        for key in [
            "strategy",
            "jobs",
            "polls_per_job",
            "mean_lag_s",
            "p50_lag_s",
            "p99_lag_s",
            "requests_per_job",
            "rate_limited_per_job",
            "makespan_s",
            "makespan_lower_bound_s",
            "expired",
            "lost",
        ] {
            assert!(json["results"][1].get(key).is_some(), "{key}");
        }
        assert!(json["oracle"][0].get("lambda").is_some());
        assert_eq!(json["seed"], 1);
        let svg = std::fs::read_to_string(&plot).unwrap_or_default();
        let _ = std::fs::remove_file(&plot);
        assert!(
            svg.starts_with("<svg") && svg.contains("learned") && svg.contains("oracle frontier")
        );
    }

    #[test]
    fn unknown_names_are_errors_and_list_lists() {
        let bad = CompareArgs {
            strategies: vec!["nope".into()],
            ..CompareArgs::default()
        };
        assert!(matches!(run(&bad), Err(CompareError::UnknownStrategy(_))));
        let bad = CompareArgs {
            scenario: "nope".into(),
            ..CompareArgs::default()
        };
        assert!(matches!(run(&bad), Err(CompareError::UnknownScenario(_))));
        let list = CompareArgs {
            list: true,
            ..CompareArgs::default()
        };
        let report = run(&list).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.table(), bfl_sim::scenarios::listing());
    }
}
