//! `learned`: polls near the oracle schedule of each model's duration distribution, learned
//! online from the client's own finished tasks.
//!
//! - **Learning.** Each finished task gives its duration: exactly, from the server's `end_time`,
//!   or as the interval between the last poll that saw it pending and the first that saw it
//!   ready (spread over the interval, not put at its end, which would overstate every duration
//!   by the lag). A ring of the last [`Learned::capacity`] samples per model bounds memory.
//! - **Planning.** Occasionally (at 16, 32, 64, … samples, then every quarter ring) the
//!   samples are smoothed into a distribution and the oracle DP ([`super::oracle`]) finds the
//!   schedule minimising `E[lag] + λ·E[polls]`, for a given `λ` or the `λ` that hits a target
//!   polls per job. The plan is shared by `Arc` with every task; polling never recomputes it.
//! - **Before enough samples**, it polls on a safe gradual backoff (1 s, ×1.5, capped at 5 s).
//! - **Under contention** — other jobs of the client wait for an active slot, so this task's
//!   detection lag holds them back too ([`PollContext::contended`]) — it follows a second plan
//!   made with a poll cost [`CONTENDED_LAMBDA_FACTOR`] times smaller (or polls every 0.5 s
//!   before it has learned), trading polls for batch throughput only when a batch is waiting.
//! - **Progress.** When the server reports `progress`, the remaining time is extrapolated from
//!   it (and from two readings when there are two), and the next poll goes there.
//!
//! Server hints and the deadline are applied by the task machine on top.
//!
//! ```
//! use bfl_core::strategy::{Learned, StrategyFactory};
//! let s = Learned::with_target_polls(4.0);
//! assert_eq!(s.name(), "learned:polls=4");
//! assert!(s.plan("flux-2-pro").is_none()); // nothing learned yet
//! ```

mod progress;
mod store;

use super::oracle::{Grid, Schedule};
use super::{secs, PollContext, PollStrategy, StrategyFactory, TaskObservation};
use progress::{Basis, ProgressTrack};
use rand::RngCore;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use store::{Sample, SampleStore};

/// What `learned` optimises.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tradeoff {
    /// Minimise `E[lag] + λ·E[polls]`: one poll is worth `λ` seconds of lag.
    Lambda(f64),
    /// The least mean lag with at most this many expected polls per job.
    TargetPolls(f64),
}

/// The schedule `learned` follows for one model, with what it expects of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Poll times, seconds since submit.
    pub times: Vec<f64>,
    /// The interval between polls past the last planned one, seconds.
    pub tail_gap: f64,
    /// Expected polls per job on the learned distribution.
    pub expected_polls: f64,
    /// Expected mean lag on the learned distribution, seconds.
    pub expected_lag: f64,
    /// Samples it was planned from.
    pub samples: usize,
    /// The poll cost it was planned for (found by search for a target of polls).
    pub lambda: f64,
    /// The samples and smoothing progress reports reweight.
    basis: Basis,
}

/// Samples before the first plan.
const MIN_SAMPLES: usize = 16;
/// Samples kept per model.
const CAPACITY: usize = 512;
/// Models tracked; tasks of further models use the fallback schedule.
const MAX_MODELS: usize = 256;
/// Steps of the planning grid (log-spaced: under 1 % relative resolution for a spread of 100×).
const GRID_STEPS: usize = 800;
/// The default trade-off: one poll is worth 0.1 s of lag.
const DEFAULT_LAMBDA: f64 = 0.1;

/// The learned strategy's factory (name `learned`). Cheap to share: per-model state sits
/// behind one lock that tasks take only to clone an `Arc` of the plan.
#[derive(Debug)]
pub struct Learned {
    tradeoff: Tradeoff,
    capacity: usize,
    min_samples: usize,
    use_progress: bool,
    contention_aware: bool,
    grid_steps: usize,
    models: RwLock<HashMap<String, ModelState>>,
}

