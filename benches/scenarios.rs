//! Strategies under load: each benchmark is one (scenario × strategy) run of the real client
//! (limiter, machine, strategy) against the simulator in virtual time, and what criterion
//! measures is the *simulated* figure — the batch's makespan, or its mean detection lag — via
//! `iter_custom`, one seed per iteration (the same seeds in every run, so two runs of the bench
//! differ only by the code). Criterion's statistics, HTML report and `--save-baseline` /
//! `--baseline` comparisons then apply to the domain metric: "time" in its output is simulated
//! seconds. The CPU cost of a run is a separate group, measured the usual way.
//!
//! `cargo bench --bench scenarios` (a filter narrows it: `cargo bench --bench scenarios -- makespan/known`)
//!
//! Scenarios are S2 bursts (BENCHMARKS.md): 500 jobs at t = 0 against a key limit of 24,
//! lognormal(6 s, 0.5) — the limit known, unknown (the client told 64), or dropping to 12 at
//! 30 s. Add a scenario by adding a [`Case`].

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use bfl_core::{strategy, GenerationRequest, Job};
use bfl_sim::{SimConfig, VirtualSim};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use futures_util::StreamExt;
use std::time::Duration;

const JOBS: usize = 500;
/// Seeds (iterations) per benchmark.
const SAMPLES: usize = 10;
const STRATEGIES: &[&str] = &["learned", "learned:lambda=0.1", "fixed-500ms", "fixed-2s"];

/// One scenario: the simulator's configuration and what the client is told.
struct Case {
    name: &'static str,
    /// The simulator's configuration for a seed.
    config: fn(u64) -> SimConfig,
    /// The active-task limit the client is told (`None`: the documented one).
    max_active: Option<usize>,
    jobs: usize,
}

fn burst(seed: u64) -> SimConfig {
    let mut c = SimConfig::from_json(
        r#"{"durations": {"*": "lognormal:6,0.5"}, "record_requests": false}"#,
    )
    .unwrap();
    c.seed = seed;
    c
}

fn dropping(seed: u64) -> SimConfig {
    let mut c = burst(seed);
    c.limits.schedule = vec![(30.0, 12)];
    c
}

const CASES: &[Case] = &[
    Case {
        name: "s2-known",
        config: burst,
        max_active: None,
        jobs: JOBS,
    },
    Case {
        name: "s2-unknown",
        config: burst,
        max_active: Some(64),
        jobs: JOBS,
    },
    Case {
        name: "s2-dropping",
        config: dropping,
        max_active: None,
        jobs: JOBS,
    },
];

/// What one run gives, from the simulator's ground truth.
#[derive(Debug, Clone, Copy)]
struct Run {
    makespan_s: f64,
    mean_lag_s: f64,
    polls_per_job: f64,
    rate_limited: u64,
    lost: usize,
}

fn run(case: &Case, strategy_name: &str, seed: u64) -> Run {
    let rt = VirtualSim::tokio_runtime().unwrap();
    rt.block_on(async {
        let sim = VirtualSim::new((case.config)(seed));
        let mut builder = sim
            .client_builder("bfl_bench")
            .seed(seed)
            .strategy(strategy::preset(strategy_name).expect("a preset"));
        if let Some(n) = case.max_active {
            builder = builder.max_active(n);
        }
        let client = builder.build().unwrap();
        let jobs = (0..case.jobs)
            .map(|i| Job::generate(GenerationRequest::new("flux-2-pro", format!("job {i}"))));
        let lost = client
            .batch(jobs)
            .filter(|item| std::future::ready(item.outcome.result.is_err()))
            .count()
            .await;
        let stats = sim.stats();
        let lags: Vec<f64> = stats
            .tasks
            .iter()
            .filter_map(|t| t.detection_lag())
            .collect();
        Run {
            makespan_s: stats
                .tasks
                .iter()
                .filter_map(|t| t.downloaded_at)
                .fold(0.0, f64::max),
            mean_lag_s: lags.iter().sum::<f64>() / lags.len().max(1) as f64,
            polls_per_job: stats.counters.polls as f64 / case.jobs as f64,
            rate_limited: stats.counters.rate_limited,
            lost,
        }
    })
}

/// A benchmark group whose "time" is a simulated figure of each run, one seed per iteration.
fn simulated(c: &mut Criterion, group: &str, metric: fn(&Run) -> f64) {
    let mut g = c.benchmark_group(group);
    g.sample_size(SAMPLES)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_nanos(1))
        .measurement_time(Duration::from_nanos(1));
    for case in CASES {
        for &name in STRATEGIES {
            // Criterion calls the routine once per sample: the seed runs on across them.
            let mut seed = 0u64;
            g.bench_function(BenchmarkId::new(case.name, name), |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            seed += 1;
                            Duration::from_secs_f64(metric(&run(case, name, seed)))
                        })
                        .sum()
                })
            });
        }
    }
    g.finish();
}

/// The figures criterion does not show (polls, 429s, lost jobs), for seed 1.
fn table() {
    println!(
        "\n{:<12} {:<20} {:>10} {:>8} {:>9} {:>6} {:>5}   ({JOBS} jobs, seed 1)",
        "scenario", "strategy", "makespan_s", "lag_s", "polls/job", "429s", "lost"
    );
    for case in CASES {
        for &name in STRATEGIES {
            let r = run(case, name, 1);
            println!(
                "{:<12} {:<20} {:>10.1} {:>8.3} {:>9.2} {:>6} {:>5}",
                case.name,
                name,
                r.makespan_s,
                r.mean_lag_s,
                r.polls_per_job,
                r.rate_limited,
                r.lost
            );
        }
    }
}

fn makespan(c: &mut Criterion) {
    table();
    simulated(c, "makespan", |r| r.makespan_s);
}

fn mean_lag(c: &mut Criterion) {
    simulated(c, "mean_lag", |r| r.mean_lag_s);
}

/// CPU cost of one run (wall time on this machine), the usual criterion measurement.
fn cpu(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpu_per_run");
    g.sample_size(10);
    let case = &CASES[0];
    for &name in STRATEGIES {
        g.bench_function(BenchmarkId::new(case.name, name), |b| {
            b.iter(|| run(case, name, 1))
        });
    }
    g.finish();
}

criterion_group!(benches, makespan, mean_lag, cpu);
criterion_main!(benches);
