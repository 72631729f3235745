//! Using the server's `progress` reports: where the next poll goes once one has been seen.
//!
//! With a learned sample of durations, the reports reweight it (a Bayesian posterior: each
//! sample's likelihood of the readings, under noise of [`READING_SD`]), and the oracle DP on
//! that posterior, with the plan's own `λ`, places the next poll. Coarse, noisy reports — the
//! real API's are — then narrow the remaining time as much as they can and no more. Without
//! samples, the remaining time is extrapolated from the latest reading.

use super::store::Point;
use crate::dist::Empirical;
use crate::strategy::oracle::{DpBuffers, Grid};

/// The standard deviation assumed of a progress reading (noise and rounding together).
pub(crate) const READING_SD: f64 = 0.1;
/// Readings kept per task.
const MAX_READINGS: usize = 32;
/// Steps of the grid the posterior schedule is planned on (per poll, so small: the DP is
/// quadratic in them). It starts at the shortest wait asked for, so none is spent below it.
const POSTERIOR_STEPS: usize = 48;
/// Overshoot of a bare extrapolation: a poll a hair late costs a little lag; one a hair early
/// costs a whole poll.
const MARGIN_FRACTION: f64 = 0.01;
const MARGIN_S: f64 = 0.01;
/// The shortest and longest waits it asks for.
const MIN_WAIT_S: f64 = 0.05;
const MAX_WAIT_S: f64 = 10.0;

/// What the posterior is built from: the plan's raw samples and smoothing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Basis {
    /// `(submit-to-ready, queue before generation, weight)` of each sample, seconds, sorted
    /// by the first.
    pub samples: Vec<(f64, f64, f64)>,
    /// The smoothing half-width in `ln t`.
    pub h: f64,
    /// The plan's poll cost.
    pub lambda: f64,
}

/// Samples closer than this fraction of the smoothing half-width, in `ln t` and in their
/// queue's share of the duration, are merged into one of their summed weight: far below the
/// smoothing's resolution, and several times fewer samples to weigh per reading.
const MERGE_FRACTION: f64 = 1.0 / 16.0;

impl Basis {
    /// The basis of `points` (smoothing half-width `h`, poll cost `lambda`): sorted by
    /// duration, near-duplicates merged at their weighted mean.
    pub(crate) fn new(points: &[Point], h: f64, lambda: f64) -> Self {
        let mut sorted: Vec<(f64, f64, f64)> = points
            .iter()
            .filter(|p| p.w > 0.0 && p.x.is_finite() && p.x > 0.0)
            .map(|p| (p.x, p.queue, p.w))
            .collect();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let close = (h * MERGE_FRACTION).exp_m1();
        let mut samples: Vec<(f64, f64, f64)> = Vec::with_capacity(sorted.len());
        // The open group: its first duration and queue share, and weighted sums.
        let mut group: Option<(f64, f64, f64, f64, f64)> = None;
        for (x, q, w) in sorted {
            if let Some((x0, share0, sx, sq, sw)) = group {
                if x <= x0 * (1.0 + close) && (q / x - share0).abs() <= close {
                    group = Some((x0, share0, sx + w * x, sq + w * q, sw + w));
                    continue;
                }
                samples.push((sx / sw, sq / sw, sw));
            }
            group = Some((x, q / x, w * x, w * q, w));
        }
        if let Some((_, _, sx, sq, sw)) = group {
            samples.push((sx / sw, sq / sw, sw));
        }
        Basis { samples, h, lambda }
    }
}

/// The progress readings of one task, and whether the latest poll gave one.
#[derive(Debug, Default)]
pub(crate) struct ProgressTrack {
    readings: Vec<(f64, f64)>,
    /// Readings recorded in all (the oldest beyond [`MAX_READINGS`] are dropped).
    recorded: usize,
    polls_seen: u32,
    fresh: bool,
    loglik: LoglikCache,
}

/// Each sample's log-likelihood of the readings so far, kept between polls so that a new
/// reading costs one term per sample rather than one per sample and reading.
#[derive(Debug, Default)]
struct LoglikCache {
    /// The address of the basis it was computed on (a task keeps its plans alive).
    basis: usize,
    /// The index in the basis of `ll[0]`.
    from: usize,
    /// The readings counted (of [`ProgressTrack::recorded`]).
    counted: usize,
    ll: Vec<f32>,
}

