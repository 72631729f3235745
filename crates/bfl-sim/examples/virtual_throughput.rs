//! CPU cost of the virtual-time face: N jobs through `bfl_core::Client::batch` on one core.
//!
//! `cargo run --release -p bfl-sim --example virtual_throughput -- [JOBS] [IMAGE_MAX_SIDE] [log|nolog]`
//! (defaults: 100000 jobs, 64 px images as in the default scenario, request log on).

use bfl_core::{GenerationRequest, Job};
use bfl_sim::{SimConfig, VirtualSim};
use futures_util::StreamExt;

#[allow(clippy::disallowed_methods)] // measuring real CPU time is the point here
fn wall() -> std::time::Instant {
    std::time::Instant::now()
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let jobs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let side: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let log = args.next().as_deref() != Some("nolog");
    let strategy = match args.next() {
        Some(name) => match bfl_core::strategy::preset(&name) {
            Some(s) => s,
            None => panic!("unknown strategy {name}"),
        },
        None => bfl_core::strategy::default_strategy(),
    };
    let strategy_name = strategy.name();
    let config = SimConfig {
        seed: 1,
        image_max_side: side,
        record_requests: log,
        ..SimConfig::default()
    };
    let rt = VirtualSim::tokio_runtime()?;
    let started = wall();
    let (ok, sim) = rt.block_on(async {
        let sim = VirtualSim::new(config);
        let client = match sim
            .client_builder("bfl_bench")
            .seed(1)
            .strategy(strategy)
            .build()
        {
            Ok(c) => c,
            Err(e) => panic!("client: {e}"),
        };
        let batch =
            (0..jobs).map(|i| Job::generate(GenerationRequest::new("flux-2-pro", format!("p{i}"))));
        let ok = client
            .batch(batch.collect::<Vec<_>>())
            .fold(0usize, |n, item| async move {
                n + usize::from(item.outcome.result.is_ok())
            })
            .await;
        (ok, sim)
    });
    let elapsed = started.elapsed().as_secs_f64();
    let (requests, lags, makespan) = sim.with_sim(|s, now| {
        let lags: Vec<f64> = s
            .tasks(now)
            .iter()
            .filter_map(|t| t.detection_lag())
            .collect();
        (s.counters().requests, lags, now)
    });
    let mean_lag = lags.iter().sum::<f64>() / lags.len().max(1) as f64;
    println!(
        "{strategy_name}: {jobs} jobs ({ok} ok), {requests} requests, {makespan:.0} sim s, mean detection lag {mean_lag:.3} s: {elapsed:.2} s wall, {:.0} requests/s, {:.1} µs/job",
        requests as f64 / elapsed,
        elapsed * 1e6 / jobs as f64
    );
    Ok(())
}
