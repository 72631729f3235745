//! Using the server's `progress` reports: where the next poll goes once one has been seen.
//!
//! With a learned sample of durations, the reports reweight it (a Bayesian posterior: each
//! sample's likelihood of the readings, under noise of [`READING_SD`]), and the oracle DP on
//! that posterior, with the plan's own `λ`, places the next poll. Coarse, noisy reports — the
//! real API's are — then narrow the remaining time as much as they can and no more. Without
//! samples, the remaining time is extrapolated from the latest reading.

use crate::strategy::oracle::{DurationDist, Empirical, Grid};

/// The standard deviation assumed of a progress reading (noise and rounding together).
pub(crate) const READING_SD: f64 = 0.1;
/// Readings kept per task.
const MAX_READINGS: usize = 32;
/// Steps of the grid the posterior schedule is planned on (per poll, so small).
const POSTERIOR_STEPS: usize = 96;
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
    /// `(submit-to-ready, queue before generation, weight)` of each sample, seconds.
    pub samples: Vec<(f64, f64, f64)>,
    /// The smoothing half-width in `ln t`.
    pub h: f64,
    /// The plan's poll cost.
    pub lambda: f64,
}

/// The progress readings of one task, and whether the latest poll gave one.
#[derive(Debug, Default)]
pub(crate) struct ProgressTrack {
    readings: Vec<(f64, f64)>,
    polls_seen: u32,
    fresh: bool,
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
        self.fresh = true;
    }

    /// The wait before the next poll, if the latest poll reported progress.
    pub(crate) fn next_wait(&self, now: f64, basis: Option<&Basis>) -> Option<f64> {
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
    fn posterior_wait(&self, now: f64, basis: &Basis) -> Option<f64> {
        let loglik = |x: f64, q: f64| -> f64 {
            let gen = (x - q).max(1e-9);
            self.readings
                .iter()
                .map(|&(s, p)| {
                    let f = ((s - q) / gen).clamp(0.0, 1.0);
                    let z = (p - f) / READING_SD;
                    -0.5 * z * z
                })
                .sum()
        };
        let live: Vec<(f64, f64, f64)> = basis
            .samples
            .iter()
            .filter(|(x, _, w)| *x * basis.h.exp() > now && *w > 0.0)
            .map(|&(x, q, w)| (x, loglik(x, q), w))
            .collect();
        let best = live.iter().map(|l| l.1).fold(f64::NEG_INFINITY, f64::max);
        if !best.is_finite() {
            return None;
        }
        let mut e = Empirical::new();
        let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
        for (x, ll, weight) in live {
            let w = weight * (ll - best).exp();
            let (a, b) = (x * (-basis.h).exp(), x * basis.h.exp());
            if w < 1e-6 || b <= now || b <= a {
                continue;
            }
            // Only the part still ahead, measured from now.
            let a2 = a.max(now);
            e.push(a2 - now, b - now, w * (b - a2) / (b - a));
            lo = lo.min(a2 - now);
            hi = hi.max(b - now);
        }
        if e.is_empty() {
            return None;
        }
        let dist = DurationDist::Empirical(e);
        let grid = Grid::log_spaced(&dist, lo.max(0.01), hi, POSTERIOR_STEPS);
        grid.optimal(basis.lambda).times.first().copied()
    }
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
}
