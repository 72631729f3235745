//! The oracle: the best open-loop poll schedule for a known duration distribution.
//!
//! A task becomes ready at a random time `T` after its submit; a schedule polls at fixed times
//! `t₁ < t₂ < …` and the first `tₖ ≥ T` sees it ready, with detection lag `tₖ − T` after `k`
//! polls. For a poll cost `λ` (seconds of lag one poll is worth), the schedule minimising
//! `E[lag] + λ·E[polls]` is found by dynamic programming over a fine grid of candidate times —
//! the discrete form of Barlow, Hunter and Proschan's optimum checking, whose continuous
//! optimum satisfies `tₖ₊₁ − tₖ + λ = (F(tₖ) − F(tₖ₋₁)) / f(tₖ)`. Sweeping `λ` traces the
//! frontier of (polls per job, mean lag) that no open-loop strategy can beat.
//!
//! Pure: no randomness and no clock. The distribution is [`crate::dist`]'s, the simulator's own.
//!
//! ```
//! use bfl_core::dist::DurationDist;
//! use bfl_core::strategy::oracle::Grid;
//! let dist = DurationDist::LogNormal { median: 6.0, sigma: 0.5 };
//! let grid = Grid::new(&dist, 2000);
//! let s = grid.schedule_for_polls(5.2);
//! assert!((s.expected_polls - 5.2).abs() < 0.1);
//! assert!(s.mean_lag < 0.55);
//! ```

mod dp;

use crate::dist::{DurationDist, Empirical};
pub(crate) use dp::DpBuffers;

/// Candidate poll times `0 = t₀ < t₁ < … < t_N` with the distribution's CDF and partial mean
/// at each, so that every schedule over them is scored exactly.
#[derive(Debug, Clone)]
pub struct Grid {
    t: Vec<f64>,
    f: Vec<f64>,
    m: Vec<f64>,
}

/// A poll schedule and its exact score on its grid's distribution.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Poll times, seconds since submit, increasing.
    pub times: Vec<f64>,
    /// The poll cost it was optimised for (`NaN` for a schedule scored as given).
    pub lambda: f64,
    /// `E[polls]` per job (the poll that sees `Ready` included).
    pub expected_polls: f64,
    /// `E[lag]`, seconds (mass past the last poll, at most the grid's tail, is not counted).
    pub mean_lag: f64,
}

/// One point of the oracle frontier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrontierPoint {
    /// The poll cost.
    pub lambda: f64,
    /// `E[polls]` per job.
    pub polls_per_job: f64,
    /// `E[lag]`, seconds.
    pub mean_lag_s: f64,
}

/// The tail mass a grid leaves out past its last point.
const TAIL: f64 = 1e-6;

impl Grid {
    /// A uniform grid of `steps` steps from 0 to the distribution's `1 − 10⁻⁶` quantile (the
    /// largest value of an empirical one, the value of a fixed one).
    pub fn new(dist: &DurationDist, steps: usize) -> Self {
        let horizon = dist.horizon(TAIL).max(1e-6);
        let steps = steps.max(1);
        let times = (0..=steps).map(|i| horizon * i as f64 / steps as f64);
        Self::with_times(dist, times)
    }

    /// A grid of `steps` steps spaced evenly in `ln t` from `lo` to `hi` (plus 0): the same
    /// relative resolution at every scale, which suits skewed durations.
    pub fn log_spaced(dist: &DurationDist, lo: f64, hi: f64, steps: usize) -> Self {
        let mut times = Vec::new();
        push_log_times(&mut times, lo, hi, steps);
        Self::with_times(dist, times)
    }

    /// A grid with nothing in it, to be filled by [`Grid::refill_log_spaced`].
    pub(crate) fn empty() -> Self {
        Grid {
            t: Vec::new(),
            f: Vec::new(),
            m: Vec::new(),
        }
    }

    /// Makes this grid [`Grid::log_spaced`]'s over the mixture `dist`, in its own buffers (no
    /// allocation once they have grown: the posterior planner refills one grid per poll).
    pub(crate) fn refill_log_spaced(&mut self, dist: &Empirical, lo: f64, hi: f64, steps: usize) {
        self.t.clear();
        self.t.push(0.0);
        // Increasing from lo > 0 by a ratio > 1: already sorted, no duplicates.
        push_log_times(&mut self.t, lo, hi, steps);
        dist.tabulate_into(&self.t, &mut self.f, &mut self.m);
    }

