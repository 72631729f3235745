//! The polling schedule of a task that expects a webhook: sparse, so a delivered webhook costs
//! about one poll (the confirm), yet bounded, so a lost delivery costs lag, never the task.

use crate::strategy::{PollContext, PollStrategy, StrategyFactory};
use rand::RngCore;
use std::time::Duration;

/// Polls at `first` after the submit, then every `every`: a task whose delivery is lost is seen
/// at most `max(first − duration, every)` (plus one round trip) after it ended.
///
/// The default, 12 s then every 4 s, is tuned on S1 lognormal(6 s, 0.5): about 0.1 fallback polls
/// a job when deliveries arrive, lag under 12 s when they do not.
///
/// ```
/// use bfl_core::webhook::Fallback;
/// use std::time::Duration;
/// let f = Fallback::new(Duration::from_secs(12), Duration::from_secs(4));
/// assert_eq!(f.lag_bound(), Duration::from_secs(12));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fallback {
    first: Duration,
    every: Duration,
}

impl Default for Fallback {
    fn default() -> Self {
        Fallback::new(Duration::from_secs(12), Duration::from_secs(4))
    }
}

impl Fallback {
    /// First poll `first` after the submit, then every `every` (at least 10 ms).
    pub fn new(first: Duration, every: Duration) -> Fallback {
        Fallback {
            first,
            every: every.max(Duration::from_millis(10)),
        }
    }

    /// The longest a lost delivery can delay seeing the task's end (round trip excluded).
    pub fn lag_bound(&self) -> Duration {
        self.first.max(self.every)
    }

    /// The wait from `since_submit` to the next slot of the schedule.
    fn next_after(&self, since_submit: Duration) -> Duration {
        if since_submit < self.first {
            return self.first - since_submit;
        }
        let past = (since_submit - self.first).as_secs_f64();
        let every = self.every.as_secs_f64();
        let slots = (past / every).floor() + 1.0;
        let at = self.first.as_secs_f64() + slots * every;
        Duration::from_secs_f64((at - since_submit.as_secs_f64()).max(0.0))
    }
}

impl StrategyFactory for Fallback {
    fn name(&self) -> String {
        format!(
            "webhook+fallback:{}s/{}s",
            self.first.as_secs_f64(),
            self.every.as_secs_f64()
        )
    }
    fn new_task(&self, _model: &str) -> Box<dyn PollStrategy> {
        Box::new(*self)
    }
}

impl PollStrategy for Fallback {
    fn next_delay(&mut self, ctx: &PollContext<'_>, _rng: &mut dyn RngCore) -> Option<Duration> {
        Some(self.next_after(ctx.since_submit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_absolute_so_a_confirm_poll_does_not_shift_it() {
        let f = Fallback::new(Duration::from_secs(12), Duration::from_secs(4));
        let s = Duration::from_secs_f64;
        assert_eq!(f.next_after(s(0.0)), s(12.0));
        assert_eq!(f.next_after(s(5.0)), s(7.0));
        // A poll at 12.1 s (the first slot plus a round trip): next at 16 s.
        let d = f.next_after(s(12.1)).as_secs_f64();
        assert!((d - 3.9).abs() < 1e-9, "{d}");
        let d = f.next_after(s(17.5)).as_secs_f64();
        assert!((d - 2.5).abs() < 1e-9, "{d}");
    }
}
