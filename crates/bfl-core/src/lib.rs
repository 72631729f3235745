//! # bfl-core
//!
//! The runtime-agnostic engine of the bfl toolkit for the Black Forest Labs image API.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod api;
pub mod rt;
pub mod transport;