    /// A grid over the given times (sorted, deduplicated, with 0 added).
    pub fn with_times(dist: &DurationDist, times: impl IntoIterator<Item = f64>) -> Self {
        let mut t: Vec<f64> = std::iter::once(0.0)
            .chain(times.into_iter().filter(|x| x.is_finite() && *x >= 0.0))
            .collect();
        t.sort_by(f64::total_cmp);
        t.dedup();
        let (f, m) = dist.tabulate(&t);
        Grid { t, f, m }
    }

    /// The candidate times.
    pub fn times(&self) -> &[f64] {
        &self.t
    }

    /// `E[(t_j − T)·1{t_i < T ≤ t_j}]`: the lag of the mass that poll `j` catches after `i`.
    fn lag(&self, i: usize, j: usize) -> f64 {
        (self.t[j] * (self.f[j] - self.f[i]) - (self.m[j] - self.m[i])).max(0.0)
    }

    /// The schedule minimising `E[lag] + λ·E[polls]` over this grid.
    pub fn optimal(&self, lambda: f64) -> Schedule {
        let idx = self.optimal_indices(lambda.max(0.0));
        let mut s = self.score(&idx);
        s.lambda = lambda;
        s
    }

    /// The first poll of [`Grid::optimal`]'s schedule, without scoring the whole schedule
    /// (what a planner that replans after every poll needs).
    pub fn first_optimal(&self, lambda: f64) -> Option<f64> {
        self.first_optimal_with(lambda, &mut DpBuffers::default())
    }

    /// [`Grid::first_optimal`] in reused buffers.
    pub(crate) fn first_optimal_with(&self, lambda: f64, buf: &mut DpBuffers) -> Option<f64> {
        let mut first = 0;
        dp::solve(&self.t, &self.f, &self.m, lambda.max(0.0), buf, |i, j| {
            if i == 0 {
                first = j;
            }
        });
        (first < self.t.len() && first > 0).then(|| self.t[first])
    }

    fn optimal_indices(&self, lambda: f64) -> Vec<usize> {
        let next = self.successors(lambda);
        let n = self.t.len() - 1;
        let mut idx = Vec::new();
        let mut i = 0;
        while i < n {
            i = next[i];
            idx.push(i);
        }
        idx
    }

    /// For each grid point, the next poll of the optimal schedule after a pending poll there.
    fn successors(&self, lambda: f64) -> Vec<usize> {
        let n = self.t.len() - 1;
        let mut next = vec![n; n + 1];
        dp::solve(
            &self.t,
            &self.f,
            &self.m,
            lambda,
            &mut DpBuffers::default(),
            |i, j| next[i] = j,
        );
        next
    }

    /// Scores polls at the grid points `idx` (increasing) exactly.
    fn score(&self, idx: &[usize]) -> Schedule {
        let (mut polls, mut lag, mut prev) = (0.0, 0.0, 0usize);
        for &j in idx {
            polls += 1.0 - self.f[prev];
            lag += self.lag(prev, j);
            prev = j;
        }
        Schedule {
            times: idx.iter().map(|&j| self.t[j]).collect(),
            lambda: f64::NAN,
            expected_polls: polls,
            mean_lag: lag,
        }
    }

    /// The frontier for each `λ`.
    pub fn frontier(&self, lambdas: &[f64]) -> Vec<FrontierPoint> {
        lambdas
            .iter()
            .map(|&l| {
                let s = self.optimal(l);
                FrontierPoint {
                    lambda: l,
                    polls_per_job: s.expected_polls,
                    mean_lag_s: s.mean_lag,
                }
            })
            .collect()
    }

    /// The optimal schedule whose expected polls are closest to `target` from below (or the
    /// one with the fewest polls, if even that has more), by bisection on `λ`.
    pub fn schedule_for_polls(&self, target: f64) -> Schedule {
        self.schedule_for_polls_by(target, &|s| s.expected_polls)
    }

    /// As [`Grid::schedule_for_polls`], with the polls of a schedule measured by `polls`
    /// (e.g. counted on raw samples rather than on the smoothed distribution the grid holds).
    /// `polls` must not increase with `λ`.
    pub fn schedule_for_polls_by(&self, target: f64, polls: &dyn Fn(&Schedule) -> f64) -> Schedule {
        let ((lo, _), _) = self.bracket(target, polls);
        lo
    }

