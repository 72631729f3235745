//! The four recipes of `polling-patterns.md`, reproduced exactly.
//!
//! Each recipe polls at once, then sleeps between polls. Where a recipe has a `timeout`, it polls
//! only while `elapsed < timeout`; so the next poll is given up when it would land at or past it.

use super::{exponential, secs, uniform, PollContext, PollStrategy, StrategyFactory};
use crate::api::Status;
use rand::RngCore;
use std::time::Duration;

/// The recipes' 120-second polling timeout.
const RECIPE_TIMEOUT: Duration = Duration::from_secs(120);

fn within(ctx: &PollContext<'_>, delay: Duration, timeout: Option<Duration>) -> Option<Duration> {
    match timeout {
        Some(t) if ctx.since_submit + delay >= t => None,
        _ => Some(delay),
    }
}

/// A fixed interval (recipe "Simple Fixed Interval": 2 s, 120 s timeout).
#[derive(Debug, Clone)]
pub struct Fixed {
    interval: Duration,
    timeout: Option<Duration>,
    name: String,
}

impl Fixed {
    /// The recipe: poll at once, then every 2 s, for up to 120 s.
    pub fn recipe() -> Self {
        Fixed {
            interval: Duration::from_secs(2),
            timeout: Some(RECIPE_TIMEOUT),
            name: "fixed-2s".into(),
        }
    }
    /// Poll at once, then every `interval`, with no time budget of its own.
    pub fn every(interval: Duration) -> Self {
        Fixed {
            interval,
            timeout: None,
            name: format!("fixed-{}ms", interval.as_millis()),
        }
    }
    /// Renames the preset (for reports).
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }
}

impl PollStrategy for Fixed {
    fn next_delay(&mut self, ctx: &PollContext<'_>, _rng: &mut dyn RngCore) -> Option<Duration> {
        let d = if ctx.polls == 0 {
            Duration::ZERO
        } else {
            self.interval
        };
        within(ctx, d, self.timeout)
    }
}

impl StrategyFactory for Fixed {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn new_task(&self, _model: &str) -> Box<dyn PollStrategy> {
        Box::new(self.clone())
    }
}

/// Exponential backoff with up to 10 % added jitter (recipe "Exponential Backoff (Recommended)":
/// 0.5 s × 2^attempt, capped at 10 s, plus uniform(0, 10 % of it); 30 attempts).
#[derive(Debug, Clone)]
pub struct Backoff {
    base: f64,
    cap: f64,
    jitter_fraction: f64,
    max_polls: u32,
}

impl Backoff {
    /// The recipe's parameters.
    pub fn recipe() -> Self {
        Backoff {
            base: 0.5,
            cap: 10.0,
            jitter_fraction: 0.1,
            max_polls: 30,
        }
    }
}

impl PollStrategy for Backoff {
    fn next_delay(&mut self, ctx: &PollContext<'_>, rng: &mut dyn RngCore) -> Option<Duration> {
        if ctx.polls == 0 {
            return Some(Duration::ZERO);
        }
        if ctx.polls >= self.max_polls {
            return None;
        }
        let delay = exponential(self.base, 2.0, ctx.polls - 1, self.cap);
        Some(secs(
            delay + uniform(rng, 0.0, delay * self.jitter_fraction),
        ))
    }
}

impl StrategyFactory for Backoff {
    fn name(&self) -> String {
        "backoff".into()
    }
    fn new_task(&self, _model: &str) -> Box<dyn PollStrategy> {
        Box::new(self.clone())
    }
}

/// Status-adaptive polling (recipe "Adaptive Polling": 2 s while `Pending`, 1.5 s otherwise;
/// 120 s timeout).
#[derive(Debug, Clone)]
pub struct Adaptive {
    pending: Duration,
    other: Duration,
    timeout: Option<Duration>,
}

impl Adaptive {
    /// The recipe's parameters.
    pub fn recipe() -> Self {
        Adaptive {
            pending: Duration::from_secs(2),
            other: Duration::from_millis(1500),
            timeout: Some(RECIPE_TIMEOUT),
        }
    }
}

