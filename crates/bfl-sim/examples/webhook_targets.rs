//! The webhook targets of issue 12, measured on the real client against the virtual-time sim:
//! S1 lognormal(6 s, 0.5), jobs in batches under the active-task limit, deliveries to an
//! in-process receiver, every figure from the simulator's ground truth.
//!
//! `cargo run --release -p bfl-sim --example webhook_targets -- [JOBS] [SEED] [RTT_S]`
//!
//! Two profiles: `ideal` (every delivery, 0.2 s median delay) and `lossy` (20 % lost, 5 %
//! duplicated, 5 % held back 2 s, 5 % of tasks also get a forged delivery). `RTT_S` (default 0.05)
//! is the simulator's answer latency, so "one poll's round trip" is measured, not assumed.

use bfl_core::dist::DurationDist;
use bfl_core::webhook::{Fallback, WebhookRouter};
use bfl_core::{GenerationRequest, Job};
use bfl_sim::webhooks::{DeliveryKind, WebhookConfig};
use bfl_sim::{SimConfig, VirtualSim};
use futures_util::StreamExt;
use std::sync::Arc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let jobs: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let seed: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    let rtt: f64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(0.05);
    let ideal = WebhookConfig {
        delay_median_secs: 0.2,
        ..WebhookConfig::default()
    };
    let lossy = WebhookConfig {
        drop: 0.2,
        duplicate: 0.05,
        out_of_order: 0.05,
        late_secs: 2.0,
        forged: 0.05,
        ..ideal.clone()
    };
    let fallback = Fallback::default();
    println!(
        "S1 lognormal(6 s, 0.5), {jobs} jobs, seed {seed}, answer latency {rtt} s, fallback {:?} (lag bound {:?} + one round trip)",
        fallback,
        fallback.lag_bound()
    );
    for (name, hooks) in [("ideal", ideal), ("lossy", lossy)] {
        measure(name, hooks, jobs, seed, rtt, fallback);
    }
}

fn measure(name: &str, hooks: WebhookConfig, jobs: usize, seed: u64, rtt: f64, fb: Fallback) {
    let mut cfg = SimConfig {
        seed,
        queue_delay: DurationDist::Fixed(0.0),
        record_requests: false,
        webhooks: hooks,
        ..SimConfig::default()
    };
    cfg.faults.latency.base = rtt / 2.0;
    cfg.durations.insert(
        "*".into(),
        DurationDist::LogNormal {
            median: 6.0,
            sigma: 0.5,
        },
    );
    let rt = VirtualSim::tokio_runtime().unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(async {
        let sim = VirtualSim::new(cfg);
        let router = WebhookRouter::new();
        sim.set_webhook_sink(Arc::new(router.clone()));
        let client = sim
            .client_builder("bfl_targets")
            .seed(seed)
            .webhooks(router.clone(), "https://hooks.example")
            .webhook_fallback(Arc::new(fb))
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let batch = (0..jobs).map(|i| Job::generate(GenerationRequest::new("flux-2-pro", format!("t {i}"))));
        let items: Vec<_> = client.batch(batch).collect().await;
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        let stats = sim.stats();
        let ok = items.iter().filter(|i| i.outcome.result.is_ok()).count();
        let lag = stats.summary().detection_lag;
        let finished = |id: &str| stats.tasks.iter().find(|t| t.id == id).map(|t| t.finished_at);
        let delays: Vec<f64> = stats
            .webhooks
            .iter()
            .filter(|w| w.kind == DeliveryKind::Original && !w.dropped && !w.late)
            .filter_map(|w| Some(w.due_at - finished(&w.task_id)?))
            .collect();
        let mean_delay = delays.iter().sum::<f64>() / delays.len().max(1) as f64;
        let lost = stats.tasks.iter().filter(|t| t.ready_at.is_some() && t.downloaded_at.is_none());
        let count = |k: DeliveryKind| stats.webhooks.iter().filter(|w| w.kind == k).count();
        println!("\n== {name}");
        println!("jobs ok {ok}/{jobs}, lost {}, expired {}", lost.count(), stats.tasks.iter().filter(|t| t.expired).count());
        println!(
            "polls/job {:.3}, polls after terminal {}",
            stats.counters.polls as f64 / jobs as f64,
            stats.counters.polls_after_terminal
        );
        println!(
            "lag mean {:.3} s, p50 {:.3}, p99 {:.3}, max {:.3} (mean delivery delay {mean_delay:.3} s + round trip {rtt} s = {:.3})",
            lag.mean,
            lag.p50,
            lag.p99,
            lag.max,
            mean_delay + rtt
        );
        println!(
            "deliveries: {} scheduled, {} dropped, {} duplicates, {} late, {} forged",
            stats.webhooks.len(),
            stats.webhooks.iter().filter(|w| w.dropped).count(),
            count(DeliveryKind::Duplicate),
            stats.webhooks.iter().filter(|w| w.late).count(),
            count(DeliveryKind::Forged)
        );
        println!("receiver: {:?}", router.counters());
    });
}
