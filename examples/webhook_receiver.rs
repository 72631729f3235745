//! Webhooks with the ready-made receiver: `bfl_hyper::WebhookReceiver` on loopback, a batch
//! against the simulator's HTTP face, whose deliveries are lossy (20 % lost, 5 % duplicated,
//! 10 % forged). Prints what the server saw.
//!
//! `cargo run --example webhook_receiver`

use bfl_core::dist::DurationDist;
use bfl_core::webhook::Fallback;
use bfl_core::{GenerationRequest, Job};
use bfl_hyper::WebhookReceiver;
use bfl_sim::webhooks::WebhookConfig;
use bfl_sim::{SimConfig, SimServer};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = SimConfig {
        webhooks: WebhookConfig {
            drop: 0.2,
            duplicate: 0.05,
            forged: 0.1,
            ..WebhookConfig::default()
        },
        ..SimConfig::default()
    };
    config.durations.insert(
        "*".into(),
        DurationDist::LogNormal {
            median: 1.5,
            sigma: 0.4,
        },
    );
    let sim = SimServer::start(config).await?;
    let receiver = WebhookReceiver::bind("127.0.0.1:0".parse()?).await?;
    let client = bfl_hyper::client_builder()?
        .api_key("bfl_example")
        .base_url(sim.base_url())
        // The simulator reaches the receiver directly; BFL would need a public URL.
        .webhooks(receiver.router(), receiver.local_url())
        .webhook_fallback(Arc::new(Fallback::new(
            Duration::from_secs(4),
            Duration::from_secs(1),
        )))
        .build()?;
    let jobs =
        (0..40).map(|i| Job::generate(GenerationRequest::new("flux-2-pro", format!("fox {i}"))));
    let done: Vec<_> = client.batch(jobs).collect().await;
    let ok = done.iter().filter(|d| d.outcome.result.is_ok()).count();
    let stats = sim.stats();
    let lag = stats.summary().detection_lag;
    println!("{ok}/40 images");
    println!(
        "server saw {:.2} polls a job, mean lag {:.3} s, max {:.3} s, {} polls after terminal",
        stats.counters.polls as f64 / 40.0,
        lag.mean,
        lag.max,
        stats.counters.polls_after_terminal
    );
    println!(
        "deliveries: {} scheduled, {} dropped; receiver {:?}",
        stats.webhooks.len(),
        stats.webhooks.iter().filter(|w| w.dropped).count(),
        receiver.router().counters()
    );
    receiver.shutdown().await;
    sim.shutdown().await;
    Ok(())
}
