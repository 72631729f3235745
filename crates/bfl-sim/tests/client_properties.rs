#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Cross-crate properties: the real bfl-core client against the virtual-time face, over random
//! scenarios (durations, faults, outcome mix, limits, strategies, job counts). Whatever happens:
//! no paid task is lost, the key's limit is never exceeded when it is known, nothing is polled
//! after a terminal status, and no result URL expires when the client downloads at once.

use bfl_core::dist::DurationDist;
use bfl_core::strategy::{preset, PRESET_NAMES};
use bfl_core::{GenerationRequest, Job};
use bfl_sim::{Outcome, SimConfig, VirtualSim};
use futures_util::StreamExt;
use proptest::prelude::*;
use std::collections::HashSet;

#[derive(Debug, Clone)]
struct Scenario {
    seed: u64,
    jobs: usize,
    median_s: f64,
    sigma: f64,
    poll_5xx: f64,
    submit_5xx: f64,
    error_rate: f64,
    moderated_rate: f64,
    limit: usize,
    strategy: &'static str,
}

prop_compose! {
    fn scenario()(
        seed in any::<u64>(),
        jobs in 1usize..40,
        median_s in 0.5f64..20.0,
        sigma in 0.0f64..1.0,
        poll_5xx in prop_oneof![Just(0.0), 0.0f64..0.3],
        submit_5xx in prop_oneof![Just(0.0), 0.0f64..0.2],
        error_rate in 0.0f64..0.2,
        moderated_rate in 0.0f64..0.2,
        limit in 1usize..30,
        strategy in prop::sample::select(PRESET_NAMES.to_vec()),
    ) -> Scenario {
        Scenario { seed, jobs, median_s, sigma, poll_5xx, submit_5xx, error_rate, moderated_rate, limit, strategy }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn no_task_lost_no_limit_exceeded_no_poll_after_terminal_no_expired_url(s in scenario()) {
        let mut config = SimConfig {
            seed: s.seed,
            ..SimConfig::default()
        };
        config
            .durations
            .insert("*".into(), DurationDist::LogNormal { median: s.median_s, sigma: s.sigma });
        config.faults.server_error.poll = s.poll_5xx;
        config.faults.server_error.submit = s.submit_5xx;
        config.outcomes.error = s.error_rate;
        config.outcomes.content_moderated = s.moderated_rate;
        config.limits.default = s.limit;

        let rt = VirtualSim::tokio_runtime().unwrap();
        let (stats, named, resumable, done) = rt.block_on(async {
            let sim = VirtualSim::new(config);
            let client = sim
                .client_builder("bfl_props")
                .seed(s.seed)
                .strategy(preset(s.strategy).unwrap())
                // The client knows the key's limit, as it would from BFL's documentation.
                .max_active(s.limit)
                .build()
                .unwrap();
            let jobs = (0..s.jobs)
                .map(|i| Job::generate(GenerationRequest::new("flux-2-pro", format!("job {i}"))));
            let items: Vec<_> = client.batch(jobs).collect().await;
            // Every task the client can name: downloaded, or named in its error.
            let mut named = HashSet::new();
            // Tasks the client stopped following (a recipe's attempt cap), named for a resume.
            let mut resumable = HashSet::new();
            let mut done = 0;
            for item in &items {
                match &item.outcome.result {
                    Ok(bfl_core::Finished::Downloaded(out)) => {
                        named.insert(out.ready.task.id.clone());
                        done += 1;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if let Some(t) = e.task() {
                            named.insert(t.id.clone());
                            if e.is_retryable() {
                                resumable.insert(t.id.clone());
                            }
                        }
                    }
                }
            }
            (sim.stats(), named, resumable, done)
        });

        // No paid task lost: every task the server created is one the client can name, and
        // every task that became Ready was downloaded — or handed back, named, for a resume.
        for t in &stats.tasks {
            prop_assert!(named.contains(&t.id), "task {} was created but never reported", t.id);
            if resumable.contains(&t.id) {
                continue;
            }
            if t.outcome == Outcome::Ready && t.ready_at.is_some() {
                prop_assert!(t.downloaded_at.is_some(), "task {} was Ready, never downloaded", t.id);
            }
            prop_assert!(!t.expired, "task {}'s result URL expired", t.id);
        }
        prop_assert_eq!(done, stats.tasks.iter().filter(|t| t.downloaded_at.is_some()).count());
        // The known limit is never exceeded while the client follows every task. A recipe that
        // gives up on a task (its time cap) frees the client's slot while the server still runs
        // the task, so a 429 is the server's honest answer then — and only then.
        let given_up_running_until = stats
            .tasks
            .iter()
            .filter(|t| resumable.contains(&t.id))
            .map(|t| t.finished_at)
            .fold(f64::NEG_INFINITY, f64::max);
        let refused: Vec<_> = stats.requests.iter().filter(|r| r.status == 429).collect();
        prop_assert_eq!(refused.len() as u64, stats.counters.rate_limited);
        for r in refused {
            prop_assert!(
                r.time < given_up_running_until,
                "429 at {:.1} s with every task followed (given up on ran until {:.1} s)",
                r.time,
                given_up_running_until
            );
        }
        prop_assert_eq!(stats.counters.polls_after_terminal, 0);
        prop_assert_eq!(stats.counters.keys_sent_to_delivery, 0);
    }
}