    /// The oracle's mean lag at exactly `polls` polls per job, interpolating between the two
    /// optimal schedules around it (mixing them achieves every point between).
    pub fn lag_at_polls(&self, polls: f64) -> f64 {
        let ((a, _), (b, _)) = self.bracket(polls, &|s| s.expected_polls);
        crate::stats::interpolate(
            polls,
            (a.expected_polls, a.mean_lag),
            (b.expected_polls, b.mean_lag),
        )
    }

    /// Two optimal schedules with their measured polls: the first with polls ≤ target (or the
    /// fewest), the second with more, as close as bisection on `log λ` gets.
    #[allow(clippy::type_complexity)]
    fn bracket(
        &self,
        target: f64,
        measure: &dyn Fn(&Schedule) -> f64,
    ) -> ((Schedule, f64), (Schedule, f64)) {
        // λ in seconds of lag per poll: from far below a grid step to the horizon itself.
        let scale = self.t.last().copied().unwrap_or(1.0).max(1e-9);
        let at = |l: f64| {
            let s = self.optimal(l.exp());
            let p = measure(&s);
            (s, p)
        };
        let (mut lo_l, mut hi_l) = ((scale * 1e-6).ln(), scale.ln());
        let mut few = at(hi_l); // few polls
        let mut many = at(lo_l); // many polls
        if few.1 > target {
            return (few.clone(), few);
        }
        if many.1 <= target {
            return (many.clone(), many);
        }
        // Illinois false position on (ln λ, ln polls): polls fall roughly as a power of λ, so
        // this converges in a handful of DPs where bisection takes dozens.
        let g = |p: f64| p.max(1e-9).ln() - target.ln();
        let (mut g_lo, mut g_hi) = (g(many.1), g(few.1));
        let mut side = 0i8;
        for _ in 0..30 {
            // Close enough for lag figures: interpolation covers the rest.
            let tol = 1e-3 * target.max(1.0);
            if many.1 - few.1 < tol || target - few.1 < tol {
                break;
            }
            let width = hi_l - lo_l;
            let mut x = hi_l - g_hi * width / (g_hi - g_lo);
            if !(x > lo_l + 0.01 * width && x < hi_l - 0.01 * width) {
                x = lo_l + 0.5 * width;
            }
            let s = at(x);
            let gx = g(s.1);
            if s.1 <= target {
                hi_l = x;
                g_hi = gx;
                few = s;
                if side == 1 {
                    g_lo *= 0.5;
                }
                side = 1;
            } else {
                lo_l = x;
                g_lo = gx;
                many = s;
                if side == -1 {
                    g_hi *= 0.5;
                }
                side = -1;
            }
        }
        (few, many)
    }
}

/// Appends `steps + 1` times spaced evenly in `ln t` from `lo` (at least 1 ms) to `hi` (above
/// `lo`) to `out`, by a running product: one `exp` for the whole grid.
fn push_log_times(out: &mut Vec<f64>, lo: f64, hi: f64, steps: usize) {
    let lo = lo.max(1e-3);
    let hi = hi.max(lo * (1.0 + 1e-9));
    let steps = steps.max(1);
    let ratio = ((hi / lo).ln() / steps as f64).exp();
    out.reserve(steps + 1);
    let mut t = lo;
    for _ in 0..=steps {
        out.push(t);
        t *= ratio;
    }
}

/// Scores any schedule exactly against a distribution (grid-free).
pub fn evaluate(dist: &DurationDist, times: &[f64]) -> Schedule {
    let grid = Grid {
        t: std::iter::once(0.0).chain(times.iter().copied()).collect(),
        f: std::iter::once(0.0)
            .chain(times.iter().map(|&x| dist.cdf(x)))
            .collect(),
        m: std::iter::once(0.0)
            .chain(times.iter().map(|&x| dist.partial_mean(x)))
            .collect(),
    };
    let idx: Vec<usize> = (1..grid.t.len()).collect();
    grid.score(&idx)
}

