//! Remaining-time estimates from the server's `progress` reports.

/// The progress readings of one task (the last two), and whether the latest poll gave one.
#[derive(Debug, Default)]
pub(crate) struct ProgressTrack {
    last: Option<(f64, f64)>,
    before: Option<(f64, f64)>,
    polls_seen: u32,
    fresh: bool,
}

/// Overshoot of the estimate: a poll a hair late costs a little lag; one a hair early costs a
/// whole poll.
const MARGIN_FRACTION: f64 = 0.01;
const MARGIN_S: f64 = 0.01;
/// The longest wait it asks for.
const MAX_WAIT_S: f64 = 10.0;
/// The shortest wait it asks for.
const MIN_WAIT_S: f64 = 0.05;

impl ProgressTrack {
    /// Records what the poll numbered `polls` reported at `now` (seconds since submit).
    pub(crate) fn record(&mut self, polls: u32, now: f64, progress: Option<f64>) {
        if polls == 0 || polls == self.polls_seen {
            return; // before the first poll, or the same answer seen again
        }
        self.polls_seen = polls;
        self.fresh = false;
        let Some(p) = progress.filter(|p| p.is_finite() && *p > 0.0 && *p < 1.0) else {
            return;
        };
        if let Some((_, last_p)) = self.last {
            if p <= last_p {
                return; // no news: a stalled or repeated reading says nothing of the rate
            }
        }
        self.before = self.last;
        self.last = Some((now, p));
        self.fresh = true;
    }

    /// The wait until the estimated ready time, if the latest poll reported progress.
    ///
    /// With two readings the rate is their slope (right even if the task queued before it
    /// started); with one, progress is taken to have run since the submit.
    pub(crate) fn next_wait(&self, now: f64) -> Option<f64> {
        if !self.fresh {
            return None;
        }
        let (s2, p2) = self.last?;
        let remaining = match self.before {
            Some((s1, p1)) if s2 > s1 + 1e-6 => (1.0 - p2) * (s2 - s1) / (p2 - p1),
            _ => s2 * (1.0 - p2) / p2,
        };
        if !remaining.is_finite() {
            return None;
        }
        let wait = remaining * (1.0 + MARGIN_FRACTION) + MARGIN_S - (now - s2);
        // Never trust an extrapolation further than 10 s: look again by then.
        Some(wait.clamp(MIN_WAIT_S, MAX_WAIT_S))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_reading_extrapolates_from_the_submit() {
        let mut t = ProgressTrack::default();
        assert_eq!(t.next_wait(0.0), None);
        t.record(1, 3.0, Some(0.5));
        let w = t.next_wait(3.0).unwrap();
        assert!((w - (3.0 * 1.01 + 0.01)).abs() < 1e-9);
    }

    #[test]
    fn two_readings_use_the_slope_and_stale_ones_are_ignored() {
        let mut t = ProgressTrack::default();
        t.record(1, 4.0, Some(0.2)); // queued 2 s, then 0.1 per second
        t.record(2, 6.0, Some(0.4));
        let w = t.next_wait(6.0).unwrap();
        assert!((w - (6.0 * 1.01 + 0.01)).abs() < 1e-9, "{w}");
        // The same poll again, or a poll without progress: back to the plan.
        t.record(2, 6.0, Some(0.4));
        assert!(t.next_wait(6.0).is_some());
        t.record(3, 7.0, None);
        assert_eq!(t.next_wait(7.0), None);
        t.record(4, 8.0, Some(0.4));
        assert_eq!(t.next_wait(8.0), None);
    }

    #[test]
    fn absurd_extrapolations_are_capped() {
        let mut t = ProgressTrack::default();
        t.record(1, 1.0, Some(0.001));
        assert_eq!(t.next_wait(1.0), Some(10.0));
        t.record(2, 1.5, Some(0.999_99));
        assert_eq!(t.next_wait(1.5), Some(MIN_WAIT_S));
    }
}
