#![allow(clippy::unwrap_used, clippy::expect_used)]
//! BENCHMARKS.md S2 — a 500-job burst against a key limit of 24, run by the real client (limiter,
//! machine, strategies) against the simulator in virtual time; figures from the simulator's
//! ground truth. `cargo test --test batch_s2 -- --nocapture` prints them.

use bfl_sim::{SimConfig, Stats, VirtualSim};

const JOBS: usize = 500;

struct Figures {
    makespan: f64,
    lower_bound: f64,
    rate_limited: u64,
    expired: usize,
    lost: usize,
    accepted: u64,
    mean_lag: f64,
    polls_per_job: f64,
    /// The makespan of the same jobs with zero detection lag, each slot taking the next job the
    /// moment its task ends (list scheduling in submit order): the best any polling can do.
    zero_lag: Option<f64>,
}

/// Runs the burst with the client told `max_active` (None: the documented limit).
fn burst(schedule: Vec<(f64, usize)>, max_active: Option<usize>) -> Figures {
    let rt = VirtualSim::tokio_runtime().unwrap();
    rt.block_on(async {
        let mut config = SimConfig::from_json(
            r#"{"seed": 2, "durations": {"*": "lognormal:6,0.5"}, "record_requests": false}"#,
        )
        .unwrap();
        config.limits.schedule = schedule.clone();
        let sim = VirtualSim::new(config);
        let mut builder = sim.client_builder("bfl_s2").seed(2);
        if let Some(n) = max_active {
            builder = builder.max_active(n);
        }
        let client = builder.build().unwrap();
        let lost = bfl_sim::vtime::burst(&client, JOBS).await;
        figures(&sim.stats(), lost, &schedule)
    })
}

/// The earliest moment by which `work` slot-seconds fit under a limit of 24 that changes
/// to `limit` at each `(t, limit)` of `schedule`.
fn slot_bound(work: f64, schedule: &[(f64, usize)]) -> f64 {
    let (mut t, mut limit, mut left) = (0.0, 24.0, work);
    for &(at, next) in schedule {
        if left <= (at - t) * limit {
            break;
        }
        left -= (at - t) * limit;
        (t, limit) = (at, next as f64);
    }
    t + left / limit
}

/// List scheduling of `jobs` (in order) on `slots` slots: the makespan.
fn list_schedule(jobs: &[f64], slots: usize) -> f64 {
    let mut free_at = vec![0.0f64; slots];
    for &d in jobs {
        let (i, t) = free_at
            .iter()
            .copied()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        free_at[i] = t + d;
    }
    free_at.into_iter().fold(0.0, f64::max)
}

fn figures(stats: &Stats, lost: usize, schedule: &[(f64, usize)]) -> Figures {
    let occupancy: Vec<f64> = stats
        .tasks
        .iter()
        .map(|t| t.finished_at - t.submitted_at)
        .collect();
    let longest = occupancy.iter().cloned().fold(0.0, f64::max);
    Figures {
        makespan: stats
            .tasks
            .iter()
            .filter_map(|t| t.downloaded_at)
            .fold(0.0, f64::max),
        lower_bound: longest.max(slot_bound(occupancy.iter().sum(), schedule)),
        rate_limited: stats.counters.rate_limited,
        expired: stats.tasks.iter().filter(|t| t.expired).count(),
        lost,
        accepted: stats.counters.accepted,
        mean_lag: {
            let lags: Vec<f64> = stats
                .tasks
                .iter()
                .filter_map(|t| t.detection_lag())
                .collect();
            lags.iter().sum::<f64>() / lags.len().max(1) as f64
        },
        polls_per_job: stats.counters.polls as f64 / JOBS as f64,
        // (With a limit that changes, no simple schedule is the reference.)
        zero_lag: schedule.is_empty().then(|| list_schedule(&occupancy, 24)),
    }
}

fn show(name: &str, f: &Figures) {
    eprintln!(
        "S2 {name}: makespan {:.1} s, lower bound {:.1} s ({:.3}×), 429s {} ({:.3}/job), \
         expired {}, lost {}, submits accepted {}, mean lag {:.2} s, polls/job {:.1}, \
         {}",
        f.makespan,
        f.lower_bound,
        f.makespan / f.lower_bound,
        f.rate_limited,
        f.rate_limited as f64 / JOBS as f64,
        f.expired,
        f.lost,
        f.accepted,
        f.mean_lag,
        f.polls_per_job,
        f.zero_lag
            .map_or("no zero-lag reference".to_owned(), |z| format!(
                "zero-lag schedule {z:.1} s ({:.3}× the bound; makespan {:.3}× it)",
                z / f.lower_bound,
                f.makespan / z
            ))
    );
}

#[test]
fn known_limit_no_429s_and_makespan_within_1_10_of_the_bound() {
    let f = burst(Vec::new(), None);
    show("known limit 24", &f);
    assert_eq!(f.rate_limited, 0);
    assert_eq!((f.expired, f.lost), (0, 0));
    assert_eq!(f.accepted, JOBS as u64);
    // BENCHMARKS.md's bound max(longest, Σ/24). Even zero detection lag would not reach it (the
    // zero-lag schedule of these jobs in this order ends ~8 % past it), so this needs the
    // default strategy's contention-aware polling: lag costs a waiting job its slot.
    assert!(
        f.makespan <= 1.10 * f.lower_bound,
        "{:.3}× the bound",
        f.makespan / f.lower_bound
    );
    let zero_lag = f.zero_lag.unwrap();
    assert!(
        f.makespan <= 1.03 * zero_lag,
        "{:.3}× the zero-lag schedule",
        f.makespan / zero_lag
    );
}

#[test]
fn unknown_limit_is_learned_with_a_handful_of_429s() {
    // The client believes 64; the server allows 24.
    let f = burst(Vec::new(), Some(64));
    show("client told 64, server 24", &f);
    assert!(f.rate_limited <= 10, "{} 429s", f.rate_limited);
    assert_eq!((f.expired, f.lost), (0, 0));
    let zero_lag = f.zero_lag.unwrap();
    assert!(
        f.makespan <= 1.10 * zero_lag,
        "{:.3}× the zero-lag schedule",
        f.makespan / zero_lag
    );
    assert_eq!(f.accepted, JOBS as u64);
}

#[test]
fn a_limit_dropping_mid_run_costs_a_few_429s_and_no_job() {
    let f = burst(vec![(30.0, 12)], None);
    show("limit 24 → 12 at 30 s", &f);
    assert!(f.rate_limited <= 15, "{} 429s", f.rate_limited);
    assert_eq!((f.expired, f.lost), (0, 0));
    assert_eq!(f.accepted, JOBS as u64);
}
