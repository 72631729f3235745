//! The `bfl` command line (work in progress).

fn main() {}
