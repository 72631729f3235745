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
    for (name, _, _) in BUILTIN {
        let config = builtin(name).unwrap();
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