#[derive(Debug)]
struct ModelState {
    store: SampleStore,
    plan: Option<Arc<Plan>>,
    contended_plan: Option<Arc<Plan>>,
    planned_at: u64,
}

/// How much cheaper a poll is taken to be while other jobs wait for a slot: a second of lag
/// then costs the waiting job a second as well, and a batch's makespan is its slots' lag.
pub const CONTENDED_LAMBDA_FACTOR: f64 = 1.0 / 30.0;
/// The interval of a task under contention before anything is learned.
const CONTENDED_FALLBACK_S: f64 = 0.5;

impl Default for Learned {
    fn default() -> Self {
        Self::with_lambda(DEFAULT_LAMBDA)
    }
}

impl Learned {
    /// The default: `λ` = 0.1 s of lag per poll, progress used when reported, and a poll
    /// cost [`CONTENDED_LAMBDA_FACTOR`] times smaller while other jobs wait for a slot.
    pub fn new() -> Self {
        Self::default().contention_aware(true)
    }

    /// Optimises `E[lag] + λ·E[polls]` (`λ` in seconds; negative or non-finite becomes the
    /// default).
    pub fn with_lambda(lambda: f64) -> Self {
        let lambda = if lambda.is_finite() && lambda >= 0.0 {
            lambda
        } else {
            DEFAULT_LAMBDA
        };
        Self::with_tradeoff(Tradeoff::Lambda(lambda))
    }

    /// The least lag at no more than `polls` expected polls per job (at least 1).
    pub fn with_target_polls(polls: f64) -> Self {
        let polls = if polls.is_finite() {
            polls.max(1.0)
        } else {
            5.0
        };
        Self::with_tradeoff(Tradeoff::TargetPolls(polls))
    }

    fn with_tradeoff(tradeoff: Tradeoff) -> Self {
        Learned {
            tradeoff,
            capacity: CAPACITY,
            min_samples: MIN_SAMPLES,
            use_progress: true,
            contention_aware: false,
            grid_steps: GRID_STEPS,
            models: RwLock::default(),
        }
    }

    /// Keeps at most `n` samples per model (at least the minimum to plan).
    pub fn capacity(mut self, n: usize) -> Self {
        self.capacity = n.max(self.min_samples);
        self
    }

    /// Whether polls get cheaper while other jobs of the client wait for an active slot (on in
    /// [`Learned::new`]; off for an explicit `λ` or polls target, which are then kept exactly).
    pub fn contention_aware(mut self, on: bool) -> Self {
        self.contention_aware = on;
        self
    }

    /// Whether to follow server progress reports (on by default).
    pub fn use_progress(mut self, on: bool) -> Self {
        self.use_progress = on;
        self
    }

    /// Plans over a grid of `n` log-spaced candidate poll times (default 800): planning costs
    /// about `n²`, and fewer steps place polls less precisely (300 is within a few percent).
    pub fn grid_steps(mut self, n: usize) -> Self {
        self.grid_steps = n.clamp(16, 20_000);
        self
    }

    /// What it optimises.
    pub fn tradeoff(&self) -> Tradeoff {
        self.tradeoff
    }

    /// The current plan for `model`, if it has learned enough.
    pub fn plan(&self, model: &str) -> Option<Arc<Plan>> {
        let models = self.models.read().unwrap_or_else(|e| e.into_inner());
        models.get(model).and_then(|m| m.plan.clone())
    }

    /// The plan for `model` while other jobs wait for a slot, if it has learned enough.
    pub fn contended_plan(&self, model: &str) -> Option<Arc<Plan>> {
        let models = self.models.read().unwrap_or_else(|e| e.into_inner());
        models.get(model).and_then(|m| m.contended_plan.clone())
    }