impl LoglikCache {
    /// Brings the log-likelihoods of the samples from `first` on up to date with `readings`.
    fn update(&mut self, basis: &Basis, first: usize, readings: &[(f64, f64)], recorded: usize) {
        let address = std::ptr::from_ref(basis) as usize;
        let stale = self.basis != address || recorded > MAX_READINGS || first < self.from;
        let new = if stale {
            self.basis = address;
            self.from = first;
            self.ll.clear();
            self.ll.resize(basis.samples.len() - first, 0.0);
            readings
        } else {
            &readings[readings.len() - (recorded - self.counted).min(readings.len())..]
        };
        self.counted = recorded;
        let live = &basis.samples[first..];
        for (&(x, q, _), ll) in live.iter().zip(&mut self.ll[first - self.from..]) {
            let per_s = 1.0 / (x - q).max(1e-9);
            let mut sum = f64::from(*ll);
            for &(s, p) in new {
                let z = (p - ((s - q) * per_s).clamp(0.0, 1.0)) * (1.0 / READING_SD);
                sum -= 0.5 * z * z;
            }
            *ll = sum as f32;
        }
    }

    /// The log-likelihoods of the samples from `first` on (after [`LoglikCache::update`]).
    fn from(&self, first: usize) -> &[f32] {
        &self.ll[first - self.from..]
    }
}

impl ProgressTrack {
    /// Records what the poll numbered `polls` reported at `now` (seconds since submit).
    pub(crate) fn record(&mut self, polls: u32, now: f64, progress: Option<f64>) {
        if polls == 0 || polls == self.polls_seen {
            return; // before the first poll, or the same answer seen again
        }
        self.polls_seen = polls;
        self.fresh = false;
        let Some(p) = progress.filter(|p| p.is_finite() && (0.0..=1.0).contains(p)) else {
            return;
        };
        if self.readings.len() == MAX_READINGS {
            self.readings.remove(0);
        }
        self.readings.push((now, p));
        self.recorded += 1;
        self.fresh = true;
    }

    /// The wait before the next poll, if the latest poll reported progress.
    pub(crate) fn next_wait(&mut self, now: f64, basis: Option<&Basis>) -> Option<f64> {
        if !self.fresh {
            return None;
        }
        let wait = match basis {
            Some(b) => self.posterior_wait(now, b)?,
            None => self.extrapolated_wait(now)?,
        };
        Some(wait.clamp(MIN_WAIT_S, MAX_WAIT_S))
    }

    /// The latest reading extrapolated, progress taken to have run since the submit.
    fn extrapolated_wait(&self, now: f64) -> Option<f64> {
        let &(s, p) = self.readings.last()?;
        if !(p > 0.0 && p < 1.0) {
            return None;
        }
        let remaining = s * (1.0 - p) / p;
        Some(remaining * (1.0 + MARGIN_FRACTION) + MARGIN_S - (now - s))
    }

    /// The first poll of the oracle schedule on the posterior of the remaining time.
    ///
    /// The basis is sorted by duration, so the samples already past are skipped by bisection
    /// and the posterior's pieces come sorted (its CDF table is one linear sweep); samples
    /// whose weight is below the cut are dropped before their `exp`.
    fn posterior_wait(&mut self, now: f64, basis: &Basis) -> Option<f64> {
        let (grow, shrink) = (basis.h.exp(), (-basis.h).exp());
        let first = basis.samples.partition_point(|s| s.0 * grow <= now);
        let live = &basis.samples[first..];
        self.loglik
            .update(basis, first, &self.readings, self.recorded);
        let cached = self.loglik.from(first);
        SCRATCH.with_borrow_mut(|scratch| {
            let Scratch { ll, dist, grid, dp } = scratch;
            ll.clear();
            ll.extend(cached.iter().map(|&l| f64::from(l)));
            let best = ll.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if !best.is_finite() {
                return None;
            }
            let heaviest = live.iter().map(|s| s.2).fold(1.0, f64::max);
            let cut = LN_MIN_WEIGHT - heaviest.ln();
            dist.clear();
            let mut lo = f64::INFINITY;
            for (&(x, _, weight), l) in live.iter().zip(ll.iter_mut()) {
                // `weight · e^(l − best) < MIN_WEIGHT` for certain: skip the `exp`.
                let w = if *l - best < cut {
                    0.0
                } else {
                    weight * (*l - best).exp()
                };
                *l = 0.0; // from here on, the mass pushed
                let (a, b) = (x * shrink, x * grow);
                if w < MIN_WEIGHT || b <= now || b <= a {
                    continue;
                }
                // Only the part still ahead, measured from now.
                let a2 = a.max(now);
                *l = w * (b - a2) / (b - a);
                dist.push(a2 - now, b - now, *l);
                lo = lo.min(a2 - now);
            }
            if dist.is_empty() {
                return None;
            }
            // The grid ends where all but GRID_TAIL of the mass is behind (pieces end in order).
            let tail = GRID_TAIL * ll.iter().sum::<f64>();
            let mut above = 0.0;
            let last = ll.iter().rposition(|&m| {
                above += m;
                above > tail
            });
            let hi = last.map_or(0.0, |k| live[k].0 * grow - now);
            grid.refill_log_spaced(dist, lo.max(MIN_WAIT_S), hi, POSTERIOR_STEPS);
            grid.first_optimal_with(basis.lambda, dp)
        })
    }
}

