//! Polling strategies: how long to wait before the next poll of one task.
//!
//! A [`PollStrategy`] holds the state of one task's schedule; a [`StrategyFactory`] makes a fresh
//! one per task (and may learn from finished tasks). Randomness is passed in, so a strategy is a
//! pure function of its inputs and a seed: the same seed gives the same delays.
//!
//! Server hints (`Retry-After`) and the task's deadline are applied by the task machine on top of
//! what a strategy returns, so strategies stay about the schedule alone.
//!
//! [`oracle`] computes the best open-loop schedule for a known duration distribution (and the
//! frontier of polls against lag); [`Learned`], the default, learns each model's distribution
//! from finished tasks and polls near that optimum; [`eval`] scores any strategy on sampled
//! durations in microseconds, without a simulator.

pub mod eval;
mod jitter;
mod learned;
pub mod oracle;
mod presets;

pub use jitter::{DecorrelatedJitter, EqualJitter, FullJitter};
pub use learned::{Learned, Plan, Tradeoff, CONTENDED_LAMBDA_FACTOR};
pub use presets::{Adaptive, Backoff, Fixed, Gradual};

use crate::api::Status;
use rand::RngCore;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What a strategy knows when it picks the next delay of one task.
#[derive(Debug, Clone, Copy)]
pub struct PollContext<'a> {
    /// The model id.
    pub model: &'a str,
    /// Polls answered so far (0 before the first poll).
    pub polls: u32,
    /// Time since the submit was answered.
    pub since_submit: Duration,
    /// The status the last poll saw (`None` before the first poll, or after a failed one).
    pub last_status: Option<&'a Status>,
    /// The progress fraction the last poll saw, when the server reported one.
    pub progress: Option<f64>,
    /// Whether other jobs of the client are waiting for an active slot: this task's detection
    /// lag then holds them back too, so a poll is worth more.
    pub contended: bool,
}

/// The schedule of one task. Object-safe.
pub trait PollStrategy: Send {
    /// The wait before the next poll, or `None` to give up (the strategy's own attempt cap or
    /// time budget is spent).
    fn next_delay(&mut self, ctx: &PollContext<'_>, rng: &mut dyn RngCore) -> Option<Duration>;
}

/// What a finished task teaches a learning strategy about its model's durations.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskObservation {
    /// The model id.
    pub model: String,
    /// Time from the submit's answer to the last poll that saw the task not ready.
    pub last_pending_after: Option<Duration>,
    /// Time from the submit's answer to the first poll that saw `Ready`.
    pub ready_seen_after: Duration,
    /// When the server says the task became ready, relative to the submit's answer
    /// (from its `end_time` and the wall clock), if it said.
    pub server_ready_after: Option<Duration>,
    /// The generation time the server reported (`duration`), if any.
    pub server_duration: Option<Duration>,
}

/// Makes a fresh [`PollStrategy`] for each task. Shared by all tasks of a client.
pub trait StrategyFactory: Send + Sync + fmt::Debug {
    /// A short name for reports, e.g. `fixed-2s`.
    fn name(&self) -> String;
    /// A fresh schedule for one task of `model`.
    fn new_task(&self, model: &str) -> Box<dyn PollStrategy>;
    /// Learns from a task that reached `Ready` (the default ignores it).
    fn observe(&self, _observation: &TaskObservation) {}
}

/// Every named strategy, for command lines and reports.
pub const PRESET_NAMES: &[&str] = &[
    "fixed-2s",
    "backoff",
    "adaptive",
    "gradual",
    "fixed-500ms",
    "full-jitter",
    "equal-jitter",
    "decorrelated-jitter",
    "learned",
];

/// A factory for a named preset (see [`PRESET_NAMES`]), or `None` for an unknown name.
///
/// ```
/// let s = bfl_core::strategy::preset("fixed-2s").unwrap();
/// assert_eq!(s.name(), "fixed-2s");
/// assert!(bfl_core::strategy::preset("nope").is_none());
/// // `learned` also takes its trade-off in the name.
/// assert_eq!(bfl_core::strategy::preset("learned:polls=4").unwrap().name(), "learned:polls=4");
/// ```
pub fn preset(name: &str) -> Option<Arc<dyn StrategyFactory>> {
    let f: Arc<dyn StrategyFactory> = match name {
        "fixed-2s" => Arc::new(Fixed::recipe()),
        "backoff" => Arc::new(Backoff::recipe()),
        "adaptive" => Arc::new(Adaptive::recipe()),
        "gradual" => Arc::new(Gradual::recipe()),
        "fixed-500ms" => Arc::new(Fixed::every(Duration::from_millis(500)).named("fixed-500ms")),
        "full-jitter" => Arc::new(FullJitter::default()),
        "equal-jitter" => Arc::new(EqualJitter::default()),
        "decorrelated-jitter" => Arc::new(DecorrelatedJitter::default()),
        "learned" => Arc::new(Learned::new()),
        other => return learned_variant(other),
    };
    Some(f)
}

/// `learned:polls=X` or `learned:lambda=X` (the names [`Learned`] reports).
fn learned_variant(name: &str) -> Option<Arc<dyn StrategyFactory>> {
    let (key, value) = name.strip_prefix("learned:")?.split_once('=')?;
    let x: f64 = value
        .trim()
        .parse()
        .ok()
        .filter(|x: &f64| x.is_finite() && *x >= 0.0)?;
    let f: Arc<dyn StrategyFactory> = match key.trim() {
        "polls" => Arc::new(Learned::with_target_polls(x)),
        "lambda" => Arc::new(Learned::with_lambda(x)),
        _ => return None,
    };
    Some(f)
}

/// The strategy a client uses when none is chosen: [`Learned`] with its default trade-off.
pub fn default_strategy() -> Arc<dyn StrategyFactory> {
    Arc::new(Learned::new())
}

/// `base · factor^n`, capped, in seconds — the shape every exponential preset shares.
pub(crate) fn exponential(base: f64, factor: f64, n: u32, cap: f64) -> f64 {
    // powi saturates to inf for large n; min() then caps it.
    (base * factor.powi(n.min(1024) as i32)).min(cap)
}

/// A uniform draw in `[lo, hi)` seconds (or `lo` when the range is empty).
pub(crate) fn uniform(rng: &mut dyn RngCore, lo: f64, hi: f64) -> f64 {
    use rand::Rng;
    if hi > lo {
        rng.random_range(lo..hi)
    } else {
        lo
    }
}

pub(crate) fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX)
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use rand::SeedableRng;

    /// Runs a strategy against `n` Pending answers that each take no time, returning the delays.
    pub(crate) fn delays(s: &mut dyn PollStrategy, n: usize, seed: u64) -> Vec<Option<Duration>> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut t = Duration::ZERO;
        let pending = Status::Pending;
        (0..n)
            .map(|i| {
                let ctx = PollContext {
                    model: "flux-2-pro",
                    polls: i as u32,
                    since_submit: t,
                    last_status: (i > 0).then_some(&pending),
                    progress: None,
                    contended: false,
                };
                let d = s.next_delay(&ctx, &mut rng);
                t += d.unwrap_or_default();
                d
            })
            .collect()
    }
}
