//! Peak memory per in-flight task of the real client stack (`Client` + `HyperTransport` +
//! `TokioRuntime`), with 10 000 tasks polling a simulator over loopback.
//!
//! The simulator runs in a child process (this program started again with `--serve`), so the
//! figure is the client's memory alone: (peak RSS with N tasks polling − RSS before) / N.
//!
//! `cargo run --release --example memory_per_task -- [TASKS] [POLL_INTERVAL_SECS]` (defaults
//! 10 000 and 1; Linux: reads `/proc/self/status`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bfl_core::dist::DurationDist;
use bfl_core::machine::Job;
use bfl_core::strategy::Fixed;
use bfl_core::{Client, GenerationRequest, SubmittedTask};
use bfl_hyper::{HyperTransport, TokioRuntime};
use bfl_sim::{SimConfig, SimServer};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const KEY: &str = "bfl_memory_key";

/// `VmRSS` or `VmHWM` of this process, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Sockets this process has open (its connections to the simulator).
fn open_sockets() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|l| l.to_string_lossy().starts_with("socket:"))
                .count()
        })
        .unwrap_or(0)
}

async fn serve() {
    let mut config = SimConfig {
        record_requests: false,
        progress: false,
        ..SimConfig::default()
    };
    // Tasks that never finish, and no limit in the way: N tasks stay in flight.
    config
        .durations
        .insert("*".into(), DurationDist::Fixed(1.0e6));
    config.limits.default = 1_000_000;
    let server = SimServer::start(config).await.unwrap();
    println!("{}", server.base_url());
    // Serve until the parent closes our stdin.
    let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new())).await;
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if first.as_deref() == Some("--serve") {
        return serve().await;
    }
    let tasks: usize = first.and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let interval: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1.0);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("--serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut base = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut base)
        .unwrap();
    let client = Client::builder()
        .api_key(KEY)
        .base_url(base.trim())
        .transport(Arc::new(HyperTransport::new().unwrap()))
        .runtime(Arc::new(TokioRuntime::new()))
        .strategy(Arc::new(Fixed::every(Duration::from_secs_f64(interval))))
        .max_active(1_000_000)
        .deadline(Duration::from_secs(3600))
        .build()
        .unwrap();
    // Submit every task first (their answers are what the pollers need).
    let mut submitted = Vec::with_capacity(tasks);
    for i in 0..tasks {
        let req = GenerationRequest::new("flux-2-pro", format!("memory {i}"));
        submitted.push(client.submit(req).await.unwrap());
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = status_kib("VmRSS:");
    let mut future_bytes = 0;
    let pollers: Vec<_> = submitted
        .into_iter()
        .map(|task: SubmittedTask| {
            let client = client.clone();
            let poller = async move { client.run(Job::resume(task)).await };
            future_bytes = std::mem::size_of_val(&poller);
            tokio::spawn(poller)
        })
        .collect();
    // Let every task poll a few times, then read the peak.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let rss = status_kib("VmRSS:");
    let peak = status_kib("VmHWM:");
    println!(
        "{tasks} tasks in flight: RSS {before} KiB before, {rss} KiB polling (peak {peak} KiB): \
         {:.2} KiB per in-flight task, {} sockets open; a task's future is {future_bytes} bytes",
        (rss.saturating_sub(before)) as f64 / tasks as f64,
        open_sockets()
    );
    let ended = pollers.iter().filter(|p| p.is_finished()).count();
    for p in pollers {
        if p.is_finished() {
            if let Ok(outcome) = p.await {
                if let Err(e) = outcome.result {
                    eprintln!("ended early: {e}");
                }
            }
        } else {
            p.abort();
        }
    }
    if ended > 0 {
        eprintln!("{ended} tasks ended early");
    }
    drop(child.stdin.take());
    let _ = child.wait();
}
