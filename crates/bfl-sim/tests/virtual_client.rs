#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::field_reassign_with_default
)]
//! bfl-core's `Client` on the virtual-time face: many jobs at once, ground truth, determinism.

use bfl_core::dist::DurationDist;
use bfl_core::{GenerationRequest, Job};
use bfl_sim::{PollingHost, SimConfig, Stats, VirtualSim};
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
    cfg.durations.insert("*".into(), DurationDist::Fixed(10.0));
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
    let summary = stats.summary();
    assert_eq!(
        (summary.tasks, summary.ready, summary.expired),
        (200, 200, 0)
    );
    assert_eq!(summary.detection_lag.n, 200);
    assert!(summary.detection_lag.p50 <= summary.detection_lag.p95);
    assert_eq!(summary.polls_after_terminal, 0);
    assert!(summary.requests_per_task >= 3.0);
    assert!(
        summary.burst_100ms >= 24,
        "24 submits at t = 0: {summary:?}"
    );
    // Slot use: at most 24 tasks active at once.
    assert!(summary.active_task_seconds <= 24.0 * summary.makespan);
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

#[test]
fn several_clients_share_one_key_and_meet_its_limit() {
    let mut cfg = SimConfig::default();
    cfg.durations.insert("*".into(), DurationDist::Fixed(5.0));
    cfg.retry_after = bfl_sim::RetryAfter::Accurate;
    let rt = VirtualSim::tokio_runtime().unwrap();
    let (stats, ok) = rt.block_on(async {
        let sim = VirtualSim::new(cfg);
        let runs = (0..4).map(|c| {
            let client = sim.client_builder("bfl_shared").seed(c).build().unwrap();
            let jobs: Vec<Job> = (0..40)
                .map(|i| Job::generate(GenerationRequest::new("flux-2-pro", format!("c{c} j{i}"))))
                .collect();
            async move { client.batch(jobs).collect::<Vec<_>>().await }
        });
        let all = futures_util::future::join_all(runs).await;
        let ok = all
            .iter()
            .flatten()
            .filter(|i| i.outcome.result.is_ok())
            .count();
        (sim.stats(), ok)
    });
    assert_eq!(ok, 160);
    assert!(stats.counters.rate_limited > 0, "4 clients x 24 slots > 24");
    assert_eq!(stats.counters.accepted, 160);
}

/// One job with `prompt` in virtual time, streamed to a file when `dest` is given: its result
/// and the simulator's download count.
fn one_job(prompt: &str, dest: Option<&std::path::Path>) -> (Result<bfl_core::Image, String>, u32) {
    let rt = VirtualSim::tokio_runtime().unwrap();
    rt.block_on(async {
        let sim = VirtualSim::new(SimConfig::default());
        let client = sim.client_builder("bfl_virtual").build().unwrap();
        let mut job = Job::generate(GenerationRequest::new("flux-2-pro", prompt));
        job.download_to = dest.map(|d| d.to_path_buf());
        let outcome = client.run(job).await;
        let result = outcome
            .result
            .map_err(|e| e.to_string())
            .and_then(|f| match f {
                bfl_core::Finished::Downloaded(out) => Ok(out.image),
                other => Err(format!("{other:?}")),
            });
        (result, sim.stats().tasks[0].downloads)
    })
}

#[test]
fn a_truncated_body_is_downloaded_again_in_virtual_time_to_memory_and_to_a_file() {
    let (image, downloads) = one_job("fox sim:download-truncated:2", None);
    match image.unwrap() {
        bfl_core::Image::Memory(b) => assert!(bfl_core::image::sniff(&b).is_some()),
        other => panic!("{other:?}"),
    }
    assert_eq!(downloads, 3);
    let dir = std::env::temp_dir().join(format!("bfl-sim-vt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dest = dir.join("fox.jpeg");
    std::fs::write(&dest, b"old").unwrap();
    let (image, downloads) = one_job("fox sim:download-truncated:1000", Some(&dest));
    let err = image.unwrap_err();
    assert!(
        err.contains("ended after") && err.contains("Content-Length"),
        "{err}"
    );
    assert_eq!(downloads, 13, "the first try and 12 retries");
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        b"old",
        "the old file was replaced"
    );
    let (image, _) = one_job("fox sim:download-empty", Some(&dest));
    assert!(matches!(image.unwrap(), bfl_core::Image::File(_)));
    assert!(bfl_core::image::sniff(&std::fs::read(&dest).unwrap()).is_some());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_task_an_error_names_resumes_as_it_stands_and_is_paid_once() {
    let mut cfg = SimConfig::default();
    cfg.durations.insert("*".into(), DurationDist::Fixed(60.0));
    let rt = VirtualSim::tokio_runtime().unwrap();
    rt.block_on(async {
        let sim = VirtualSim::new(cfg);
        let hasty = sim
            .client_builder("bfl_virtual")
            .deadline(std::time::Duration::from_secs(20))
            .build()
            .unwrap();
        let req = GenerationRequest::new("flux-2-pro", "a slow fox");
        let err = hasty.generate(req).await.unwrap_err();
        assert_eq!(err.kind(), bfl_core::ErrorKind::DeadlineExceeded);
        let task = err.task().expect("the paid task is named").clone();
        assert_eq!(task.model, "flux-2-pro");
        assert!(task.cost.is_some_and(|c| c > 0.0), "{task:?}");

        let patient = sim.client_builder("bfl_virtual").build().unwrap();
        let outcome = patient.run(Job::resume(task.clone())).await;
        let Ok(bfl_core::Finished::Downloaded(out)) = outcome.result else {
            panic!("{:?}", outcome.result);
        };
        assert_eq!(out.ready.task, task, "the same task, its cost kept");
        assert_eq!(outcome.report.submits, 0);
        let stats = sim.stats();
        assert_eq!(stats.tasks.len(), 1, "paid once");
        assert!(stats.tasks[0].downloaded_at.is_some());
    });
}
