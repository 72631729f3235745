#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::field_reassign_with_default
)]
//! Every built-in scenario runs a small batch through bfl-core's client in virtual time.

use bfl_core::{GenerationRequest, Job};
use bfl_sim::scenarios::{builtin, BUILTIN};
use bfl_sim::VirtualSim;
use futures_util::StreamExt;

#[test]
fn every_builtin_scenario_runs() {
    for scenario in BUILTIN {
        let name = &scenario.name;
        let config = scenario.config();
        let rt = VirtualSim::tokio_runtime().unwrap();
        let (ok, stats) = rt.block_on(async {
            let sim = VirtualSim::new(config);
            let client = sim.client_builder("bfl_scenarios").build().unwrap();
            let jobs: Vec<Job> = (0..30)
                .map(|i| Job::generate(GenerationRequest::new("flux-2-pro", format!("{name} {i}"))))
                .collect();
            let items: Vec<_> = client.batch(jobs).collect().await;
            assert_eq!(items.len(), 30, "{name}");
            let ok = items.iter().filter(|i| i.outcome.result.is_ok()).count();
            (ok, sim.stats())
        });
        assert_eq!(stats.counters.keys_sent_to_delivery, 0, "{name}");
        assert!(stats.tasks.iter().all(|t| !t.expired), "{name}");
        // Outcomes fail some jobs by design; a hung submit may have created a paid task, so
        // the client does not resend it.
        if !matches!(*name, "s5-outcomes" | "s5-hangs") {
            assert_eq!(ok, 30, "{name}: {:?}", stats.counters);
        }
    }
}

/// BENCHMARKS.md S5 for every strategy: whatever the faults, no result URL expires and no task
/// that became `Ready` is lost (it is downloaded, or handed back by name for a resume).
#[test]
fn s5_faults_lose_nothing_whatever_the_strategy() {
    use bfl_core::strategy::{preset, PRESET_NAMES};
    use std::collections::HashSet;
    for name in BUILTIN
        .iter()
        .map(|s| s.name)
        .filter(|n| n.starts_with("s5-"))
    {
        for strategy in PRESET_NAMES {
            let config = builtin(name).unwrap();
            let rt = VirtualSim::tokio_runtime().unwrap();
            let (handed_back, stats) = rt.block_on(async {
                let sim = VirtualSim::new(config);
                let client = sim
                    .client_builder("bfl_s5")
                    .strategy(preset(strategy).unwrap())
                    .build()
                    .unwrap();
                let jobs: Vec<Job> = (0..30)
                    .map(|i| Job::generate(GenerationRequest::new("flux-2-pro", format!("s5 {i}"))))
                    .collect();
                let items: Vec<_> = client.batch(jobs).collect().await;
                let handed_back: HashSet<String> = items
                    .iter()
                    .filter_map(|i| i.outcome.result.as_ref().err())
                    .filter(|e| e.is_retryable())
                    .filter_map(|e| e.task().map(|t| t.id.clone()))
                    .collect();
                (handed_back, sim.stats())
            });
            for t in &stats.tasks {
                assert!(!t.expired, "{name}/{strategy}: task {} expired", t.id);
                let ready = t.ready_at.is_some();
                assert!(
                    !ready || t.downloaded_at.is_some() || handed_back.contains(&t.id),
                    "{name}/{strategy}: task {} was Ready and lost",
                    t.id
                );
            }
        }
    }
}
