//! How long to wait before another try, and how many tries a client may spend in all. (Which
//! answers are worth another try is [`classify`](super::classify)'s to say.)

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// How waits between tries are chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// First backoff after a failed request.
    pub base: Duration,
    /// The largest backoff.
    pub cap: Duration,
    /// A server hint below this is raised to it, so a `Retry-After: 0` cannot make a client spin.
    pub min_hint: Duration,
    /// A server hint above this is lowered to it (an absurd hint must not park a task forever;
    /// the deadline clamps it further).
    pub max_hint: Duration,
    /// Consecutive failures of one submit (5xx, transport) before it is given up.
    pub max_submit_failures: u32,
    /// Consecutive failures of polls or a download before the task is given up.
    pub max_consecutive_failures: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(10),
            min_hint: Duration::from_millis(250),
            max_hint: Duration::from_secs(60),
            max_submit_failures: 4,
            max_consecutive_failures: 12,
        }
    }
}

impl RetryPolicy {
    /// The backoff after `failures` consecutive failures (1 = the first), with equal jitter:
    /// `t/2 + uniform(0, t/2)` where `t = min(cap, base·2^(failures-1))`. `unit` is a uniform
    /// draw in `[0, 1)`.
    pub fn backoff(&self, failures: u32, unit: f64) -> Duration {
        let t = crate::strategy::exponential(
            self.base.as_secs_f64(),
            2.0,
            failures.saturating_sub(1),
            self.cap.as_secs_f64(),
        );
        crate::strategy::secs(t / 2.0 + unit.clamp(0.0, 1.0) * t / 2.0)
    }

    /// A server hint, clamped to `[min_hint, max_hint]`, plus jitter that only ever adds
    /// (up to 10 % of the hint, at most one second). `unit` is a uniform draw in `[0, 1)`.
    pub fn hinted(&self, hint: Duration, unit: f64) -> Duration {
        let h = hint.clamp(self.min_hint, self.max_hint);
        let extra = (h.as_secs_f64() * 0.1).min(1.0) * unit.clamp(0.0, 1.0);
        h + crate::strategy::secs(extra)
    }
}

/// A token bucket shared by every task of a client, so that retries stay a bounded fraction of
/// traffic: each retry takes [`RetryBudget::RETRY_COST`] tokens, each success gives one back.
/// When it is empty, failures are final instead of retried — a server failing half its answers
/// then sees fewer requests, not more (the "retry budget" of AWS's SDKs and Finagle).
#[derive(Debug)]
pub struct RetryBudget {
    capacity: u32,
    tokens: AtomicU32,
}

impl RetryBudget {
    /// Tokens a retry costs.
    pub const RETRY_COST: u32 = 5;
    /// Tokens a success returns.
    pub const SUCCESS_REFUND: u32 = 1;

    /// A full bucket of `capacity` tokens.
    pub fn new(capacity: u32) -> RetryBudget {
        RetryBudget {
            capacity,
            tokens: AtomicU32::new(capacity),
        }
    }

    /// Takes the cost of one retry, or returns false if the bucket cannot pay it.
    pub fn try_retry(&self) -> bool {
        self.tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                t.checked_sub(Self::RETRY_COST)
            })
            .is_ok()
    }

    /// Returns a token after a success.
    pub fn on_success(&self) {
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some((t + Self::SUCCESS_REFUND).min(self.capacity))
            });
    }

    /// Tokens left.
    pub fn available(&self) -> u32 {
        self.tokens.load(Ordering::Acquire)
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget::new(500)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_are_clamped_and_jitter_only_adds() {
        let p = RetryPolicy::default();
        assert_eq!(p.hinted(Duration::ZERO, 0.0), p.min_hint);
        assert_eq!(p.hinted(Duration::from_secs(86_400), 0.0), p.max_hint);
        let h = p.hinted(Duration::from_secs(5), 0.999);
        assert!(h >= Duration::from_secs(5) && h < Duration::from_millis(5500));
    }

    #[test]
    fn backoff_grows_to_the_cap_with_equal_jitter() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(250));
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(500));
        assert_eq!(p.backoff(3, 1.0), Duration::from_secs(2));
        assert_eq!(p.backoff(40, 1.0), Duration::from_secs(10));
        assert_eq!(p.backoff(40, 0.0), Duration::from_secs(5));
    }

    #[test]
    fn budget_drains_under_failures_and_refills_on_success() {
        let b = RetryBudget::new(12);
        assert!(b.try_retry());
        assert!(b.try_retry());
        assert!(!b.try_retry(), "2 tokens left cannot pay 5");
        for _ in 0..3 {
            b.on_success();
        }
        assert!(b.try_retry());
        for _ in 0..100 {
            b.on_success();
        }
        assert_eq!(b.available(), 12);
    }
}