    /// Plans from a snapshot of samples.
    fn make_plan(&self, samples: &[Sample], tradeoff: Tradeoff) -> Option<Plan> {
        let points = store::resolve(samples);
        let (dist, lo, hi, h) = store::estimate(&points)?;
        let grid = Grid::log_spaced(&dist, lo, hi, self.grid_steps);
        // Polls are counted on the points themselves: the smoothed estimate has slightly more
        // tail, and a target counted on it would be undershot.
        let mut weighted: Vec<(f64, f64)> = points.iter().map(|p| (p.x, p.w)).collect();
        weighted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let raw_polls = |s: &Schedule| polls_on(&s.times, tail_gap(&s.times), &weighted);
        let s: Schedule = match tradeoff {
            Tradeoff::Lambda(l) => grid.optimal(l),
            Tradeoff::TargetPolls(p) => grid.schedule_for_polls_by(p, &raw_polls),
        };
        if s.times.is_empty() {
            return None;
        }
        Some(Plan {
            tail_gap: tail_gap(&s.times),
            expected_polls: raw_polls(&s),
            expected_lag: s.mean_lag,
            times: s.times,
            samples: samples.len(),
            lambda: s.lambda,
            basis: Basis::new(&points, h, s.lambda),
        })
    }

    /// Whether the store, having seen `seen` samples, is due a new plan: at the minimum, each
    /// doubling while the ring fills, then every quarter ring.
    fn due(&self, seen: u64, planned_at: u64) -> bool {
        let (seen, min) = (seen as usize, self.min_samples);
        if seen < min {
            return false;
        }
        if seen <= self.capacity {
            return seen == min || (seen % min == 0 && (seen / min).is_power_of_two());
        }
        seen as u64 >= planned_at + (self.capacity / 4).max(1) as u64
    }
}

impl StrategyFactory for Learned {
    fn name(&self) -> String {
        match self.tradeoff {
            Tradeoff::Lambda(l) if l == DEFAULT_LAMBDA && self.contention_aware => "learned".into(),
            Tradeoff::Lambda(l) => format!("learned:lambda={l}"),
            Tradeoff::TargetPolls(p) => format!("learned:polls={p}"),
        }
    }

    fn new_task(&self, model: &str) -> Box<dyn PollStrategy> {
        let models = self.models.read().unwrap_or_else(|e| e.into_inner());
        let state = models.get(model);
        Box::new(LearnedTask {
            plan: state.and_then(|m| m.plan.clone()),
            contended_plan: state.and_then(|m| m.contended_plan.clone()),
            contention_aware: self.contention_aware,
            progress: self.use_progress.then(ProgressTrack::default),
        })
    }

    fn observe(&self, observation: &TaskObservation) {
        let Some(sample) = Sample::from_observation(observation) else {
            return;
        };
        let snapshot = {
            let mut models = self.models.write().unwrap_or_else(|e| e.into_inner());
            if !models.contains_key(&observation.model) && models.len() >= MAX_MODELS {
                return;
            }
            let m = models
                .entry(observation.model.clone())
                .or_insert_with(|| ModelState {
                    store: SampleStore::new(self.capacity),
                    plan: None,
                    contended_plan: None,
                    planned_at: 0,
                });
            m.store.push(sample);
            if !self.due(m.store.seen(), m.planned_at) {
                return;
            }
            m.planned_at = m.store.seen();
            (m.store.seen(), m.store.snapshot())
        };
        // Plan outside the lock: tasks keep starting on the previous plan meanwhile.
        let (seen, samples) = snapshot;
        if let Some(plan) = self.make_plan(&samples, self.tradeoff) {
            let contended = Tradeoff::Lambda(plan.lambda * CONTENDED_LAMBDA_FACTOR);
            let contended_plan = self
                .contention_aware
                .then(|| self.make_plan(&samples, contended))
                .flatten();
            let mut models = self.models.write().unwrap_or_else(|e| e.into_inner());
            if let Some(m) = models.get_mut(&observation.model) {
                // A slower planner finishing late must not replace a newer plan.
                if m.planned_at == seen {
                    m.plan = Some(Arc::new(plan));
                    m.contended_plan = contended_plan.map(Arc::new);
                }
            }
        }
    }
}

