//! Drives a scenario's jobs through real clients in virtual time: one batch, Poisson arrivals
//! through one client, or several independent clients sharing the key.

use super::scenarios::Scenario;
use super::{CompareArgs, CompareError, MODEL};
use bfl_core::strategy::preset;
use bfl_core::{Client, ClientBuilder, GenerationRequest, Job};
use bfl_sim::scenarios::Workload;
use bfl_sim::VirtualSim;
use futures_util::future::join_all;
use futures_util::StreamExt;
use std::time::Duration;

/// The clients of one run: a fresh strategy each (a learning one starts from nothing), one key;
/// `setup` adds what a row needs (webhooks).
pub(super) fn clients(
    sim: &VirtualSim,
    strategy: &str,
    n: usize,
    seed: u64,
    setup: &dyn Fn(ClientBuilder) -> ClientBuilder,
) -> Result<Vec<Client>, CompareError> {
    (0..n)
        .map(|i| {
            let factory =
                preset(strategy).ok_or_else(|| CompareError::UnknownStrategy(strategy.into()))?;
            let builder = sim
                .client_builder("bfl_compare")
                .strategy(factory)
                .seed(seed.wrapping_add(i as u64));
            setup(builder)
                .build()
                .map_err(|e| CompareError::Setup(e.to_string()))
        })
        .collect()
}

fn job(i: usize) -> Job {
    Job::generate(GenerationRequest::new(MODEL, format!("compare {i}")))
}

/// Runs jobs `range` split over `clients` (job `i` to client `i mod n`), every client's share
/// as one batch, all at once; each job's completion time (sim seconds) in completion order.
async fn batches(sim: &VirtualSim, clients: &[Client], range: std::ops::Range<usize>) -> Vec<f64> {
    let n = clients.len().max(1);
    let runs = clients.iter().enumerate().map(|(c, client)| {
        let jobs: Vec<Job> = range.clone().filter(|i| i % n == c).map(job).collect();
        client
            .batch(jobs)
            .map(|_| sim.with_sim(|_, now| now))
            .collect::<Vec<f64>>()
    });
    join_all(runs).await.concat()
}

/// Runs the warm-up (not measured: learning strategies learn from it).
pub(super) async fn warm_up(sim: &VirtualSim, clients: &[Client], jobs: usize) {
    batches(sim, clients, 0..jobs).await;
}

/// What the measured part of a run gave: each job's time from arrival to its image, and the
/// last arrival (seconds after the start).
pub(super) struct Measured {
    pub(super) time_to_result: Vec<f64>,
    pub(super) last_arrival: f64,
}

/// Runs the measured jobs as the scenario's workload says, from sim time `start`.
pub(super) async fn measure(
    sim: &VirtualSim,
    clients: &[Client],
    scenario: &Scenario,
    args: &CompareArgs,
    start: f64,
) -> Measured {
    let range = args.warmup..args.warmup + args.jobs;
    let Workload::Poisson { .. } = scenario.workload else {
        let done = batches(sim, clients, range).await;
        return Measured {
            time_to_result: done.iter().map(|t| t - start).collect(),
            last_arrival: 0.0,
        };
    };
    let arrivals = scenario.workload.arrivals(
        args.jobs,
        scenario.key_limit(),
        scenario.mean_duration(),
        args.seed,
    );
    let client = &clients[0];
    let runs = range
        .zip(arrivals.iter().copied())
        .map(|(i, at)| async move {
            tokio::time::sleep(Duration::from_secs_f64(at)).await;
            client.run(job(i)).await;
            sim.with_sim(|_, now| now) - start - at
        });
    Measured {
        time_to_result: join_all(runs).await,
        last_arrival: arrivals.last().copied().unwrap_or(0.0),
    }
}
