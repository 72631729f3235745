#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::field_reassign_with_default
)]
//! bfl-core's `Client` on the virtual-time face: many jobs at once, ground truth, determinism.

use bfl_core::{GenerationRequest, Job};
use bfl_sim::{DurationModel, PollingHost, SimConfig, Stats, VirtualSim};
use futures_util::StreamExt;

fn run(config: SimConfig, jobs: usize, model: &str) -> (Stats, usize, f64) {
    let model = model.to_owned();
    let rt = VirtualSim::tokio_runtime().unwrap();
    rt.block_on(async {
        let sim = VirtualSim::new(config);
        let client = sim.client_builder("bfl_virtual").seed(1).build().unwrap();
        let jobs: Vec<Job> = (0..jobs)
            .map(|i| Job::generate(GenerationRequest::new(model.clone(), format!("prompt {i}"))))
            .collect();
        let items: Vec<_> = client.batch(jobs).collect().await;
        let ok = items.iter().filter(|i| i.outcome.result.is_ok()).count();
        (sim.stats(), ok, sim.now())
    })
}

#[test]
fn a_batch_runs_in_virtual_time_within_the_active_limit() {
    let mut cfg = SimConfig::default();
    cfg.durations.insert("*".into(), DurationModel::Fixed(10.0));
    let (stats, ok, now) = run(cfg, 200, "flux-2-pro");
    assert_eq!(ok, 200);
    assert_eq!(stats.tasks.len(), 200);
    assert_eq!(
        stats.counters.rate_limited, 0,
        "the limiter keeps within 24 active tasks"
    );
    // 200 jobs of 10.2 s at 24 at a time: at least ceil(200/24) = 9 rounds.
    assert!(now >= 9.0 * 10.2, "makespan {now}");
    assert!(now < 200.0, "makespan {now}");
    for t in &stats.tasks {
        let lag = t.detection_lag().unwrap();
        assert!((0.0..15.0).contains(&lag), "lag {lag}");
        assert!(t.downloaded_at.unwrap() >= t.first_ready_poll_at.unwrap());
        assert_eq!(t.polls_after_terminal, 0);
        assert!(!t.expired);
    }
    assert_eq!(stats.counters.keys_sent_to_delivery, 0);
}

#[test]
fn same_seed_same_request_log() {
    let mut cfg = SimConfig::default();
    cfg.seed = 5;
    cfg.faults.server_error.poll = 0.1;
    cfg.outcomes.error = 0.05;
    let (a, _, _) = run(cfg.clone(), 60, "flux-2-pro");
    let (b, _, _) = run(cfg.clone(), 60, "flux-2-pro");
    assert!(a.requests.len() > 60 * 3);
    assert_eq!(a.requests, b.requests);
    assert_eq!(a.tasks, b.tasks);
    cfg.seed = 6;
    let (c, _, _) = run(cfg, 60, "flux-2-pro");
    assert_ne!(a.requests, c.requests);
}

#[test]
fn regional_polling_gets_the_key_and_a_hostile_one_does_not() {
    let mut cfg = SimConfig::default();
    cfg.polling_host = PollingHost::Regional;
    let (stats, ok, _) = run(cfg.clone(), 5, "flux-2-klein-4b");
    assert_eq!(ok, 5);
    assert!(stats
        .requests
        .iter()
        .any(|r| r.host == "api.eu1.sim.invalid" && r.key_sent));

    cfg.polling_host = PollingHost::Hostile;
    let (stats, _, _) = run(cfg, 5, "flux-2-klein-4b");
    assert_eq!(stats.counters.keys_sent_to_hostile, 0);
}
