//! The engine's own cost: one task's whole life in the sans-IO machine (submit, polls, download),
//! with canned answers and no I/O, so the figure is pure decision-making overhead.
//!
//! `cargo bench --bench engine`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use bfl_core::arb::{accepted, polled, Answer};
use bfl_core::auth::ApiKey;
use bfl_core::machine::Now;
use bfl_core::machine::{Action, EngineConfig, Job, TaskMachine};
use bfl_core::strategy::preset;
use bfl_core::GenerationRequest;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Runs one task to its end; returns the number of decisions (`next_action` calls).
fn one_task(cfg: &Arc<EngineConfig>, strategy: &str, pending_polls: usize, t0: Now) -> usize {
    let factory = preset(strategy).unwrap();
    let mut now = t0;
    let mut m = TaskMachine::new(
        Arc::clone(cfg),
        Job::generate(GenerationRequest::new("flux-2-pro", "a fox")),
        factory.new_task("flux-2-pro"),
        factory.name(),
        7,
        now,
    );
    let end_time = now.unix_secs() + 30.0;
    let mut answers = std::iter::once(accepted("t", "https://api.bfl.ai"))
        .chain((0..pending_polls).map(|_| polled("Pending", Some(0.5), end_time)))
        .chain([
            polled("Ready", None, end_time),
            Answer::http(200, &b"\xff\xd8\xff\xe0 jpeg"[..]),
        ]);
    let mut decisions = 0;
    loop {
        decisions += 1;
        match m.next_action(now) {
            Action::Send(_) => {
                now = now.after(Duration::from_millis(40));
                match answers.next().expect("script long enough").into_result() {
                    Ok(resp) => m.on_response(now, resp),
                    Err(e) => m.on_transport_error(now, e),
                }
                while m.poll_event().is_some() {}
            }
            Action::Wait(until) => {
                now = now.after(until.saturating_duration_since(now.instant));
            }
            Action::Done(outcome) => {
                assert!(outcome.result.is_ok());
                return decisions;
            }
        }
    }
}

fn task_lifecycle(c: &mut Criterion) {
    let cfg = Arc::new(EngineConfig::new(
        "https://api.bfl.ai".parse().unwrap(),
        ApiKey::new("bfl_bench").unwrap(),
    ));
    // The bench never reads a clock for the machine: a fixed stamp stands for "now".
    let t0 = Now {
        instant: origin(),
        wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    };
    let mut group = c.benchmark_group("task_lifecycle");
    for strategy in ["fixed-2s", "gradual", "decorrelated-jitter"] {
        group.bench_function(format!("{strategy}/5_polls"), |b| {
            b.iter_batched(
                || (),
                |()| black_box(one_task(&cfg, strategy, 4, t0)),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

#[allow(clippy::disallowed_methods)] // only the origin of the bench's own clock
fn origin() -> std::time::Instant {
    std::time::Instant::now()
}

criterion_group!(benches, task_lifecycle);
criterion_main!(benches);
