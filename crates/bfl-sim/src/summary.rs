//! The server-side figures of `docs/BENCHMARKS.md`, computed from the ground truth: detection
//! lag percentiles, requests per job, 429s, makespan, slot use, peak load and bursts.

use crate::stats::{Outcome, Stats, TaskTruth};
pub use bfl_core::stats::Spread;
use serde::Serialize;

/// A run in a few numbers, all measured by the server.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Summary {
    /// Tasks created.
    pub tasks: usize,
    /// Tasks that ended `Ready`.
    pub ready: usize,
    /// Tasks that ended otherwise.
    pub failed: usize,
    /// `Ready` tasks whose result URL expired before a download.
    pub expired: usize,
    /// Detection lag of `Ready` tasks (first poll seeing `Ready` − becoming `Ready`).
    pub detection_lag: Spread,
    /// Submit → first successful download, of downloaded tasks.
    pub end_to_end: Spread,
    /// Polls of all tasks.
    pub polls: u64,
    /// Polls per task.
    pub polls_per_task: f64,
    /// Polls after a poll had already seen the task terminal (must be 0).
    pub polls_after_terminal: u64,
    /// All requests per task (submits with their 429s, polls, downloads).
    pub requests_per_task: f64,
    /// 429 answers per task.
    pub rate_limited_per_task: f64,
    /// First submit → last finish or download, seconds.
    pub makespan: f64,
    /// Σ (finish − submit) over tasks: active task-seconds (divide by limit × makespan for the
    /// slot utilisation).
    pub active_task_seconds: f64,
    /// Mean requests per second over the makespan.
    pub mean_rps: f64,
    /// Most requests in any 1 s window.
    pub peak_rps: usize,
    /// Most requests in any 100 ms window.
    pub burst_100ms: usize,
}

fn max_in_window(times: &[f64], window: f64) -> usize {
    let (mut best, mut lo) = (0, 0);
    for hi in 0..times.len() {
        while times[hi] - times[lo] >= window {
            lo += 1;
        }
        best = best.max(hi + 1 - lo);
    }
    best
}

impl Summary {
    /// Summarises tasks and the arrival times of requests (sorted or not).
    pub fn of(tasks: &[TaskTruth], request_times: &[f64], rate_limited: u64) -> Summary {
        let n = tasks.len().max(1) as f64;
        let ready = tasks.iter().filter(|t| t.outcome == Outcome::Ready).count();
        let first = tasks
            .iter()
            .map(|t| t.submitted_at)
            .fold(f64::INFINITY, f64::min);
        let last = tasks
            .iter()
            .map(|t| t.downloaded_at.unwrap_or(t.finished_at).max(t.finished_at))
            .fold(f64::NEG_INFINITY, f64::max);
        let makespan = if tasks.is_empty() { 0.0 } else { last - first };
        let polls: u64 = tasks.iter().map(|t| u64::from(t.polls)).sum();
        let mut times = request_times.to_vec();
        times.sort_by(f64::total_cmp);
        Summary {
            tasks: tasks.len(),
            ready,
            failed: tasks.len() - ready,
            expired: tasks.iter().filter(|t| t.expired).count(),
            detection_lag: Spread::of(tasks.iter().filter_map(TaskTruth::detection_lag).collect()),
            end_to_end: Spread::of(
                tasks
                    .iter()
                    .filter_map(|t| Some(t.downloaded_at? - t.submitted_at))
                    .collect(),
            ),
            polls,
            polls_per_task: polls as f64 / n,
            polls_after_terminal: tasks
                .iter()
                .map(|t| u64::from(t.polls_after_terminal))
                .sum(),
            requests_per_task: times.len() as f64 / n,
            rate_limited_per_task: rate_limited as f64 / n,
            makespan,
            active_task_seconds: tasks.iter().map(|t| t.finished_at - t.submitted_at).sum(),
            mean_rps: if makespan > 0.0 {
                times.len() as f64 / makespan
            } else {
                0.0
            },
            peak_rps: max_in_window(&times, 1.0),
            burst_100ms: max_in_window(&times, 0.1),
        }
    }
}

impl Stats {
    /// The run in a few numbers (needs the request log for the load figures).
    pub fn summary(&self) -> Summary {
        let times: Vec<f64> = self.requests.iter().map(|r| r.time).collect();
        Summary::of(&self.tasks, &times, self.counters.rate_limited)
    }

    /// [`Stats::summary`] with only the requests that carried the key counted (what a key-wide
    /// request budget caps: submits and polls, not downloads from the delivery host).
    pub fn keyed_summary(&self) -> Summary {
        let times: Vec<f64> = self
            .requests
            .iter()
            .filter(|r| r.key_sent)
            .map(|r| r.time)
            .collect();
        Summary::of(&self.tasks, &times, self.counters.rate_limited)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        assert_eq!(max_in_window(&[0.0, 0.05, 0.09, 0.2, 1.5], 0.1), 3);
        assert_eq!(max_in_window(&[], 1.0), 0);
    }
}