impl PollStrategy for Adaptive {
    fn next_delay(&mut self, ctx: &PollContext<'_>, _rng: &mut dyn RngCore) -> Option<Duration> {
        let d = match (ctx.polls, ctx.last_status) {
            (0, _) => Duration::ZERO,
            (_, Some(Status::Pending)) => self.pending,
            _ => self.other,
        };
        within(ctx, d, self.timeout)
    }
}

impl StrategyFactory for Adaptive {
    fn name(&self) -> String {
        "adaptive".into()
    }
    fn new_task(&self, _model: &str) -> Box<dyn PollStrategy> {
        Box::new(self.clone())
    }
}

/// Gradual backoff (the recipe's `BFLClient._poll`: 1.0 s, ×1.5 each poll, capped at 5 s; 120 s
/// timeout).
#[derive(Debug, Clone)]
pub struct Gradual {
    start: f64,
    factor: f64,
    cap: f64,
    timeout: Option<Duration>,
}

impl Gradual {
    /// The recipe's parameters.
    pub fn recipe() -> Self {
        Gradual {
            start: 1.0,
            factor: 1.5,
            cap: 5.0,
            timeout: Some(RECIPE_TIMEOUT),
        }
    }
}

impl PollStrategy for Gradual {
    fn next_delay(&mut self, ctx: &PollContext<'_>, _rng: &mut dyn RngCore) -> Option<Duration> {
        let d = match ctx.polls {
            0 => Duration::ZERO,
            n => secs(exponential(self.start, self.factor, n - 1, self.cap)),
        };
        within(ctx, d, self.timeout)
    }
}

impl StrategyFactory for Gradual {
    fn name(&self) -> String {
        "gradual".into()
    }
    fn new_task(&self, _model: &str) -> Box<dyn PollStrategy> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::delays;
    use super::*;

    fn ms(v: &[u64]) -> Vec<Option<Duration>> {
        v.iter().map(|&m| Some(Duration::from_millis(m))).collect()
    }

    #[test]
    fn fixed_recipe_polls_now_then_every_two_seconds_for_120s() {
        let d = delays(&mut Fixed::recipe(), 62, 1);
        assert_eq!(d[..4], ms(&[0, 2000, 2000, 2000])[..]);
        // Polls at 0, 2, …, 118 s: 60 polls; the 61st would land at 120 s, which the loop refuses.
        assert!(d[..60].iter().all(Option::is_some));
        assert_eq!(d[60], None);
    }

    #[test]
    fn backoff_recipe_matches_hand_computed_bounds_and_caps_attempts() {
        let d = delays(&mut Backoff::recipe(), 31, 7);
        assert_eq!(d[0], Some(Duration::ZERO));
        // attempt k sleeps min(0.5·2^k, 10) plus up to 10 %.
        let bases = [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0];
        for (k, base) in bases.iter().enumerate() {
            let got = d[k + 1].unwrap().as_secs_f64();
            assert!(got >= *base && got < base * 1.1, "attempt {k}: {got}");
        }
        // 30 polls, then give up.
        assert!(d[..30].iter().all(Option::is_some));
        assert_eq!(d[30], None);
        // Jitter is drawn from the injected rng: same seed, same delays; other seed, others.
        assert_eq!(d, delays(&mut Backoff::recipe(), 31, 7));
        assert_ne!(d, delays(&mut Backoff::recipe(), 31, 8));
    }

    #[test]
    fn adaptive_recipe_uses_two_seconds_when_pending_else_one_and_a_half() {
        let mut s = Adaptive::recipe();
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0);
        let pending = Status::Pending;
        let odd = Status::Unknown("Queued".into());
        let ctx = |polls, status| PollContext {
            model: "m",
            polls,
            since_submit: Duration::from_secs(10),
            last_status: status,
            progress: None,
            contended: false,
        };
        assert_eq!(s.next_delay(&ctx(0, None), &mut rng), Some(Duration::ZERO));
        assert_eq!(
            s.next_delay(&ctx(1, Some(&pending)), &mut rng),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            s.next_delay(&ctx(2, Some(&odd)), &mut rng),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            s.next_delay(&ctx(3, None), &mut rng),
            Some(Duration::from_millis(1500))
        );
    }

    #[test]
    fn gradual_recipe_grows_by_half_to_five_seconds() {
        let d = delays(&mut Gradual::recipe(), 7, 1);
        assert_eq!(d, ms(&[0, 1000, 1500, 2250, 3375, 5000, 5000]));
    }
}
