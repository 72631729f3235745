//! End to end: `bfl_core::Client` over `bfl_hyper::HyperTransport` and real loopback sockets,
//! against `bfl_sim::SimServer`. Every assertion on request counts comes from the simulator's
//! ground truth, not from the client's own report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod downloads;
mod faults;
mod happy;
mod keys;
mod outcomes;
mod progress;
mod webhooks;
