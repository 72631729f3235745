//! Schedule-only comparison of every preset, `learned` and the oracle on the S1 distributions.
//!
//! `cargo run --release -p bfl-core --example strategy_lab -- [JOBS] [SEED] [progress|exact] [censored]`
//! (`progress`: coarse, noisy reports as bfl-sim makes them; `exact`: the true fraction;
//! `censored`: no server end times, only the poll brackets to learn from)
//!
//! For each preset it prints its (polls/job, mean lag), the oracle's lag at those polls, and
//! `learned` set to 97 % of those polls (`learned:polls=0.97·P`, a margin for sampling noise), with its ratio to the oracle and
//! whether it is Pareto-better than the preset.

use bfl_core::dist::DurationDist;
use bfl_core::strategy::eval::{evaluate, EvalConfig};
use bfl_core::strategy::oracle::Grid;
use bfl_core::strategy::{preset, Learned, PRESET_NAMES};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let jobs = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let seed = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    let progress = args.iter().any(|a| a == "progress" || a == "exact");
    let exact = args.iter().any(|a| a == "exact");
    let censored = args.iter().any(|a| a == "censored");
    for (median, sigma) in [(6.0, 0.5), (20.0, 0.8), (2.0, 0.3)] {
        let dist = DurationDist::LogNormal { median, sigma };
        let grid = Grid::new(&dist, 4000);
        let mut cfg = EvalConfig::new(dist.clone(), jobs, seed);
        cfg.progress = progress;
        cfg.server_times = !censored;
        if exact {
            cfg.progress_noise = bfl_core::strategy::eval::ProgressNoise::EXACT;
        }
        println!(
            "\n== {dist}  jobs={jobs} warmup={} seed={seed} progress={progress}",
            cfg.warmup
        );
        println!(
            "{:<22} {:>8} {:>9} {:>9} | {:>8} {:>9} {:>7} {:>6}",
            "strategy", "polls", "lag_s", "oracle_s", "L.polls", "L.lag_s", "L/orc", "pareto"
        );
        let names = PRESET_NAMES.iter().filter(|n| !n.starts_with("learned"));
        for name in names {
            let Some(f) = preset(name) else { continue };
            let r = evaluate(&*f, &cfg);
            let l = evaluate(&Learned::with_target_polls(0.97 * r.polls_per_job), &cfg);
            let orc = grid.lag_at_polls(l.polls_per_job);
            let pareto = l.polls_per_job <= r.polls_per_job && l.lag.mean <= r.lag.mean;
            println!(
                "{:<22} {:>8.3} {:>9.3} {:>9.3} | {:>8.3} {:>9.3} {:>7.3} {:>6}",
                r.strategy,
                r.polls_per_job,
                r.lag.mean,
                grid.lag_at_polls(r.polls_per_job),
                l.polls_per_job,
                l.lag.mean,
                l.lag.mean / orc,
                pareto
            );
        }
        let l = evaluate(&Learned::new(), &cfg);
        println!(
            "{:<22} {:>8.3} {:>9.3} {:>9.3}",
            l.strategy,
            l.polls_per_job,
            l.lag.mean,
            grid.lag_at_polls(l.polls_per_job)
        );
    }
}