/// The interval between polls past the end of a plan: its last gap, within [0.1 s, 10 s].
fn tail_gap(times: &[f64]) -> f64 {
    let gap = match times {
        [] => 1.0,
        [t] => *t,
        [.., a, b] => b - a,
    };
    gap.clamp(0.1, 10.0)
}

/// Mean polls the plan takes over weighted durations.
fn polls_on(times: &[f64], tail_gap: f64, points: &[(f64, f64)]) -> f64 {
    let last = times.last().copied().unwrap_or(0.0);
    let (mut total, mut weight) = (0.0, 0.0);
    for &(x, w) in points {
        let before = times.partition_point(|&t| t < x) as f64;
        let polls = if x <= last {
            before + 1.0
        } else {
            before + ((x - last) / tail_gap).ceil()
        };
        total += w * polls;
        weight += w;
    }
    if weight > 0.0 {
        total / weight
    } else {
        0.0
    }
}

/// One task's walk along its model's plan.
struct LearnedTask {
    plan: Option<Arc<Plan>>,
    contended_plan: Option<Arc<Plan>>,
    contention_aware: bool,
    progress: Option<ProgressTrack>,
}

/// The fallback: 1 s, then ×1.5 per poll, capped at 5 s.
fn fallback_delay(polls: u32) -> f64 {
    super::exponential(1.0, 1.5, polls, 5.0)
}

impl PollStrategy for LearnedTask {
    fn next_delay(&mut self, ctx: &PollContext<'_>, _rng: &mut dyn RngCore) -> Option<Duration> {
        let now = ctx.since_submit.as_secs_f64();
        let contended = ctx.contended && self.contention_aware;
        let plan = if contended {
            self.contended_plan.as_ref().or(self.plan.as_ref())
        } else {
            self.plan.as_ref()
        };
        let fallback = if contended {
            CONTENDED_FALLBACK_S
        } else {
            fallback_delay(ctx.polls)
        };
        if let Some(track) = &mut self.progress {
            track.record(ctx.polls, now, ctx.progress);
            if let Some(wait) = track.next_wait(now, plan.map(|p| &p.basis)) {
                // Without a plan, a bare extrapolation of coarse readings may only bring the
                // next poll forward, never push it past the safe schedule.
                let wait = if plan.is_some() {
                    wait
                } else {
                    wait.min(fallback)
                };
                return Some(secs(wait));
            }
        }
        let Some(plan) = plan else {
            return Some(secs(fallback));
        };
        // The next planned time that is still ahead (round trips may have pushed us past some).
        let ahead = plan.times.partition_point(|&t| t <= now + 1e-3);
        let wait = match plan.times.get(ahead) {
            Some(&t) => t - now,
            None => plan.tail_gap,
        };
        Some(secs(wait))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testing::delays;

    /// Polls one task makes until `until` seconds, with or without other jobs waiting.
    fn polls_until(l: &Learned, until: f64, contended: bool) -> u32 {
        let mut task = l.new_task("flux-2-pro");
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1);
        let pending = crate::api::Status::Pending;
        let (mut t, mut polls) = (0.0, 0);
        while t < until {
            let ctx = PollContext {
                model: "flux-2-pro",
                polls,
                since_submit: Duration::from_secs_f64(t),
                last_status: (polls > 0).then_some(&pending),
                progress: None,
                contended,
            };
            t += task.next_delay(&ctx, &mut rng).unwrap().as_secs_f64();
            polls += 1;
        }
        polls
    }

