//! Durable appends per second of the batch journal with 1 and 24 concurrent writers (24: a burst
//! of submits under the key's limit). Group commit lets concurrent appends share an `fsync`.
//!
//! `cargo run --release --example journal_throughput -- [DIR]` (default: ./target; use a real
//! disk, not tmpfs, where fsync costs nothing).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bfl::batch::journal::{Header, Journal, Record};
use std::path::PathBuf;

#[allow(clippy::disallowed_methods)] // measuring real time is the point here
fn wall() -> std::time::Instant {
    std::time::Instant::now()
}

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "target".into()));
    for writers in [1usize, 24] {
        let path = dir.join(format!("journal-throughput-{writers}.jsonl"));
        let _ = std::fs::remove_file(&path);
        let per_writer = 2_400 / writers;
        let header = Header {
            input: "bench".into(),
            fingerprint: "0".into(),
            jobs: writers * per_writer,
            ..Header::default()
        };
        let journal = Journal::create(&path, &header).unwrap();
        let started = wall();
        std::thread::scope(|scope| {
            for w in 0..writers {
                let journal = &journal;
                scope.spawn(move || {
                    for k in 0..per_writer {
                        journal
                            .append_blocking(&Record::Submitting {
                                index: w * per_writer + k,
                            })
                            .unwrap();
                    }
                });
            }
        });
        let secs = started.elapsed().as_secs_f64();
        let n = writers * per_writer;
        println!(
            "{writers:>2} writers: {n} durable appends in {secs:.2} s = {:.0} appends/s",
            n as f64 / secs
        );
        let _ = std::fs::remove_file(&path);
    }
}
