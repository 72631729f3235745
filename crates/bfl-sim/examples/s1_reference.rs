//! S1 (single jobs, idle server, lognormal(6 s, 0.5), no RTT) for bfl-core's strategy presets,
//! measured from the simulator's ground truth: mean detection lag and polls per job.
//!
//! `cargo run --release -p bfl-sim --example s1_reference -- [JOBS]` (default 2000).

use bfl_core::{GenerationRequest, Job};
use bfl_sim::{Summary, VirtualSim};
use futures_util::StreamExt;

fn main() -> std::io::Result<()> {
    let jobs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    println!(
        "{:<22} {:>10} {:>10} {:>10}",
        "strategy", "mean lag", "p95 lag", "polls/job"
    );
    for name in [
        "fixed-2s",
        "fixed-500ms",
        "backoff",
        "adaptive",
        "gradual",
        "full-jitter",
        "equal-jitter",
        "decorrelated-jitter",
    ] {
        let Some(strategy) = bfl_core::strategy::preset(name) else {
            continue;
        };
        let Some(config) = bfl_sim::scenarios::builtin("s1") else {
            return Ok(());
        };
        let rt = VirtualSim::tokio_runtime()?;
        let summary = rt.block_on(async {
            let sim = VirtualSim::new(config);
            let Ok(client) = sim.client_builder("bfl_s1").strategy(strategy).build() else {
                return Summary::default();
            };
            let batch: Vec<Job> = (0..jobs)
                .map(|i| Job::generate(GenerationRequest::new("flux-2-pro", format!("s1 {i}"))))
                .collect();
            client.batch(batch).for_each(|_| async {}).await;
            sim.with_sim(|s, now| s.summary(now))
        });
        let (lag, polls) = (summary.detection_lag, summary.polls_per_task);
        println!(
            "{name:<22} {:>9.3}s {:>9.3}s {polls:>10.2}",
            lag.mean, lag.p95
        );
    }
    Ok(())
}