/// `n` values of `λ` spread geometrically over `[lo, hi]`.
pub fn lambda_sweep(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let n = n.max(2);
    let (a, b) = (lo.max(1e-12).ln(), hi.max(lo).max(1e-12).ln());
    (0..n)
        .map(|i| (a + (b - a) * i as f64 / (n - 1) as f64).exp())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s1() -> DurationDist {
        DurationDist::LogNormal {
            median: 6.0,
            sigma: 0.5,
        }
    }

    #[test]
    fn dp_matches_brute_force_on_tiny_grids() {
        let dists = [
            s1(),
            DurationDist::LogNormal {
                median: 2.0,
                sigma: 0.3,
            },
            DurationDist::Fixed(3.0),
        ];
        for dist in &dists {
            let grid = Grid::with_times(dist, (1..=10).map(|i| i as f64 * 1.1));
            let n = grid.t.len() - 1;
            for lambda in [0.0, 0.05, 0.3, 1.0, 4.0, 50.0] {
                let dp = grid.optimal(lambda);
                let dp_cost = dp.mean_lag + lambda * dp.expected_polls;
                let mut best = f64::INFINITY;
                // Every subset of the interior points, always ending at the last one.
                for mask in 0u32..(1 << (n - 1)) {
                    let mut idx: Vec<usize> =
                        (1..n).filter(|&k| mask >> (k - 1) & 1 == 1).collect();
                    idx.push(n);
                    let s = grid.score(&idx);
                    best = best.min(s.mean_lag + lambda * s.expected_polls);
                }
                assert!(
                    (dp_cost - best).abs() < 1e-9,
                    "{dist} λ={lambda}: dp {dp_cost} vs brute {best}"
                );
            }
        }
    }

    #[test]
    fn reproduces_the_benchmark_reference_points() {
        let dist = s1();
        // Fixed 2 s (with the recipes' poll at once): ≈ 4.9 polls, ≈ 1.0 s lag.
        let fixed: Vec<f64> = (0..200).map(|k| 2.0 * k as f64).collect();
        let f = evaluate(&dist, &fixed);
        assert!((f.expected_polls - 4.9).abs() < 0.05, "{f:?}");
        assert!((f.mean_lag - 1.0).abs() < 0.02, "{f:?}");
        // The oracle: ≈ 0.49 s at ≈ 5.2 polls.
        let grid = Grid::new(&dist, 2000);
        let lag = grid.lag_at_polls(5.2);
        assert!((lag - 0.49).abs() < 0.02, "oracle lag at 5.2 polls: {lag}");
        // And it beats fixed 2 s at fixed 2 s's own polls by half.
        assert!(grid.lag_at_polls(f.expected_polls) < 0.55 * f.mean_lag);
    }

    #[test]
    fn interior_polls_satisfy_barlow_hunter_proschan() {
        let dist = s1();
        let grid = Grid::new(&dist, 4000);
        let lambda = 0.4;
        let s = grid.optimal(lambda);
        let h = 1e-4;
        let pdf = |t: f64| (dist.cdf(t + h) - dist.cdf(t - h)) / (2.0 * h);
        let mut checked = 0;
        for k in 1..s.times.len().saturating_sub(1) {
            let (prev, t, next) = (s.times[k - 1], s.times[k], s.times[k + 1]);
            if dist.cdf(t) > 0.99 {
                break;
            }
            let rhs = (dist.cdf(t) - dist.cdf(prev)) / pdf(t);
            let lhs = next - t + lambda;
            assert!(
                (lhs - rhs).abs() < 0.05 * rhs,
                "poll {k} at {t}: {lhs} vs {rhs}"
            );
            checked += 1;
        }
        assert!(checked >= 3, "{s:?}");
    }

    #[test]
    fn frontier_trades_polls_for_lag_and_fixed_durations_need_one_poll() {
        let grid = Grid::new(&s1(), 1500);
        let pts = grid.frontier(&lambda_sweep(0.01, 10.0, 12));
        for w in pts.windows(2) {
            assert!(w[1].polls_per_job <= w[0].polls_per_job + 1e-9);
            assert!(w[1].mean_lag_s >= w[0].mean_lag_s - 1e-9);
        }
        assert!(pts[0].polls_per_job > 10.0 && pts[0].mean_lag_s < 0.2);
        let fixed = Grid::new(&DurationDist::Fixed(5.0), 100).optimal(0.1);
        assert_eq!(fixed.times, vec![5.0]);
        assert_eq!((fixed.expected_polls, fixed.mean_lag), (1.0, 0.0));
    }

    #[test]
    fn schedule_for_polls_hits_the_target_from_below() {
        let grid = Grid::new(&s1(), 1500);
        for target in [2.0, 4.0, 8.0] {
            let s = grid.schedule_for_polls(target);
            assert!(s.expected_polls <= target + 1e-9);
            assert!(s.expected_polls > target - 0.1, "{target}: {s:?}");
        }
    }
}
