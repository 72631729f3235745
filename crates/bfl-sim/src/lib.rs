//! # bfl-sim
//!
//! A faithful fake of the Black Forest Labs async image API (`docs/bfl-api.md`), for testing
//! clients and comparing polling strategies offline.
//!
//! One seeded, pure simulation core ([`Sim`]: tasks, per-key active slots, durations, faults,
//! ground truth) with two faces:
//!
//! - the **HTTP face** ([`SimServer`]): hyper listeners on `127.0.0.1` for the API, the delivery
//!   host of result images and optionally a regional or hostile polling host; usable from any
//!   language, and as the `bfl-sim` binary;
//! - the **virtual-time face** ([`VirtualSim`]): a [`SimTransport`] and a [`VirtualRuntime`] for
//!   `bfl_core::Client`, under tokio's paused clock, so 100 000 tasks run in seconds.
//!
//! Both record ground truth ([`Stats`]): per task when it was submitted, started, became ready,
//! was first seen ready, downloaded; per request what arrived where, with what answer.
//!
//! The core never reads a clock: [`Sim::handle`] takes `now` in sim seconds.
//!
//! Standalone: `cargo run -p bfl-sim -- --port 8787 --scenario s5-brownout` (or a JSON file of
//! [`SimConfig`]; `--list-scenarios`, `--help` for every knob), then point any client's base URL
//! at `http://127.0.0.1:8787` and read `GET /__sim/summary` or `/__sim/stats` afterwards;
//! change knobs mid-run through `/__sim/config` ([`control`]). Clients that download only from
//! their base URL's origin (the Vercel AI SDK) need `--delivery same-origin` ([`Delivery`]).
//! Only the spec's endpoints exist; bodies are checked against the embedded OpenAPI document;
//! images are placeholders (gradients) of the requested size.
//!
//! ```
//! use bfl_sim::{Hosts, Role, Sim, SimConfig, SimRequest};
//! let mut sim = Sim::new(SimConfig::default(), Hosts::virtual_names());
//! let req = SimRequest {
//!     role: Role::Api,
//!     method: "POST",
//!     path: "/v1/flux-2-pro",
//!     query: None,
//!     key: Some("bfl_test"),
//!     body: br#"{"prompt": "a lighthouse"}"#,
//! };
//! let resp = sim.handle(0.0, &req);
//! assert_eq!(resp.status, 200);
//! assert_eq!(sim.stats(0.0).tasks.len(), 1);
//! ```

pub mod cli;
pub mod config;
mod config_check;
pub mod control;
pub mod core;
pub mod durations;
pub mod exchange;
mod faults;
mod guards;
pub mod http;
mod image_stamp;
pub mod images;
pub mod scenarios;
pub mod stats;
pub mod summary;
pub mod validate;
pub mod vtime;
pub mod webhooks;
mod wire_body;

pub use crate::config::{
    Delivery, EndpointRates, Faults, Latency, Limits, OutcomeMix, PollingHost, Quirks, RetryAfter,
    SimConfig,
};
pub use crate::core::{Hosts, Role, Sim, SimBody, SimRequest, SimResponse};
pub use crate::http::SimServer;
pub use crate::stats::{Counters, HttpLoad, Outcome, RequestLog, RequestRecord, Stats, TaskTruth};
pub use crate::summary::{Spread, Summary};
pub use crate::vtime::{SimTransport, VirtualRuntime, VirtualSim};
