//! The project's client at full speed against one polling URL: `TASKS` tasks polling it back to
//! back (a zero interval) over the real stack (`Client` + `HyperTransport` + `TokioRuntime`,
//! 256 requests in flight at most), for `SECONDS`; prints the polls per second answered.
//! `scripts/ceiling.sh` runs it beside `wrk` on the same endpoint.
//!
//! `cargo run --release --example ceiling_client -- BASE_URL POLLING_URL TASK_ID TASKS SECONDS`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bfl_core::machine::{Job, TaskEvent};
use bfl_core::strategy::Fixed;
use bfl_core::Client;
use bfl_core::SubmittedTask;
use bfl_core::{Hooks, RecordError, TaskObserver};
use bfl_hyper::{HyperTransport, TokioRuntime};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Counts the polls answered.
struct Counter(AtomicU64);

impl TaskObserver for Counter {
    // `TaskObserver` is an `async_trait`; this is its method written out.
    fn on_event<'a, 'b, 'async_trait>(
        &'a self,
        event: &'b TaskEvent,
    ) -> Pin<Box<dyn Future<Output = Result<(), RecordError>> + Send + 'async_trait>>
    where
        'a: 'async_trait,
        'b: 'async_trait,
        Self: 'async_trait,
    {
        if matches!(event, TaskEvent::Polled { .. }) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        Box::pin(std::future::ready(Ok(())))
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, polling_url, id, tasks, seconds] = &args[..] else {
        panic!("usage: ceiling_client BASE_URL POLLING_URL TASK_ID TASKS SECONDS");
    };
    let tasks: usize = tasks.parse().unwrap();
    let seconds: f64 = seconds.parse().unwrap();
    let transport = HyperTransport::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let client = Client::builder()
        .api_key("bfl_ceiling")
        .base_url(base)
        .transport(Arc::new(transport))
        .runtime(Arc::new(TokioRuntime::new()))
        .strategy(Arc::new(Fixed::every(Duration::ZERO)))
        .deadline(Duration::from_secs(3600))
        .build()
        .unwrap();
    let polls = Arc::new(Counter(AtomicU64::new(0)));
    let task = SubmittedTask {
        model: "flux-2-pro".into(),
        ..SubmittedTask::known_as(id.clone(), polling_url.clone())
    };
    let pollers: Vec<_> = (0..tasks)
        .map(|i| {
            let (client, polls, task) = (client.clone(), Arc::clone(&polls), task.clone());
            tokio::spawn(async move {
                // The engine gives a task up after its poll cap; start it again, so the load holds.
                loop {
                    let job = Job::resume(task.clone());
                    let hooks = Hooks {
                        halt: None,
                        observer: &*polls,
                    };
                    let _ = client.run_hooked(job, i as u64, hooks).await;
                }
            })
        })
        .collect();
    // A second of warm-up (connections opened), then the measured window.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let start = polls.0.load(Ordering::Relaxed);
    let started = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let done = polls.0.load(Ordering::Relaxed) - start;
    let rate = done as f64 / started.elapsed().as_secs_f64();
    println!("client {tasks} tasks: {rate:.0} polls/s");
    for p in pollers {
        p.abort();
    }
}