    #[test]
    fn contention_buys_lag_with_polls_only_for_the_default_and_only_when_contended() {
        let aware = Learned::new();
        let exact = Learned::with_lambda(DEFAULT_LAMBDA);
        assert_eq!(aware.name(), "learned");
        assert_eq!(exact.name(), "learned:lambda=0.1");
        // Before anything is learned: every 0.5 s under contention, the gradual backoff else.
        assert_eq!(polls_until(&aware, 6.0, true), 12);
        assert_eq!(polls_until(&aware, 6.0, false), 4);
        assert_eq!(polls_until(&exact, 6.0, true), 4);
        for l in [&aware, &exact] {
            observe_n(l, 64, |i| 5.0 + (i % 11) as f64 / 5.0);
        }
        assert!(aware.contended_plan("flux-2-pro").is_some());
        assert!(exact.contended_plan("flux-2-pro").is_none());
        assert!(polls_until(&aware, 8.0, true) > polls_until(&aware, 8.0, false));
        assert_eq!(
            polls_until(&exact, 8.0, true),
            polls_until(&exact, 8.0, false)
        );
    }

    fn observe_n(l: &Learned, n: usize, f: impl Fn(usize) -> f64) {
        for i in 0..n {
            let d = Duration::from_secs_f64(f(i));
            l.observe(&TaskObservation {
                model: "flux-2-pro".into(),
                last_pending_after: None,
                ready_seen_after: d + Duration::from_millis(300),
                server_ready_after: Some(d),
                server_duration: Some(d),
            });
        }
    }

    #[test]
    fn falls_back_to_gradual_until_it_has_samples() {
        let l = Learned::new();
        let d = delays(&mut *l.new_task("flux-2-pro"), 5, 1);
        let s: Vec<f64> = d.iter().map(|d| d.unwrap().as_secs_f64()).collect();
        assert_eq!(s, vec![1.0, 1.5, 2.25, 3.375, 5.0]);
        observe_n(&l, MIN_SAMPLES - 1, |i| 4.0 + (i % 5) as f64);
        assert!(l.plan("flux-2-pro").is_none());
        observe_n(&l, 1, |_| 6.0);
        assert!(l.plan("flux-2-pro").is_some());
        assert!(l.plan("other-model").is_none());
    }

    #[test]
    fn plans_around_the_learned_durations_and_walks_the_plan() {
        let l = Learned::with_target_polls(3.0).grid_steps(300);
        // Every task takes 10 s ± 0.5 s.
        observe_n(&l, 64, |i| 9.5 + (i % 11) as f64 / 10.0);
        let plan = l.plan("flux-2-pro").unwrap();
        assert!(plan.expected_polls <= 3.0 + 1e-9, "{plan:?}");
        assert!(plan.times[0] > 8.5 && plan.times[0] < 10.6, "{plan:?}");
        let d = delays(&mut *l.new_task("flux-2-pro"), plan.times.len() + 2, 1);
        let mut t = 0.0;
        for (k, want) in plan.times.iter().enumerate() {
            t += d[k].unwrap().as_secs_f64();
            assert!((t - want).abs() < 1e-6);
        }
        // Past the plan: the tail gap.
        assert!((d[plan.times.len()].unwrap().as_secs_f64() - plan.tail_gap).abs() < 1e-9);
    }

    #[test]
    fn replans_on_a_bounded_cadence_with_bounded_memory() {
        let l = Learned::new().capacity(64).grid_steps(300);
        observe_n(&l, 1000, |i| 3.0 + (i % 7) as f64);
        let models = l.models.read().unwrap();
        let m = &models["flux-2-pro"];
        assert_eq!(m.store.len(), 64);
        assert_eq!(m.store.seen(), 1000);
        assert_eq!(m.plan.as_ref().unwrap().samples, 64);
        // Replans happen every 16 samples once the ring is full; never per observation.
        assert!(m.planned_at > 1000 - 16);
    }

    #[test]
    fn names_say_the_tradeoff() {
        assert_eq!(Learned::new().name(), "learned");
        assert_eq!(Learned::with_lambda(0.5).name(), "learned:lambda=0.5");
        assert_eq!(Learned::with_target_polls(2.5).name(), "learned:polls=2.5");
    }
}
