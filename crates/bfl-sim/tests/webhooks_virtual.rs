#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Webhook deliveries under virtual time, end to end through bfl-core's client: delivered ones
//! cut the lag to the delivery delay at about one poll a job; lost ones cost bounded lag, never
//! a job; forged ones change nothing but a counter. Figures from the simulator's ground truth.

use bfl_core::dist::DurationDist;
use bfl_core::webhook::{WebhookCounters, WebhookRouter};
use bfl_core::{GenerationRequest, Job};
use bfl_sim::webhooks::{DeliveryKind, WebhookConfig};
use bfl_sim::{SimConfig, Stats, VirtualSim};
use futures_util::StreamExt;
use std::sync::Arc;

fn scenario(webhooks: WebhookConfig) -> SimConfig {
    let mut cfg = SimConfig {
        seed: 11,
        webhooks,
        ..SimConfig::default()
    };
    cfg.durations.insert(
        "*".into(),
        DurationDist::LogNormal {
            median: 6.0,
            sigma: 0.5,
        },
    );
    cfg
}

struct Run {
    stats: Stats,
    ok: usize,
    polls: Vec<u32>,
    counters: WebhookCounters,
}

fn run(cfg: SimConfig, jobs: usize, webhooks: bool) -> Run {
    let rt = VirtualSim::tokio_runtime().unwrap();
    rt.block_on(async {
        let sim = VirtualSim::new(cfg);
        let router = WebhookRouter::new();
        sim.set_webhook_sink(Arc::new(router.clone()));
        let mut builder = sim.client_builder("bfl_hooks").seed(3);
        if webhooks {
            builder = builder.webhooks(router.clone(), "https://hooks.example");
        }
        let client = builder.build().unwrap();
        let jobs: Vec<Job> = (0..jobs)
            .map(|i| Job::generate(GenerationRequest::new("flux-2-pro", format!("p {i}"))))
            .collect();
        let items: Vec<_> = client.batch(jobs).collect().await;
        let ok = items.iter().filter(|i| i.outcome.result.is_ok()).count();
        let polls = items.iter().map(|i| i.outcome.report.polls).collect();
        // Let late deliveries (after the batch) land, so the ground truth is complete.
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        Run {
            stats: sim.stats(),
            ok,
            polls,
            counters: router.counters(),
        }
    })
}

fn mean_lag(stats: &Stats) -> f64 {
    let lags: Vec<f64> = stats
        .tasks
        .iter()
        .filter_map(|t| t.detection_lag())
        .collect();
    lags.iter().sum::<f64>() / lags.len() as f64
}

#[test]
fn delivered_webhooks_give_the_delay_as_lag_at_about_one_poll_a_job() {
    let r = run(scenario(WebhookConfig::default()), 300, true);
    assert_eq!(r.ok, 300);
    assert_eq!(r.stats.webhooks.len(), 300);
    assert!(r.stats.webhooks.iter().all(|w| w.answer == Some(200)));
    // A few tasks are seen Ready by a fallback poll before their delivery lands; that delivery
    // then finds no waiting task.
    assert_eq!(r.counters.accepted + r.counters.unknown_task, 300);
    assert!(r.counters.accepted >= 285, "{:?}", r.counters);
    let polls = r.stats.counters.polls as f64 / 300.0;
    assert!(polls < 1.3, "polls per job {polls}");
    let lag = mean_lag(&r.stats);
    assert!(lag < 0.5, "mean lag {lag}");
    assert_eq!(r.stats.counters.polls_after_terminal, 0);
    // Submits answered in the webhook shape still reach every image.
    assert!(r.stats.tasks.iter().all(|t| t.downloaded_at.is_some()));
}

#[test]
fn lost_duplicated_and_late_deliveries_lose_no_job_and_bound_the_lag() {
    let faults = WebhookConfig {
        drop: 0.2,
        duplicate: 0.05,
        out_of_order: 0.05,
        ..WebhookConfig::default()
    };
    let r = run(scenario(faults), 300, true);
    assert_eq!(r.ok, 300);
    let dropped = r.stats.webhooks.iter().filter(|w| w.dropped).count();
    assert!((30..=100).contains(&dropped), "dropped {dropped}");
    assert!(r
        .stats
        .webhooks
        .iter()
        .any(|w| w.kind == DeliveryKind::Duplicate));
    assert!(r.counters.duplicate + r.counters.unknown_task > 0);
    assert_eq!(r.stats.counters.polls_after_terminal, 0);
    // Default fallback: 12 s, then every 4 s; plus a round trip.
    for t in &r.stats.tasks {
        let lag = t.detection_lag().unwrap();
        assert!(lag <= 12.5, "lag {lag} of {t:?}");
        assert!(t.downloaded_at.is_some());
    }
}

#[test]
fn forged_deliveries_change_nothing_but_a_counter() {
    let honest = run(scenario(WebhookConfig::default()), 100, true);
    let forged = WebhookConfig {
        forged: 1.0,
        ..WebhookConfig::default()
    };
    let attacked = run(scenario(forged), 100, true);
    assert_eq!(attacked.counters.forged, 100);
    assert_eq!(honest.counters.forged, 0);
    assert_eq!(attacked.polls, honest.polls, "same polls, job for job");
    let lags =
        |s: &Stats| -> Vec<Option<f64>> { s.tasks.iter().map(|t| t.detection_lag()).collect() };
    assert_eq!(lags(&attacked.stats), lags(&honest.stats));
    assert_eq!(attacked.ok, 100);
}

#[test]
fn without_a_webhook_url_nothing_is_delivered_and_polling_is_unchanged() {
    let r = run(scenario(WebhookConfig::default()), 50, false);
    assert_eq!(r.ok, 50);
    assert!(r.stats.webhooks.is_empty());
    assert!(r.stats.counters.polls as f64 / 50.0 > 2.0);
}
