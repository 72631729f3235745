//! What `learned` remembers of a model: a bounded ring of duration observations, and the
//! smoothed distribution estimated from them.

use crate::dist::{DurationDist, Empirical};
use crate::strategy::TaskObservation;
use std::collections::VecDeque;

/// One task's duration (submit to `Ready`, seconds), known exactly (`lo == hi`) or only to lie
/// in `(lo, hi]` — between the last poll that saw it pending and the first that saw it ready.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    pub lo: f64,
    pub hi: f64,
    /// Time queued before generation started (from the server's `duration`), else 0.
    pub queue: f64,
}

impl Sample {
    /// The duration a finished task teaches: the server's own ready time when it gave one that
    /// is consistent with our polls, else the censoring interval our polls bracket. Using the
    /// first poll that saw `Ready` as the duration would overstate every duration by the lag.
    pub(crate) fn from_observation(obs: &TaskObservation) -> Option<Sample> {
        let hi = obs.ready_seen_after.as_secs_f64();
        if !(hi.is_finite() && hi > 0.0) {
            return None;
        }
        let lo = obs
            .last_pending_after
            .map_or(0.0, |d| d.as_secs_f64())
            .min(hi);
        let gen = obs.server_duration.map(|d| d.as_secs_f64());
        if let Some(x) = obs.server_ready_after.map(|d| d.as_secs_f64()) {
            // Allow for round trips and clock skew before trusting the server's end_time.
            let slack = 0.25 + 0.05 * hi;
            if x > 0.0 && x >= lo - slack && x <= hi + slack {
                let queue = gen.map_or(0.0, |g| (x - g).clamp(0.0, x));
                return Some(Sample {
                    lo: x,
                    hi: x,
                    queue,
                });
            }
        }
        let queue = gen.map_or(0.0, |g| (hi - g).clamp(0.0, lo));
        Some(Sample { lo, hi, queue })
    }
}

/// The last `capacity` samples of one model (a ring: recent behaviour wins, memory is bounded).
#[derive(Debug, Clone)]
pub(crate) struct SampleStore {
    ring: VecDeque<Sample>,
    capacity: usize,
    seen: u64,
}

impl SampleStore {
    pub(crate) fn new(capacity: usize) -> Self {
        SampleStore {
            ring: VecDeque::with_capacity(capacity.min(4096)),
            capacity: capacity.max(1),
            seen: 0,
        }
    }

    pub(crate) fn push(&mut self, s: Sample) {
        if self.ring.len() == self.capacity {
            self.ring.pop_front();
        }
        self.ring.push_back(s);
        self.seen += 1;
    }

    /// Samples ever pushed.
    pub(crate) fn seen(&self) -> u64 {
        self.seen
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ring.len()
    }

    pub(crate) fn snapshot(&self) -> Vec<Sample> {
        self.ring.iter().copied().collect()
    }
}

/// A duration to learn from, with its weight: an exact sample, or one of the points a censored
/// sample is resolved into.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Point {
    pub x: f64,
    pub queue: f64,
    pub w: f64,
}

/// Cells of the censored-data estimate.
const CELLS: usize = 100;
/// EM iterations.
const EM_ROUNDS: usize = 40;
/// Conditional quantiles a censored sample is resolved into.
const REPS: [f64; 4] = [0.125, 0.375, 0.625, 0.875];

/// Resolves censored samples into points: the density is estimated from all samples by
/// EM with smoothing (Turnbull's self-consistency for interval-censored data, with Silverman's
/// smoothing step), and each censored sample becomes four points at the quantiles of its
/// interval under that density. Spreading it evenly over its interval instead would widen
/// the estimate by about the polling interval, and bias the plan toward the tails.
pub(crate) fn resolve(samples: &[Sample]) -> Vec<Point> {
    if samples.iter().all(is_exact) {
        return samples.iter().map(exact_point).collect();
    }
    let cells = LogCells::spanning(samples);
    // Each sample's cells, with the fraction of each cell its interval covers.
    let cover: Vec<Vec<(usize, f64)>> = samples.iter().map(|s| cells.cover(s)).collect();
    let p = cell_masses(&cover);
    let mut points = Vec::with_capacity(samples.len() * REPS.len());
    for (s, c) in samples.iter().zip(&cover) {
        if is_exact(s) {
            points.push(exact_point(s));
        } else {
            representatives(s, c, &p, &cells, &mut points);
        }
    }
    points
}

