//! Webhooks over real sockets: the simulator POSTs deliveries (some lost, repeated, late or
//! forged) to a `bfl_hyper::WebhookReceiver` on 127.0.0.1, the client confirms each with one
//! poll and falls back to sparse polling for the lost ones. Figures from the server's ground truth.

use crate::common::{builder, scratch_dir, start};
use bfl_core::webhook::Fallback;
use bfl_core::{GenerationRequest, Job};
use bfl_hyper::WebhookReceiver;
use bfl_sim::webhooks::{DeliveryKind, WebhookConfig};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;

/// The fallback of these short generations (0.35 s): first poll at 1 s, then every 0.5 s.
fn fallback() -> Arc<Fallback> {
    Arc::new(Fallback::new(
        Duration::from_secs(1),
        Duration::from_millis(500),
    ))
}

fn lossy() -> WebhookConfig {
    WebhookConfig {
        delay_median_secs: 0.05,
        drop: 0.2,
        duplicate: 0.05,
        out_of_order: 0.05,
        late_secs: 0.3,
        forged: 0.1,
        timeout_secs: 1.0,
        ..WebhookConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_100_with_lossy_webhooks_gets_every_image_at_about_one_poll_a_job() {
    let mut cfg = crate::common::scenario();
    cfg.webhooks = lossy();
    let server = start(cfg).await;
    let receiver = WebhookReceiver::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = builder(&server)
        .webhooks(receiver.router(), receiver.local_url())
        .webhook_fallback(fallback())
        .build()
        .unwrap();
    let dir = scratch_dir("webhooks");
    let jobs: Vec<Job> = (0..100)
        .map(|i| {
            Job::generate(GenerationRequest::new("flux-2-pro", format!("hook {i}")))
                .to_file(dir.join(format!("{i}.jpeg")))
        })
        .collect();
    let items: Vec<_> = client.batch(jobs).collect().await;
    // Late and repeated deliveries land after the batch; let them, then read the truth.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let stats = server.stats();
    let failed: Vec<_> = items.iter().filter(|i| i.outcome.result.is_err()).collect();
    assert!(failed.is_empty(), "{failed:?}");
    for i in 0..100 {
        let bytes = std::fs::read(dir.join(format!("{i}.jpeg"))).unwrap();
        assert_eq!(
            image::guess_format(&bytes).unwrap(),
            image::ImageFormat::Jpeg
        );
    }
    assert_eq!(stats.tasks.len(), 100);
    assert!(stats
        .tasks
        .iter()
        .all(|t| t.downloaded_at.is_some() && !t.expired));
    assert_eq!(stats.counters.polls_after_terminal, 0);
    assert_eq!(stats.counters.submits, 100, "one submit a job");
    let hooks = &stats.webhooks;
    let dropped = hooks.iter().filter(|w| w.dropped).count();
    let forged = hooks
        .iter()
        .filter(|w| w.kind == DeliveryKind::Forged)
        .count();
    assert!(dropped >= 5, "some deliveries lost: {dropped}");
    assert!(forged >= 1, "some deliveries forged: {forged}");
    let answered = hooks.iter().filter(|w| w.answer == Some(200)).count();
    assert_eq!(
        answered,
        hooks.len() - dropped,
        "every sent delivery answered 200 at once"
    );
    let counters = receiver.router().counters();
    assert_eq!(counters.forged as usize, forged, "{counters:?}");
    // Confirms plus fallback polls of the lost ones: far below polling every 50 ms.
    let polls = stats.counters.polls as f64 / 100.0;
    assert!(polls < 2.0, "polls per job {polls}");
    for t in &stats.tasks {
        let lag = t.detection_lag().unwrap();
        assert!(lag < 1.5, "lag {lag} bounded by the fallback: {t:?}");
    }
    receiver.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_costs_lag_not_jobs() {
    let mut cfg = crate::common::scenario();
    cfg.webhooks = WebhookConfig {
        timeout_secs: 0.2,
        ..WebhookConfig::default()
    };
    let server = start(cfg).await;
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let client = builder(&server)
        .webhooks(bfl_core::webhook::WebhookRouter::new(), silent_url)
        .webhook_fallback(fallback())
        .build()
        .unwrap();
    let jobs =
        (0..10).map(|i| Job::generate(GenerationRequest::new("flux-2-pro", format!("q {i}"))));
    let items: Vec<_> = client.batch(jobs).collect().await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(items.iter().all(|i| i.outcome.result.is_ok()));
    let stats = server.stats();
    assert_eq!(stats.webhooks.len(), 10);
    assert!(
        stats
            .webhooks
            .iter()
            .all(|w| w.sent_at.is_some() && w.answer.is_none()),
        "every delivery timed out: {:?}",
        stats.webhooks
    );
    for t in &stats.tasks {
        let lag = t.detection_lag().unwrap();
        assert!((0.0..1.5).contains(&lag), "lag {lag}");
    }
    hold.abort();
    server.shutdown().await;
}
