//! Strategies under load: each benchmark is one (scenario × strategy) run of the real client
//! (limiter, machine, strategy) against the simulator in virtual time, and what criterion
//! measures is the *simulated* figure — the makespan, the mean detection lag, or the 99th
//! percentile of a job's time from arrival to its image (groups `makespan`, `mean_lag`, `ttr_p99`) — via
//! `iter_custom`, one seed per iteration (the same seeds in every run, so two runs of the bench
//! differ only by the code). Criterion's statistics, HTML report and `--save-baseline` /
//! `--baseline` comparisons then apply to the domain metric: "time" in its output is simulated
//! seconds. Runs are deterministic, so each (scenario × strategy × seed) is simulated once and
//! its figures shared by the three groups and the seed-1 table. The CPU cost of a run is a
//! separate group, measured the usual way.
//!
//! `cargo bench --bench scenarios` (a filter narrows it: `cargo bench --bench scenarios -- makespan/s3`)
//!
//! Scenarios (BENCHMARKS.md), 500 measured jobs each, lognormal(6 s, 0.5), key limit 24, the
//! server reporting progress:
//! - S2 bursts: every job at t = 0 through one client — the limit known, unknown (the client
//!   told 64), or dropping to 12 at 30 s;
//! - S3 open loop (`s3-rho-0.9`, `s3-rho-1.2`): Poisson arrivals at 0.9 and 1.2 of the key's
//!   capacity through one client;
//! - S4 shared key (`s4-shared-4`, `s4-shared-16`): 4 or 16 independent clients, each with its
//!   own limiter, splitting the jobs on one key.
//!
//! S3 and S4 run as `bfl compare --progress on` does (bfl-sim's scenario registry, a 200-job
//! warm-up first, figures of the measured jobs only). Add a scenario by adding a [`Case`].

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use bfl::compare::{CompareArgs, OnOff};
use bfl_core::stats::Spread;
use bfl_core::strategy;
use bfl_sim::{SimConfig, VirtualSim};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

const JOBS: usize = 500;
/// Seeds (iterations) per benchmark.
const SAMPLES: usize = 10;
const STRATEGIES: &[&str] = &["learned", "learned:lambda=0.1", "fixed-500ms", "fixed-2s"];

/// One scenario: how its jobs reach the server.
struct Case {
    name: &'static str,
    drive: Drive,
}

enum Drive {
    /// Every job at once through one client (S2).
    Batch {
        /// The simulator's configuration for a seed.
        config: fn(u64) -> SimConfig,
        /// The active-task limit the client is told (`None`: the documented one).
        max_active: Option<usize>,
    },
    /// A scenario of bfl-sim's registry, run as `bfl compare` runs it (S3, S4).
    Registry,
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
        drive: Drive::Batch {
            config: burst,
            max_active: None,
        },
    },
    Case {
        name: "s2-unknown",
        drive: Drive::Batch {
            config: burst,
            max_active: Some(64),
        },
    },
    Case {
        name: "s2-dropping",
        drive: Drive::Batch {
            config: dropping,
            max_active: None,
        },
    },
    Case {
        name: "s3-rho-0.9",
        drive: Drive::Registry,
    },
    Case {
        name: "s3-rho-1.2",
        drive: Drive::Registry,
    },
    Case {
        name: "s4-shared-4",
        drive: Drive::Registry,
    },
    Case {
        name: "s4-shared-16",
        drive: Drive::Registry,
    },
];

/// What one run gives, from the simulator's ground truth.
#[derive(Debug, Clone, Copy)]
struct Run {
    makespan_s: f64,
    mean_lag_s: f64,
    /// 99th percentile of a job's time from its arrival to its image on hand.
    ttr_p99_s: f64,
    polls_per_job: f64,
    rate_limited: u64,
    lost: usize,
}