/// A sample known to the nanosecond.
fn is_exact(s: &Sample) -> bool {
    s.hi - s.lo <= 1e-9
}

fn exact_point(s: &Sample) -> Point {
    Point {
        x: s.lo,
        queue: s.queue,
        w: 1.0,
    }
}

/// [`CELLS`] cells of equal width in `ln t`, from just under the shortest sample to just over the
/// longest.
struct LogCells {
    floor: f64,
    ratio: f64,
}

impl LogCells {
    fn spanning(samples: &[Sample]) -> LogCells {
        let floor = samples
            .iter()
            .map(|s| if s.lo > 0.0 { s.lo } else { 0.1 * s.hi })
            .fold(f64::INFINITY, f64::min)
            .max(1e-3)
            * 0.999;
        let top = samples.iter().map(|s| s.hi).fold(0.0f64, f64::max) * 1.001;
        let ratio = (top / floor).max(1.0 + 1e-9).ln();
        LogCells { floor, ratio }
    }

    /// Where cell `k` starts.
    fn edge(&self, k: usize) -> f64 {
        self.floor * (self.ratio * k as f64 / CELLS as f64).exp()
    }

    /// The cell `t` falls in.
    fn cell_of(&self, t: f64) -> usize {
        (((t / self.floor).ln() / self.ratio * CELLS as f64)
            .floor()
            .max(0.0) as usize)
            .min(CELLS - 1)
    }

    /// The cells `s`'s interval covers, each with the fraction of it covered.
    fn cover(&self, s: &Sample) -> Vec<(usize, f64)> {
        if is_exact(s) {
            return vec![(self.cell_of(s.lo), 1.0)];
        }
        let (lo, hi) = (s.lo.max(self.floor), s.hi.max(self.floor));
        (self.cell_of(lo)..=self.cell_of(hi))
            .filter_map(|k| {
                let (a, b) = (self.edge(k), self.edge(k + 1));
                let o = (hi.min(b) - lo.max(a)) / (b - a);
                (o > 0.0).then_some((k, o))
            })
            .collect()
    }
}

/// The probability of each cell, by [`EM_ROUNDS`] rounds of expectation–maximisation over the
/// samples' covers, lightly smoothed between neighbours each round.
fn cell_masses(cover: &[Vec<(usize, f64)>]) -> Vec<f64> {
    let mut p = vec![1.0 / CELLS as f64; CELLS];
    for _ in 0..EM_ROUNDS {
        let mut acc = vec![0.0; CELLS];
        for c in cover {
            let denom: f64 = c.iter().map(|&(k, o)| p[k] * o).sum();
            if denom > 0.0 {
                for &(k, o) in c {
                    acc[k] += p[k] * o / denom;
                }
            }
        }
        let n: f64 = acc.iter().sum::<f64>().max(1e-300);
        for k in 0..CELLS {
            let left = acc[k.saturating_sub(1)];
            let right = acc[(k + 1).min(CELLS - 1)];
            p[k] = (0.25 * left + 0.5 * acc[k] + 0.25 * right) / n;
        }
    }
    p
}

/// Pushes the [`REPS`] quantiles of interval sample `s` under the cell masses `p`.
fn representatives(
    s: &Sample,
    c: &[(usize, f64)],
    p: &[f64],
    cells: &LogCells,
    points: &mut Vec<Point>,
) {
    let mass: Vec<f64> = c.iter().map(|&(k, o)| p[k] * o).collect();
    let total: f64 = mass.iter().sum();
    let (lo, hi) = (s.lo.max(cells.floor), s.hi.max(cells.floor));
    for q in REPS {
        let x = if total > 0.0 {
            let mut before = 0.0;
            let mut x = hi;
            for (&(k, _), m) in c.iter().zip(&mass) {
                let share = m / total;
                if before + share >= q && share > 0.0 {
                    let (a, b) = (cells.edge(k).max(lo), cells.edge(k + 1).min(hi));
                    x = a + (q - before) / share * (b - a);
                    break;
                }
                before += share;
            }
            x
        } else {
            lo + q * (hi - lo)
        };
        points.push(Point {
            x,
            queue: s.queue.min(x),
            w: 1.0 / REPS.len() as f64,
        });
    }
}

