#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The client's request budget, judged by the server: the request log (requests that carried the
//! key) in every one-second window, every job's image downloaded, the 429s.

use bfl_core::budget::{BudgetConfig, BudgetStats};
use bfl_sim::{SimConfig, Summary, VirtualSim};
use std::time::Duration;

/// What a user of one burst sees.
struct Run {
    /// Over the requests that carried the key.
    keyed: Summary,
    downloaded: usize,
    failed_jobs: usize,
    rate_limited: u64,
    budget: Option<BudgetStats>,
}

/// `jobs` at t = 0 against a key limit of 24, lognormal(6 s, 0.5), the default strategy.
fn burst(jobs: usize, budget: Option<BudgetConfig>) -> Run {
    let rt = VirtualSim::tokio_runtime().unwrap();
    rt.block_on(async {
        let mut config =
            SimConfig::from_json(r#"{"seed": 3, "durations": {"*": "lognormal:6,0.5"}}"#).unwrap();
        config.request_log_cap = 1_000_000;
        let sim = VirtualSim::new(config);
        let mut builder = sim.client_builder("bfl_budget").seed(3);
        if let Some(b) = budget {
            builder = builder.request_budget(b);
        }
        let client = builder.build().unwrap();
        let failed_jobs = bfl_sim::vtime::burst(&client, jobs).await;
        let stats = sim.stats();
        assert_eq!(stats.request_log.dropped, 0, "the whole run is in the log");
        Run {
            keyed: stats.keyed_summary(),
            downloaded: stats
                .tasks
                .iter()
                .filter(|t| t.downloaded_at.is_some())
                .count(),
            failed_jobs,
            rate_limited: stats.counters.rate_limited,
            budget: client.request_budget().map(|b| b.stats()),
        }
    })
}

fn assert_nothing_lost(run: &Run, jobs: usize) {
    assert_eq!(run.failed_jobs, 0);
    assert_eq!(
        run.keyed.tasks, jobs,
        "one task per job: nothing paid twice"
    );
    assert_eq!((run.keyed.ready, run.keyed.expired), (jobs, 0));
    assert_eq!(run.downloaded, jobs, "every image downloaded");
    assert_eq!(run.keyed.polls_after_terminal, 0);
}

#[test]
fn a_budget_of_48_a_second_holds_in_every_second_of_a_500_job_burst() {
    let jobs = 500;
    let free = burst(jobs, None);
    assert!(
        free.keyed.peak_rps > 48,
        "without a budget the default strategy sends more than 48 a second ({}): \
         the assertion below has teeth",
        free.keyed.peak_rps
    );
    let capped = burst(jobs, Some(BudgetConfig::per_second(48.0)));
    assert!(
        capped.keyed.peak_rps <= 48,
        "{} keyed requests in one second",
        capped.keyed.peak_rps
    );
    assert_nothing_lost(&capped, jobs);
    assert_eq!((free.rate_limited, capped.rate_limited), (0, 0), "no 429s");
    let b = capped.budget.unwrap();
    assert!(b.held_back > 0, "the budget was binding: {b:?}");
    eprintln!(
        "500 jobs, no budget: peak {} req/s, makespan {:.1} s, lag {:.3} s, {:.2} keyed req/job; \
         48/s: peak {}, makespan {:.1} s, lag {:.3} s, {:.2} keyed req/job, {b:?}",
        free.keyed.peak_rps,
        free.keyed.makespan,
        free.keyed.detection_lag.mean,
        free.keyed.requests_per_task,
        capped.keyed.peak_rps,
        capped.keyed.makespan,
        capped.keyed.detection_lag.mean,
        capped.keyed.requests_per_task,
    );
}

#[test]
fn a_burst_goes_out_at_once_and_the_rest_at_the_pace() {
    let config = BudgetConfig::per_second(20.0).burst(6);
    let run = burst(60, Some(config));
    assert_eq!(config.most_in_one_second(), 25);
    assert!(run.keyed.peak_rps <= 25, "peak {}", run.keyed.peak_rps);
    assert!(
        run.keyed.burst_100ms >= 6,
        "6 of the first submits went together: {}",
        run.keyed.burst_100ms
    );
    assert_nothing_lost(&run, 60);
}

#[test]
fn a_budget_too_small_for_the_polls_costs_lag_not_jobs() {
    let jobs = 100;
    let free = burst(jobs, None);
    let starved = burst(jobs, Some(BudgetConfig::per_second(2.0)));
    assert!(
        starved.keyed.peak_rps <= 2,
        "peak {}",
        starved.keyed.peak_rps
    );
    assert_nothing_lost(&starved, jobs);
    assert_eq!(starved.rate_limited, 0);
    assert!(
        starved.keyed.detection_lag.mean > 2.0 * free.keyed.detection_lag.mean,
        "lag grows: {:.3} s against {:.3} s",
        starved.keyed.detection_lag.mean,
        free.keyed.detection_lag.mean
    );
    // Bounded waits: 10 s of precedence at most, then the (at most 24) requests ahead, 0.5 s each.
    let b = starved.budget.unwrap();
    assert!(
        b.longest_wait <= Duration::from_secs_f64(10.0 + 25.0 * 0.5),
        "{b:?}"
    );
}

#[test]
fn under_a_tight_budget_submits_go_ahead_of_polls_and_the_batch_ends_sooner() {
    let jobs = 500;
    let tight = BudgetConfig::per_second(12.0);
    let ahead = burst(jobs, Some(tight));
    let fifo = burst(jobs, Some(tight.head_start(Duration::ZERO)));
    assert_nothing_lost(&ahead, jobs);
    assert_nothing_lost(&fifo, jobs);
    // A submit fills the slot a finished task freed; behind the polls, the slot idles.
    assert!(
        ahead.keyed.makespan < 0.95 * fifo.keyed.makespan,
        "makespan {:.1} s with submits ahead, {:.1} s first come first served",
        ahead.keyed.makespan,
        fifo.keyed.makespan
    );
}
