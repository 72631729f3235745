//! The three jittered backoffs of AWS's "Exponential Backoff And Jitter" (Marc Brooker, 2015).
//!
//! With `base` and `cap` and attempt `n` (0 before the first poll):
//! - full: `uniform(0, min(cap, base·2^n))`
//! - equal: `t = min(cap, base·2^n); t/2 + uniform(0, t/2)`
//! - decorrelated: `sleep = min(cap, uniform(base, previous_sleep·3))`, starting from `base`.

use super::{exponential, secs, uniform, PollContext, PollStrategy, StrategyFactory};
use rand::RngCore;
use std::time::Duration;

const DEFAULT_BASE: f64 = 0.5;
const DEFAULT_CAP: f64 = 10.0;

macro_rules! jitter_factory {
    ($ty:ident, $name:literal, $state:expr) => {
        impl $ty {
            /// With `base` and `cap` in seconds.
            pub fn new(base: f64, cap: f64) -> Self {
                $ty { base, cap }
            }
        }
        impl Default for $ty {
            fn default() -> Self {
                $ty::new(DEFAULT_BASE, DEFAULT_CAP)
            }
        }
        impl StrategyFactory for $ty {
            fn name(&self) -> String {
                $name.into()
            }
            fn new_task(&self, _model: &str) -> Box<dyn PollStrategy> {
                let f: fn(&$ty) -> Box<dyn PollStrategy> = $state;
                f(self)
            }
        }
    };
}

/// Full jitter.
#[derive(Debug, Clone, Copy)]
pub struct FullJitter {
    base: f64,
    cap: f64,
}
jitter_factory!(FullJitter, "full-jitter", |f| Box::new(*f));

impl PollStrategy for FullJitter {
    fn next_delay(&mut self, ctx: &PollContext<'_>, rng: &mut dyn RngCore) -> Option<Duration> {
        let t = exponential(self.base, 2.0, ctx.polls, self.cap);
        Some(secs(uniform(rng, 0.0, t)))
    }
}

/// Equal jitter.
#[derive(Debug, Clone, Copy)]
pub struct EqualJitter {
    base: f64,
    cap: f64,
}
jitter_factory!(EqualJitter, "equal-jitter", |f| Box::new(*f));

impl PollStrategy for EqualJitter {
    fn next_delay(&mut self, ctx: &PollContext<'_>, rng: &mut dyn RngCore) -> Option<Duration> {
        let t = exponential(self.base, 2.0, ctx.polls, self.cap);
        Some(secs(t / 2.0 + uniform(rng, 0.0, t / 2.0)))
    }
}

/// Decorrelated jitter.
#[derive(Debug, Clone, Copy)]
pub struct DecorrelatedJitter {
    base: f64,
    cap: f64,
}
jitter_factory!(DecorrelatedJitter, "decorrelated-jitter", |f| Box::new(
    DecorrelatedState {
        base: f.base,
        cap: f.cap,
        previous: f.base,
    }
));

struct DecorrelatedState {
    base: f64,
    cap: f64,
    previous: f64,
}

impl PollStrategy for DecorrelatedState {
    fn next_delay(&mut self, _ctx: &PollContext<'_>, rng: &mut dyn RngCore) -> Option<Duration> {
        let upper = (self.previous * 3.0).max(self.base);
        self.previous = uniform(rng, self.base, upper).min(self.cap);
        Some(secs(self.previous))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::delays;
    use super::*;

    #[test]
    fn full_jitter_stays_under_the_exponential_envelope() {
        let d = delays(&mut *FullJitter::default().new_task("m"), 12, 3);
        for (n, got) in d.iter().enumerate() {
            let env = (0.5 * 2f64.powi(n as i32)).min(10.0);
            let got = got.unwrap().as_secs_f64();
            assert!((0.0..env).contains(&got), "n={n} got={got} env={env}");
        }
    }

    #[test]
    fn equal_jitter_keeps_at_least_half_the_envelope() {
        let d = delays(&mut *EqualJitter::default().new_task("m"), 12, 3);
        for (n, got) in d.iter().enumerate() {
            let env = (0.5 * 2f64.powi(n as i32)).min(10.0);
            let got = got.unwrap().as_secs_f64();
            assert!(got >= env / 2.0 && got < env, "n={n} got={got}");
        }
    }

    #[test]
    fn decorrelated_jitter_grows_from_base_within_three_times_the_last_and_the_cap() {
        let d = delays(&mut *DecorrelatedJitter::default().new_task("m"), 40, 5);
        let mut prev = 0.5;
        for got in d {
            let got = got.unwrap().as_secs_f64();
            assert!(
                got >= 0.5 && got <= (prev * 3.0f64).min(10.0) + 1e-9,
                "{got} after {prev}"
            );
            prev = got;
        }
    }
}
