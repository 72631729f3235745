//! # bfl
//!
//! The facade of the bfl toolkit for the Black Forest Labs image API, and the library behind the
//! `bfl` command line:
//!
//! - [`core`] (`bfl-core`): the runtime-agnostic engine — wire types, polling strategies, the
//!   sans-IO task machine, the client, batch with the active-task limiter;
//! - [`hyper`] (`bfl-hyper`): the real transport and the tokio runtime;
//! - [`sim`] (`bfl-sim`): the fake BFL server;
//! - [`batch`]: `bfl batch` — prompts file to images, durably, resumable (its rooms: input,
//!   journal, plan, naming, recorder, summary);
//! - [`progress`]: progress bars and counters of `generate` and `batch`;
//! - [`image_input`]: reference images (files, URLs, base64) in a request;
//! - [`request_check`]: requests checked against the API schema before anything is paid;
//! - [`shell`]: commands the CLI asks a user to paste, quoted for a shell;
//! - [`compare`]: `bfl compare` — strategies side by side on a seeded scenario, in virtual time;
//! - [`cli`]: the `bfl` command line.

pub use bfl_core as core;
pub use bfl_hyper as hyper;
pub use bfl_sim as sim;

pub mod batch;
pub mod cli;
pub mod compare;
pub mod image_input;
pub mod progress;
pub mod request_check;
pub mod shell;
