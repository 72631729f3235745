//! # bfl-core
//!
//! The runtime-agnostic engine of the bfl toolkit for the Black Forest Labs image API.
//!
//! A generation is asynchronous: submit it, poll its `polling_url` until a terminal status, then
//! download the image from a signed URL that dies 10 minutes after the generation ended. This
//! crate holds every decision of that dance as data — no clock, no socket, no async runtime:
//!
//! The root is the SDK face — what a program that generates images needs: [`Client`] and
//! [`ClientBuilder`] (with its [`BuildError`] and [`RetryPolicy`]), a [`Job`] or
//! [`GenerationRequest`], the task it names ([`SubmittedTask`]), the outcomes ([`TaskOutput`],
//! [`Finished`], [`TaskReport`], [`TaskError`] and its [`ErrorKind`]), a task's [`Progress`],
//! [`server_text`] to show what a server said, and the two traits a runtime provides,
//! [`Transport`] (with its [`TransportError`]) and [`Runtime`].
//!
//! The public modules are each a face someone outside the crate works with:
//!
//! - [`machine`]: the sans-IO task machine (`Send` / `Wait` / `Done`), for driver authors, with
//!   [`machine::classify`] (answer → decision) and [`machine::retry`] (backoff and retry budget);
//! - [`api`]: the wire types (lenient, never panicking parsers) — the simulator serves them,
//!   and a driver of its own reads answers with them;
//! - [`strategy`]: polling strategies a client is built with (the seed recipes, AWS's jittered
//!   backoffs, and the default `learned`, which polls near the [`strategy::oracle`] schedule of
//!   durations it learns), and the trait to write one;
//! - [`dist`]: duration distributions (one type and one grammar, `lognormal:6,0.5` …) — the
//!   oracle, the strategy lab and the simulator each take one;
//! - [`auth`]: the key and which hosts may receive it — the security boundary that the engine
//!   settings, the request budget's transport and [`BuildError`] name;
//! - [`transport`]: what a [`Transport`] implementation handles (request kinds, the typed
//!   [`transport::Transmit`], streamed downloads); [`image`]: whether a downloaded body is the
//!   image (magic bytes, length), which a streaming transport checks as it writes;
//! - [`budget`]: an optional cap on the key's requests per second — its settings and counters,
//!   spent where a poll is most likely to find its task done;
//! - [`webhook`]: deliveries as hints that wake a task for one confirming poll — the router a
//!   web server feeds;
//! - [`stats`]: the stable hash, seed mixer and normal sample every crate of the workspace
//!   shares, so their streams agree.
//!
//! The driver loop behind [`Client`], the batch runner, the active-task limiter, the runtime
//! clock and the sanitizer are private; their few public items are re-exported here or in
//! [`machine`].
//!
//! ## The driving contract
//!
//! A driver feeds the machine every answer and waits where it says; [`Client`] does exactly
//! this (adding the active-task limit, observers and webhook hints):
//!
//! ```no_run
//! use bfl_core::machine::{Action, EngineConfig, Job, Now, TaskMachine};
//! use bfl_core::{Runtime, TaskOutcome, Transport};
//! use std::sync::Arc;
//!
//! async fn run(
//!     config: Arc<EngineConfig>,
//!     job: Job,
//!     transport: &dyn Transport,
//!     rt: &dyn Runtime,
//! ) -> TaskOutcome {
//!     let strategy = bfl_core::strategy::default_strategy();
//!     let schedule = strategy.new_task(job.model());
//!     let mut machine = TaskMachine::new(config, job, schedule, strategy.name(), 7, Now::of(rt));
//!     loop {
//!         match machine.next_action(Now::of(rt)) {
//!             Action::Send(t) => match transport.send(t.request).await {
//!                 Ok(resp) => machine.on_response(Now::of(rt), resp),
//!                 Err(err) => machine.on_transport_error(Now::of(rt), err),
//!             },
//!             Action::Wait(until) => rt.sleep_until(until).await,
//!             Action::Done(outcome) => return outcome,
//!         }
//!         while let Some(event) = machine.poll_event() {
//!             // record, trace, release slots
//!             let _ = event;
//!         }
//!     }
//! }
//! ```
//!
//! (A download job streams to [`transport::Transmit::download_to`] with
//! [`Transport::download_to`] instead.) The client's driver also awaits
//! [`transport::Transport::ready`] before a task's first request and each after a wait, so tasks
//! queued for a bounded transport hold no request. A transport is `bfl_hyper::HyperTransport` for real
//! sockets or `bfl_sim::SimTransport` for the simulator's virtual time.

pub mod api;
#[cfg(any(test, feature = "arb"))]
pub mod arb;
pub mod auth;
mod batch;
pub mod budget;
mod client;
pub mod dist;
mod error;
mod event_queue;
pub mod image;
mod limiter;
pub mod machine;
mod observe;
mod progress;
mod rt;
mod sanitize;
pub mod stats;
pub mod strategy;
mod task;
pub mod transport;
pub mod webhook;

pub use api::{GenerationRequest, OutputFormat, Status};
pub use batch::{BatchItem, BatchObserver, StopHandle};
pub use client::{BuildError, Client, ClientBuilder};
pub use error::{ErrorKind, Phase, TaskError};
pub use machine::retry::RetryPolicy;
pub use machine::{Job, TaskEvent};
pub use observe::{Hooks, RecordError, TaskObserver};
pub use progress::Progress;
pub use rt::Runtime;
pub use sanitize::server_text;
pub use task::{Finished, Image, ReadyTask, SubmittedTask, TaskOutcome, TaskOutput, TaskReport};
pub use transport::{Transport, TransportError};