fn run(case: &Case, strategy_name: &str, seed: u64) -> Run {
    match case.drive {
        Drive::Batch { config, max_active } => batch(config(seed), max_active, strategy_name, seed),
        Drive::Registry => registry(case.name, strategy_name, seed),
    }
}

/// The runs simulated so far, by (case, strategy, seed): a run is deterministic, so the three
/// simulated groups and the table share one run of each (the CPU group measures [`run`] itself).
static RUNS: Mutex<BTreeMap<(&str, &str, u64), Run>> = Mutex::new(BTreeMap::new());

/// [`run`], simulated once per (case, strategy, seed).
fn memo_run(case: &'static Case, strategy_name: &'static str, seed: u64) -> Run {
    let key = (case.name, strategy_name, seed);
    let known = RUNS.lock().unwrap().get(&key).copied();
    known.unwrap_or_else(|| {
        let r = run(case, strategy_name, seed);
        RUNS.lock().unwrap().insert(key, r);
        r
    })
}

/// One batch of [`JOBS`] through one client.
fn batch(config: SimConfig, max_active: Option<usize>, strategy_name: &str, seed: u64) -> Run {
    let rt = VirtualSim::tokio_runtime().unwrap();
    rt.block_on(async {
        let sim = VirtualSim::new(config);
        let mut builder = sim
            .client_builder("bfl_bench")
            .seed(seed)
            .strategy(strategy::preset(strategy_name).expect("a preset"));
        if let Some(n) = max_active {
            builder = builder.max_active(n);
        }
        let client = builder.build().unwrap();
        let lost = bfl_sim::vtime::burst(&client, JOBS).await;
        let stats = sim.stats();
        let lag = stats.summary().detection_lag;
        // Every job arrived at 0: its time to result is when its image was on hand.
        let done = Spread::of(stats.tasks.iter().filter_map(|t| t.downloaded_at).collect());
        Run {
            makespan_s: done.max,
            mean_lag_s: lag.mean,
            ttr_p99_s: done.p99,
            polls_per_job: stats.counters.polls as f64 / JOBS as f64,
            rate_limited: stats.counters.rate_limited,
            lost,
        }
    })
}

/// The registry's scenario `name` as `bfl compare --progress on` runs it, [`JOBS`] measured.
fn registry(name: &str, strategy_name: &str, seed: u64) -> Run {
    let args = CompareArgs {
        scenario: name.into(),
        jobs: JOBS,
        seed,
        progress: OnOff::On,
        strategies: vec![strategy_name.into()],
        ..CompareArgs::default()
    };
    let report = bfl::compare::run(&args).unwrap();
    let r = &report.results[0];
    Run {
        makespan_s: r.makespan_s,
        mean_lag_s: r.lag.mean,
        ttr_p99_s: r.p99_time_to_result_s,
        polls_per_job: r.polls_per_job,
        rate_limited: (r.rate_limited_per_job * JOBS as f64).round() as u64,
        lost: r.lost + r.expired,
    }
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
                            Duration::from_secs_f64(metric(&memo_run(case, name, seed)))
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
        "\n{:<13} {:<20} {:>10} {:>8} {:>9} {:>9} {:>6} {:>5}   ({JOBS} jobs, seed 1)",
        "scenario", "strategy", "makespan_s", "lag_s", "ttr_p99_s", "polls/job", "429s", "lost"
    );
    for case in CASES {
        for &name in STRATEGIES {
            let r = memo_run(case, name, 1);
            println!(
                "{:<13} {:<20} {:>10.1} {:>8.3} {:>9.1} {:>9.2} {:>6} {:>5}",
                case.name,
                name,
                r.makespan_s,
                r.mean_lag_s,
                r.ttr_p99_s,
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

fn time_to_result(c: &mut Criterion) {
    simulated(c, "ttr_p99", |r| r.ttr_p99_s);
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

criterion_group!(benches, makespan, mean_lag, time_to_result, cpu);
criterion_main!(benches);