/// A smoothed estimate of the duration distribution: each point becomes a uniform piece in
/// `ln t` of Silverman's bandwidth (so the oracle does not overfit the exact sample values),
/// shrunk toward the mean so that smoothing does not widen the distribution (a wider estimate
/// plans polls for a tail that is not there).
///
/// Returns the distribution, the range it covers, and the smoothing half-width in `ln t`.
pub(crate) fn estimate(points: &[Point]) -> Option<(DurationDist, f64, f64, f64)> {
    let n: f64 = points.iter().map(|p| p.w).sum();
    if points.is_empty() || n <= 0.0 {
        return None;
    }
    let log = |p: &Point| p.x.max(1e-3).ln();
    let mean = points.iter().map(|p| p.w * log(p)).sum::<f64>() / n;
    let var = points
        .iter()
        .map(|p| p.w * (log(p) - mean).powi(2))
        .sum::<f64>()
        / n;
    // Silverman's rule for a Gaussian kernel, as the half-width of a uniform one of equal
    // variance (×√3).
    let h = (1.06 * var.sqrt() * n.powf(-0.2) * 3f64.sqrt()).clamp(0.005, 0.5);
    // Jones' variance correction: a²·(var + h²/3) = var.
    let a = if var > 0.0 {
        (1.0 + h * h / (3.0 * var)).sqrt().recip()
    } else {
        1.0
    };
    let mut e = Empirical::new();
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for p in points {
        let c = mean + a * (log(p) - mean);
        let (from, to) = ((c - a * h).exp(), (c + a * h).exp());
        e.push(from, to, p.w);
        lo = lo.min(from);
        hi = hi.max(to);
    }
    if e.is_empty() {
        return None;
    }
    Some((DurationDist::Empirical(e), lo, hi, h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn obs(pending: Option<f64>, seen: f64, server: Option<f64>) -> TaskObservation {
        TaskObservation {
            model: "m".into(),
            last_pending_after: pending.map(Duration::from_secs_f64),
            ready_seen_after: Duration::from_secs_f64(seen),
            server_ready_after: server.map(Duration::from_secs_f64),
            server_duration: None,
        }
    }

    #[test]
    fn exact_server_times_win_unless_inconsistent() {
        let s = Sample::from_observation(&obs(Some(5.0), 6.0, Some(5.5)));
        assert_eq!(
            s,
            Some(Sample {
                lo: 5.5,
                hi: 5.5,
                queue: 0.0
            })
        );
        // A server end time far outside our bracket (clock skew) is ignored for the bracket.
        let s = Sample::from_observation(&obs(Some(5.0), 6.0, Some(60.0)));
        assert_eq!(
            s,
            Some(Sample {
                lo: 5.0,
                hi: 6.0,
                queue: 0.0
            })
        );
        let s = Sample::from_observation(&obs(None, 2.0, None));
        assert_eq!(
            s,
            Some(Sample {
                lo: 0.0,
                hi: 2.0,
                queue: 0.0
            })
        );
    }

    #[test]
    fn censored_samples_resolve_inside_their_intervals_toward_the_density() {
        // Exact durations cluster at 5 s; a censored one is known only to lie in (3, 9].
        let mut samples: Vec<Sample> = (0..50)
            .map(|i| {
                let x = 4.8 + 0.008 * i as f64;
                Sample {
                    lo: x,
                    hi: x,
                    queue: 0.0,
                }
            })
            .collect();
        samples.push(Sample {
            lo: 3.0,
            hi: 9.0,
            queue: 0.0,
        });
        let points = resolve(&samples);
        assert_eq!(points.len(), 50 + REPS.len());
        let reps = &points[50..];
        assert!(reps.iter().all(|p| p.x > 3.0 && p.x <= 9.0 && p.w == 0.25));
        // Pulled toward the mass at 5 s, not spread evenly up to 9 s.
        let mean: f64 = reps.iter().map(|p| p.x).sum::<f64>() / 4.0;
        assert!(mean < 5.6, "{reps:?}");
    }

    #[test]
    fn the_ring_keeps_the_most_recent() {
        let mut st = SampleStore::new(3);
        for i in 0..5 {
            st.push(Sample {
                lo: i as f64,
                hi: i as f64,
                queue: 0.0,
            });
        }
        assert_eq!(st.len(), 3);
        assert_eq!(st.seen(), 5);
        assert_eq!(st.snapshot()[0].lo, 2.0);
    }
}
