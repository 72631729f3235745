//! The learned strategy's targets, checked on the real client against the virtual-time sim.
//!
//! `cargo run --release --example compare_targets -- [JOBS] [SEED]`
//!
//! For each S1 scenario (progress off): every preset's (polls/job, mean lag) and the oracle's
//! lag at those polls; `learned:polls=0.97·P` beside it, its ratio to the oracle at its own
//! polls, and whether it is Pareto-better than the preset. Then progress on: `learned` against
//! the open-loop oracle at its polls.

use bfl::compare::{run, CompareArgs, CompareReport, OnOff};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let jobs = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let seed = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    let compare = |scenario: &str, strategies: Vec<String>, progress: OnOff| -> CompareReport {
        let args = CompareArgs {
            scenario: scenario.into(),
            jobs,
            seed,
            progress,
            strategies,
            ..CompareArgs::default()
        };
        run(&args).unwrap_or_else(|e| panic!("{scenario}: {e}"))
    };
    let fmt = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
    let mut all_met = true;
    for scenario in ["s1", "s1-20s", "s1-2s"] {
        let base = compare(scenario, Vec::new(), OnOff::Off);
        let presets: Vec<_> = base
            .results
            .iter()
            .filter(|r| !r.strategy.starts_with("learned"))
            .collect();
        let settings = presets
            .iter()
            .map(|p| format!("learned:polls={:.4}", 0.97 * p.polls_per_job))
            .collect();
        let learned = compare(scenario, settings, OnOff::Off);
        println!("\n== {scenario}  jobs={jobs} seed={seed} progress=off");
        println!(
            "{:<20} {:>7} {:>7} {:>7} | {:<24} {:>7} {:>7} {:>7} {:>6} {:>6}",
            "strategy",
            "polls",
            "lag",
            "oracle",
            "learned",
            "polls",
            "lag",
            "oracle",
            "L/orc",
            "pareto"
        );
        for (p, l) in presets.iter().zip(&learned.results) {
            let oracle = base.oracle_lag_at(l.polls_per_job);
            let ratio = oracle.map(|o| l.lag.mean / o);
            let pareto = l.polls_per_job <= p.polls_per_job && l.lag.mean <= p.lag.mean;
            all_met &= pareto && ratio.is_none_or(|r| r <= 1.15);
            println!(
                "{:<20} {:>7.3} {:>7.3} {:>7} | {:<24} {:>7.3} {:>7.3} {:>7} {:>6} {:>6}",
                p.strategy,
                p.polls_per_job,
                p.lag.mean,
                fmt(base.oracle_lag_at(p.polls_per_job)),
                l.strategy,
                l.polls_per_job,
                l.lag.mean,
                fmt(oracle),
                fmt(ratio),
                pareto
            );
        }
        for r in base.results.iter().filter(|r| r.strategy == "learned") {
            let oracle = base.oracle_lag_at(r.polls_per_job);
            println!(
                "{:<20} {:>7.3} {:>7.3} {:>7}   (the default; L/orc {})",
                r.strategy,
                r.polls_per_job,
                r.lag.mean,
                fmt(oracle),
                fmt(oracle.map(|o| r.lag.mean / o))
            );
        }
        let on = compare(scenario, vec!["learned".into()], OnOff::On);
        for r in &on.results {
            let oracle = on.oracle_lag_at(r.polls_per_job);
            all_met &= oracle.is_some_and(|o| r.lag.mean < o);
            println!(
                "{:<20} {:>7.3} {:>7.3} {:>7}   (progress on; open-loop oracle at its polls)",
                r.strategy,
                r.polls_per_job,
                r.lag.mean,
                fmt(oracle)
            );
        }
    }
    println!("\nall targets met: {all_met}");
}
