//! CPU cost per simulated job of each strategy (schedule-only: the strategy's own work, its
//! learning included), with the domain comparison printed beside: polls per job, mean lag, and
//! the oracle's lag at those polls, on S1 lognormal(6 s, 0.5).
//!
//! `cargo bench --bench strategies`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use bfl_core::dist::DurationDist;
use bfl_core::strategy::eval::{evaluate, EvalConfig};
use bfl_core::strategy::oracle::Grid;
use bfl_core::strategy::{preset, PRESET_NAMES};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const WARMUP: usize = 200;
const JOBS: usize = 800;

fn config() -> EvalConfig {
    let mut cfg = EvalConfig::new(
        DurationDist::LogNormal {
            median: 6.0,
            sigma: 0.5,
        },
        JOBS,
        1,
    );
    cfg.warmup = WARMUP;
    cfg
}

fn strategies(c: &mut Criterion) {
    let cfg = config();
    let grid = Grid::new(&cfg.dist, 2000);
    println!(
        "\n{:<22} {:>8} {:>8} {:>9}   (S1 lognormal(6 s, 0.5), {JOBS} jobs after {WARMUP})",
        "strategy", "polls", "lag_s", "oracle_s"
    );
    for name in PRESET_NAMES {
        let r = evaluate(&*preset(name).unwrap(), &cfg);
        println!(
            "{:<22} {:>8.3} {:>8.3} {:>9.3}",
            r.strategy,
            r.polls_per_job,
            r.lag.mean,
            grid.lag_at_polls(r.polls_per_job)
        );
    }
    let mut group = c.benchmark_group("strategy_per_job");
    group.sample_size(10);
    group.throughput(Throughput::Elements((WARMUP + JOBS) as u64));
    for name in PRESET_NAMES {
        group.bench_function(*name, |b| {
            // A fresh factory per iteration: learning is part of the cost.
            b.iter(|| evaluate(&*preset(name).unwrap(), &cfg))
        });
    }
    group.finish();
}

criterion_group!(benches, strategies);
criterion_main!(benches);
