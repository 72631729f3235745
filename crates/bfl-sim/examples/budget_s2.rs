//! S2 (500 jobs at t = 0, key limit 24, lognormal(6 s, 0.5), the default strategy) with and
//! without a request budget, from the simulator's ground truth: makespan, mean detection lag,
//! requests per job that carried the key, 429s, the busiest second, and the longest wait for a
//! grant. Each budget is run twice: as it is (submits ahead of polls, polls in the order they fell
//! due) and first come first served (`fifo`), to show what the head start of submits buys.
//!
//! `cargo run --release -p bfl-sim --example budget_s2 -- [SEEDS] [JOBS] [MAX_ACTIVE]` (defaults:
//! 3 seeds, 500 jobs, the client told the documented limit; `… 3 500 64`: told 64, so the limit
//! is learned from 429s)

use bfl_core::budget::BudgetConfig;
use bfl_core::{GenerationRequest, Job};
use bfl_sim::{SimConfig, VirtualSim};
use futures_util::StreamExt;
use std::time::Duration;

const LIMIT: f64 = 24.0;

/// One run's figures.
#[derive(Debug, Default, Clone, Copy)]
struct Figures {
    makespan: f64,
    lag: f64,
    keyed_per_job: f64,
    rate_limited: f64,
    peak_rps: f64,
    longest_wait: f64,
    failed: f64,
}

impl Figures {
    fn add(self, o: Figures) -> Figures {
        Figures {
            makespan: self.makespan + o.makespan,
            lag: self.lag + o.lag,
            keyed_per_job: self.keyed_per_job + o.keyed_per_job,
            rate_limited: self.rate_limited + o.rate_limited,
            peak_rps: self.peak_rps.max(o.peak_rps),
            longest_wait: self.longest_wait.max(o.longest_wait),
            failed: self.failed + o.failed,
        }
    }
}

fn run(jobs: usize, seed: u64, max_active: Option<usize>, budget: Option<BudgetConfig>) -> Figures {
    let rt = VirtualSim::tokio_runtime().unwrap_or_else(|e| panic!("runtime: {e}"));
    rt.block_on(async {
        let mut config = SimConfig::from_json(r#"{"durations": {"*": "lognormal:6,0.5"}}"#)
            .unwrap_or_else(|e| panic!("config: {e}"));
        config.seed = seed;
        config.request_log_cap = 10_000_000;
        let sim = VirtualSim::new(config);
        let mut builder = sim.client_builder("bfl_budget").seed(seed);
        if let Some(b) = budget {
            builder = builder.request_budget(b);
        }
        if let Some(n) = max_active {
            builder = builder.max_active(n);
        }
        let client = builder.build().unwrap_or_else(|e| panic!("client: {e}"));
        let batch =
            (0..jobs).map(|i| Job::generate(GenerationRequest::new("flux-2-pro", format!("p{i}"))));
        let failed = client
            .batch(batch)
            .filter(|item| std::future::ready(item.outcome.result.is_err()))
            .count()
            .await;
        let stats = sim.stats();
        let keyed = stats.keyed_summary();
        let downloaded = stats
            .tasks
            .iter()
            .filter(|t| t.downloaded_at.is_some())
            .count();
        Figures {
            makespan: keyed.makespan,
            lag: keyed.detection_lag.mean,
            keyed_per_job: keyed.requests_per_task,
            rate_limited: stats.counters.rate_limited as f64,
            peak_rps: keyed.peak_rps as f64,
            longest_wait: client
                .request_budget()
                .map_or(0.0, |b| b.stats().longest_wait.as_secs_f64()),
            failed: (failed + jobs - downloaded) as f64,
        }
    })
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seeds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let jobs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);
    let max_active: Option<usize> = args.next().and_then(|a| a.parse().ok());
    let mut cases: Vec<(String, Option<BudgetConfig>)> = vec![("no budget".into(), None)];
    for per_slot in [2.0, 1.0, 0.5] {
        let rate = per_slot * LIMIT;
        cases.push((
            format!("{per_slot}/slot ({rate} rps)"),
            Some(BudgetConfig::per_second(rate)),
        ));
        cases.push((
            format!("{per_slot}/slot fifo"),
            Some(BudgetConfig::per_second(rate).head_start(Duration::ZERO)),
        ));
    }
    let told = max_active.map_or("24, as documented".to_owned(), |n| n.to_string());
    println!("S2: {jobs} jobs at t = 0, key limit 24 (the client told {told}), lognormal(6 s, 0.5), default strategy; mean over seeds 1..={seeds} (peak, longest wait: max)");
    println!(
        "{:<22} {:>10} {:>8} {:>10} {:>6} {:>9} {:>10} {:>5}",
        "budget", "makespan_s", "lag_s", "keyed/job", "429s", "peak_rps", "max_wait_s", "lost"
    );
    for (name, budget) in &cases {
        let per_seed: Vec<Figures> = (1..=seeds)
            .map(|s| run(jobs, s, max_active, *budget))
            .collect();
        for (s, f) in per_seed.iter().enumerate() {
            eprintln!("  {name} seed {}: {f:?}", s + 1);
        }
        let sum = per_seed.iter().fold(Figures::default(), |a, f| a.add(*f));
        let n = seeds.max(1) as f64;
        println!(
            "{:<22} {:>10.1} {:>8.3} {:>10.2} {:>6.1} {:>9.0} {:>10.2} {:>5.0}",
            name,
            sum.makespan / n,
            sum.lag / n,
            sum.keyed_per_job / n,
            sum.rate_limited / n,
            sum.peak_rps,
            sum.longest_wait,
            sum.failed
        );
    }
}
