//! What `learned` remembers of a model: a bounded ring of duration observations, and the
//! smoothed distribution estimated from them.

use crate::strategy::oracle::{DurationDist, Empirical};
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

/// A smoothed estimate of the duration distribution: each exact sample becomes a uniform
/// piece in `ln t` of Silverman's bandwidth (so the oracle does not overfit the exact sample
/// values), shrunk toward the mean so that smoothing does not widen the distribution (a wider
/// estimate plans polls for a tail that is not there); a censored sample keeps its interval.
///
/// Returns the distribution, the range it covers, and the smoothing half-width in `ln t`.
pub(crate) fn estimate(samples: &[Sample]) -> Option<(DurationDist, f64, f64, f64)> {
    let logs: Vec<f64> = samples
        .iter()
        .map(|s| (0.5 * (s.lo + s.hi)).max(1e-3).ln())
        .collect();
    let n = logs.len();
    if n == 0 {
        return None;
    }
    let mean = logs.iter().sum::<f64>() / n as f64;
    let var = logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / n as f64;
    // Silverman's rule for a Gaussian kernel, as the half-width of a uniform one of equal
    // variance (×√3).
    let h = (1.06 * var.sqrt() * (n as f64).powf(-0.2) * 3f64.sqrt()).clamp(0.005, 0.5);
    // Jones' variance correction: a²·(var + h²/3) = var.
    let a = if var > 0.0 {
        (1.0 + h * h / (3.0 * var)).sqrt().recip()
    } else {
        1.0
    };
    let mut e = Empirical::new();
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for s in samples {
        let (from, to) = if s.hi - s.lo <= 1e-9 {
            let c = mean + a * (s.lo.max(1e-3).ln() - mean);
            ((c - a * h).exp(), (c + a * h).exp())
        } else {
            (s.lo, s.hi)
        };
        e.push(from, to, 1.0);
        // A censored interval from 0 would stretch the log grid over nothing.
        lo = lo.min(from.max(0.25 * (from + to)));
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
            polls: 3,
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