/// The posterior mass the planning grid leaves past its end.
const GRID_TAIL: f64 = 1e-4;
/// Posterior weights below this are dropped.
const MIN_WEIGHT: f64 = 1e-6;
/// `ln MIN_WEIGHT`, a little below it so that rounding never drops a sample the cut keeps.
const LN_MIN_WEIGHT: f64 = -13.82;

/// The buffers of the posterior being built, reused from poll to poll (no allocation per poll).
struct Scratch {
    /// The per-sample log-likelihoods, then masses.
    ll: Vec<f64>,
    /// The posterior of the remaining time.
    dist: Empirical,
    /// Its planning grid.
    grid: Grid,
    /// The oracle DP's buffers.
    dp: DpBuffers,
}

std::thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch {
        ll: Vec::new(),
        dist: Empirical::new(),
        grid: Grid::empty(),
        dp: DpBuffers::default(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_reading_extrapolates_from_the_submit_without_samples() {
        let mut t = ProgressTrack::default();
        assert_eq!(t.next_wait(0.0, None), None);
        t.record(1, 3.0, Some(0.5));
        let w = t.next_wait(3.0, None).unwrap();
        assert!((w - (3.0 * 1.01 + 0.01)).abs() < 1e-9);
        // The same poll again keeps it; a poll without progress drops back to the plan.
        t.record(1, 3.0, Some(0.5));
        assert!(t.next_wait(3.0, None).is_some());
        t.record(2, 4.0, None);
        assert_eq!(t.next_wait(4.0, None), None);
    }

    #[test]
    fn absurd_extrapolations_are_capped() {
        let mut t = ProgressTrack::default();
        t.record(1, 1.0, Some(0.001));
        assert_eq!(t.next_wait(1.0, None), Some(MAX_WAIT_S));
        t.record(2, 1.5, Some(0.999_99));
        assert_eq!(t.next_wait(1.5, None), Some(MIN_WAIT_S));
    }

    #[test]
    fn the_posterior_puts_the_poll_near_the_durations_the_reading_points_to() {
        // Durations 4 s .. 12 s, evenly; at 3 s the task reports half done: about 6 s.
        let basis = Basis {
            samples: (0..=80).map(|i| (4.0 + 0.1 * i as f64, 0.0, 1.0)).collect(),
            h: 0.02,
            lambda: 0.05,
        };
        let mut t = ProgressTrack::default();
        t.record(1, 3.0, Some(0.5));
        let w = t.next_wait(3.0, Some(&basis)).unwrap();
        assert!(w > 1.5 && w < 4.0, "{w}");
        // Reported 0.2 instead: the task is slower, the poll later.
        let mut slow = ProgressTrack::default();
        slow.record(1, 3.0, Some(0.3));
        assert!(slow.next_wait(3.0, Some(&basis)).unwrap() > w);
    }

    #[test]
    fn the_reused_buffers_carry_nothing_from_one_posterior_to_the_next() {
        let wide = Basis {
            samples: (0..=80).map(|i| (4.0 + 0.1 * i as f64, 0.0, 1.0)).collect(),
            h: 0.02,
            lambda: 0.05,
        };
        let narrow = Basis {
            samples: vec![(9.0, 1.0, 1.0), (9.5, 1.0, 2.0)],
            h: 0.05,
            lambda: 0.5,
        };
        let wait = |basis: &Basis| {
            let mut t = ProgressTrack::default();
            t.record(1, 3.0, Some(0.4));
            t.next_wait(3.0, Some(basis)).unwrap()
        };
        let (first, small) = (wait(&wide), wait(&narrow));
        assert_ne!(first, small);
        assert_eq!(wait(&wide), first);
        assert_eq!(wait(&narrow), small);
    }
}
