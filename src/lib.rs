//! The `bfl` toolkit as a library: what the CLI runs.

pub mod compare;
