//! # bfl-core
//!
//! The runtime-agnostic engine of the bfl toolkit for the Black Forest Labs image API.
//!
//! A generation is asynchronous: submit it, poll its `polling_url` until a terminal status, then
//! download the image from a signed URL that dies 10 minutes after the generation ended. This
//! crate holds every decision of that dance as data — no clock, no socket, no async runtime:
//!
//! - [`api`]: wire types (lenient, never panicking parsers);
//! - [`strategy`]: polling strategies (the seed recipes, AWS's jittered backoffs, and the default
//!   `learned`, which polls near the [`strategy::oracle`] schedule of durations it learns);
//! - [`machine`]: the sans-IO task machine (`Send` / `Wait` / `Done`);
//! - [`machine::classify`], [`retry`], [`auth`], [`error`]: answer → decision, backoff and retry
//!   budget, key-host policy, outcomes;
//! - [`transport`], [`rt`]: the two traits a runtime provides; [`image`]: is a downloaded body
//!   the image (magic bytes, length)?
//! - [`client`]: the only async code — a short driver loop, and [`Client`];
//! - [`limiter`], [`batch`]: many tasks under the key's active-task limit;
//! - [`budget`]: an optional cap on the key's requests per second, spent where a poll is most
//!   likely to find its task done;
//! - [`webhook`]: deliveries as hints that wake a task for one confirming poll.
//!
//! ## The driving contract
//!
//! ```text
//! let mut machine = TaskMachine::new(config, job, strategy, name, seed, Now::of(&rt));
//! loop {
//!     match machine.next_action(Now::of(&rt)) {
//!         Action::Send(t) => match transport.send(t.request).await {
//!             Ok(resp) => machine.on_response(Now::of(&rt), resp),
//!             Err(err) => machine.on_transport_error(Now::of(&rt), err),
//!         },
//!         Action::Wait(until) => rt.sleep_until(until).await,
//!         Action::Done(outcome) => break outcome,
//!     }
//!     while let Some(event) = machine.poll_event() { /* record, trace, release slots */ }
//! }
//! ```
//! [`client::drive`] is this loop, awaiting [`transport::Transport::ready`] before a task's
//! first request and each after a wait (so tasks queued for a bounded transport hold no
//! request). A transport is `bfl_hyper::HyperTransport` for real sockets or
//! `bfl_sim::SimTransport` for the simulator's virtual time.

pub mod api;
#[cfg(any(test, feature = "arb"))]
pub mod arb;
pub mod auth;
pub mod batch;
pub mod budget;
pub mod client;
pub mod error;
mod event_queue;
pub mod image;
pub mod limiter;
pub mod machine;
pub use machine::retry;
pub mod observe;
pub mod progress;
pub mod rt;
pub mod sanitize;
pub mod strategy;
pub mod task;
pub mod transport;
pub mod webhook;

pub use api::{GenerationRequest, OutputFormat, Status};
pub use batch::{BatchItem, BatchObserver, StopHandle};
pub use client::{Client, ClientBuilder};
pub use error::{ErrorKind, TaskError, TaskRef};
pub use machine::{Action, EngineConfig, Job, TaskEvent, TaskMachine};
pub use observe::{Hooks, RecordError, TaskObserver};
pub use task::{Finished, Image, TaskOutcome, TaskOutput, TaskReport};
