//! Polls per second over loopback: the whole client stack (task machine, driver, `HyperTransport`)
//! against the simulator's HTTP face, with 1, 100 and 10 000 tasks in flight.
//!
//! Every task polls back to back (a zero interval) and never finishes, so the figure is the
//! stack's saturated throughput on this machine, client and simulator sharing its cores; one
//! criterion "element" is one poll counted by the simulator. The transport keeps at most 256
//! requests in flight, so 10 000 tasks share 256 connections. Run: `cargo bench --bench polls`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use bfl_core::api::SubmitResponse;
use bfl_core::dist::DurationDist;
use bfl_core::strategy::Fixed;
use bfl_core::Client;
use bfl_core::SubmittedTask;
use bfl_hyper::{HyperTransport, TokioRuntime};
use bfl_sim::{Role, SimConfig, SimRequest, SimServer};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::sync::Arc;
use std::time::Duration;

const KEY: &str = "bfl_bench_key";

/// A simulator whose tasks never finish, with no per-request log (10 000 tasks polling flat out
/// would grow it without bound).
fn scenario() -> SimConfig {
    let mut c = SimConfig {
        record_requests: false,
        progress: false,
        ..SimConfig::default()
    };
    c.durations.insert("*".into(), DurationDist::Fixed(1.0e6));
    c.limits.default = 1_000_000;
    c
}

/// Creates `n` tasks straight in the simulator's core (no HTTP), as if submitted.
fn submit_directly(server: &SimServer, n: usize) -> Vec<SubmittedTask> {
    server.with_sim(|sim, now| {
        (0..n)
            .map(|i| {
                let body = format!(r#"{{"prompt": "bench {i}"}}"#);
                let req = SimRequest {
                    role: Role::Api,
                    method: "POST",
                    path: "/v1/flux-2-pro",
                    query: None,
                    key: Some(KEY),
                    body: body.as_bytes(),
                };
                let resp = sim.handle(now, &req);
                assert_eq!(resp.status, 200);
                let parsed = SubmitResponse::parse(&resp.body_bytes()).unwrap();
                SubmittedTask {
                    id: parsed.id,
                    polling_url: parsed.polling_url.unwrap(),
                    model: "flux-2-pro".into(),
                    cost: parsed.cost,
                }
            })
            .collect()
    })
}

fn polls(server: &SimServer) -> u64 {
    server.with_sim(|sim, _| sim.counters().polls)
}

fn bench_polls(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("polls_over_loopback");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(1));
    for in_flight in [1usize, 100, 10_000] {
        let server = rt.block_on(SimServer::start(scenario())).unwrap();
        let transport = HyperTransport::builder()
            .timeout(Duration::from_secs(60))
            .max_concurrent_requests(256)
            .build()
            .unwrap();
        let client = Client::builder()
            .api_key(KEY)
            .base_url(server.base_url())
            .transport(Arc::new(transport))
            .runtime(Arc::new(TokioRuntime::new()))
            .strategy(Arc::new(Fixed::every(Duration::ZERO)))
            .deadline(Duration::from_secs(3600))
            .build()
            .unwrap();
        let pollers: Vec<_> = submit_directly(&server, in_flight)
            .into_iter()
            .map(|task| {
                let client = client.clone();
                // The engine gives a task up after 2000 polls; start it again, so the load holds.
                rt.spawn(async move {
                    loop {
                        let _ = client.poll(&task).await;
                    }
                })
            })
            .collect();
        group.bench_function(format!("{in_flight}_tasks"), |b| {
            // One iteration is one poll answered by the simulator; the pollers run throughout.
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start_count = polls(&server);
                    let started = tokio::time::Instant::now();
                    let (mut seen, mut progress_at) = (start_count, started);
                    while seen < start_count + iters {
                        tokio::time::sleep(Duration::from_micros(200)).await;
                        let now_count = polls(&server);
                        if now_count > seen {
                            (seen, progress_at) = (now_count, tokio::time::Instant::now());
                        }
                        assert!(
                            progress_at.elapsed() < Duration::from_secs(10),
                            "the pollers stalled"
                        );
                    }
                    started.elapsed()
                })
            })
        });
        for p in pollers {
            p.abort();
        }
        rt.block_on(server.shutdown());
    }
    group.finish();
}

criterion_group!(benches, bench_polls);
criterion_main!(benches);
