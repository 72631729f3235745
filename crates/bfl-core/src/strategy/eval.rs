//! A fast, schedule-only evaluation of a strategy: no simulator, no round trips, no server.
//!
//! Each job draws a duration `T` from a distribution; the strategy's delays are applied from
//! the submit, and the first poll at or after `T` sees `Ready`. Finished jobs are shown to the
//! factory (`observe`), as the client does, so learning strategies learn. Durations come from
//! their own seeded stream, so every strategy meets the same jobs.
//!
//! ```
//! use bfl_core::strategy::eval::{evaluate, EvalConfig};
//! use bfl_core::{dist::DurationDist, strategy::preset};
//! let cfg = EvalConfig::new(DurationDist::LogNormal { median: 6.0, sigma: 0.5 }, 2000, 1);
//! let r = evaluate(&*preset("fixed-2s").unwrap(), &cfg);
//! assert!((r.polls_per_job - 4.9).abs() < 0.2 && (r.lag.mean - 1.0).abs() < 0.1);
//! ```

use super::{PollContext, StrategyFactory, TaskObservation};
use crate::api::Status;
use crate::dist::DurationDist;
use crate::stats::Spread;
use rand::{Rng, SeedableRng};
use std::time::Duration;

/// What to run.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    /// The durations.
    pub dist: DurationDist,
    /// Jobs measured.
    pub jobs: usize,
    /// Jobs run first and not measured (a learning strategy's warm-up).
    pub warmup: usize,
    /// The seed of durations and of the strategies' randomness.
    pub seed: u64,
    /// Whether polls report `progress` (elapsed / duration, linear from the submit, with
    /// [`EvalConfig::progress_noise`]).
    pub progress: bool,
    /// How coarse and noisy the progress reports are.
    pub progress_noise: ProgressNoise,
    /// Whether finished tasks report the server's ready time (else only the poll bracket).
    pub server_times: bool,
    /// The model id the tasks use.
    pub model: String,
    /// A job still pending this long after submit counts as given up.
    pub deadline: Duration,
}

impl EvalConfig {
    /// `jobs` jobs of `dist` after a 200-job warm-up, progress off, server times on.
    pub fn new(dist: DurationDist, jobs: usize, seed: u64) -> Self {
        EvalConfig {
            dist,
            jobs,
            warmup: 200,
            seed,
            progress: false,
            progress_noise: ProgressNoise::COARSE,
            server_times: true,
            model: "flux-2-pro".into(),
            deadline: Duration::from_secs(600),
        }
    }
}

/// How progress reports deviate from the true fraction done.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProgressNoise {
    /// Standard deviation of Gaussian noise added to the fraction.
    pub sd: f64,
    /// Rounding step of the report (0: none).
    pub step: f64,
    /// The largest value reported while pending.
    pub cap: f64,
}

impl ProgressNoise {
    /// The true fraction.
    pub const EXACT: ProgressNoise = ProgressNoise {
        sd: 0.0,
        step: 0.0,
        cap: 1.0,
    };
    /// As bfl-sim reports it: ±0.08 noise, rounded to 0.1, at most 0.9.
    pub const COARSE: ProgressNoise = ProgressNoise {
        sd: 0.08,
        step: 0.1,
        cap: 0.9,
    };

    /// The reading reported for a true `fraction` done (the simulator reports with
    /// [`ProgressNoise::COARSE`]).
    pub fn report(&self, fraction: f64, rng: &mut dyn rand::RngCore) -> f64 {
        let noisy = if self.sd > 0.0 {
            fraction + self.sd * crate::stats::standard_normal(rng)
        } else {
            fraction
        };
        let clamped = noisy.clamp(0.0, self.cap);
        if self.step > 0.0 {
            // Steps per unit (10 for 0.1, exactly), so a reading is k/10 as written.
            let per_unit = 1.0 / self.step;
            (clamped * per_unit).round() / per_unit
        } else {
            clamped
        }
    }
}

/// What a strategy did on the measured jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalResult {
    /// The strategy's name.
    pub strategy: String,
    /// Jobs measured.
    pub jobs: usize,
    /// Polls per measured job (those given up included).
    pub polls_per_job: f64,
    /// Detection lag of the jobs seen ready, seconds.
    pub lag: Spread,
    /// Jobs the strategy gave up on, or still pending at the deadline.
    pub gave_up: usize,
}

/// Runs `factory` over the jobs of `cfg`.
pub fn evaluate(factory: &dyn StrategyFactory, cfg: &EvalConfig) -> EvalResult {
    let mut durations = rand::rngs::StdRng::seed_from_u64(cfg.seed);
    let mut jitter = rand::rngs::StdRng::seed_from_u64(cfg.seed ^ crate::stats::GOLDEN_GAMMA);
    let mut noise = rand::rngs::StdRng::seed_from_u64(cfg.seed ^ 0x5851_f42d_4c95_7f2d);
    let (mut polls, mut gave_up, mut lags) = (0u64, 0usize, Vec::with_capacity(cfg.jobs));
    for job in 0..cfg.warmup + cfg.jobs {
        let t_ready = cfg.dist.quantile(durations.random::<f64>());
        let run = run_job(factory, cfg, t_ready, &mut jitter, &mut noise);
        if job < cfg.warmup {
            continue;
        }
        polls += u64::from(run.polls);
        match run.lag {
            Some(l) => lags.push(l),
            None => gave_up += 1,
        }
    }
    EvalResult {
        strategy: factory.name(),
        jobs: cfg.jobs,
        polls_per_job: polls as f64 / cfg.jobs.max(1) as f64,
        lag: Spread::of(lags),
        gave_up,
    }
}

struct JobRun {
    polls: u32,
    lag: Option<f64>,
}

fn run_job(
    factory: &dyn StrategyFactory,
    cfg: &EvalConfig,
    t_ready: f64,
    rng: &mut dyn rand::RngCore,
    noise: &mut dyn rand::RngCore,
) -> JobRun {
    let mut strategy = factory.new_task(&cfg.model);
    let pending = Status::Pending;
    let deadline = cfg.deadline.as_secs_f64();
    let (mut t, mut polls, mut last_pending) = (0.0f64, 0u32, None);
    loop {
        let progress = (cfg.progress && polls > 0).then(|| {
            cfg.progress_noise
                .report((t / t_ready).clamp(0.0, 1.0), noise)
        });
        let ctx = PollContext {
            model: &cfg.model,
            polls,
            since_submit: Duration::from_secs_f64(t),
            last_status: (polls > 0).then_some(&pending),
            progress,
            // One job at a time: nothing ever waits for its slot.
            contended: false,
        };
        let Some(delay) = strategy.next_delay(&ctx, rng) else {
            return JobRun { polls, lag: None };
        };
        t += delay.as_secs_f64();
        if t > deadline {
            return JobRun { polls, lag: None };
        }
        polls += 1;
        if t >= t_ready {
            factory.observe(&TaskObservation {
                model: cfg.model.clone(),
                last_pending_after: last_pending.map(Duration::from_secs_f64),
                ready_seen_after: Duration::from_secs_f64(t),
                server_ready_after: cfg.server_times.then(|| Duration::from_secs_f64(t_ready)),
                server_duration: cfg.server_times.then(|| Duration::from_secs_f64(t_ready)),
            });
            return JobRun {
                polls,
                lag: Some(t - t_ready),
            };
        }
        last_pending = Some(t);
    }
}
