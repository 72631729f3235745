//! The two-lognormal mixture of [`DurationDist::Bimodal`](super::DurationDist::Bimodal).

use super::bisect;
use super::lognormal::LogNormal;
use rand::Rng;

/// The slow mode with probability `p_slow`, else the fast one.
#[derive(Debug, Clone, Copy)]
pub(super) struct Mixture {
    pub(super) p_slow: f64,
    pub(super) fast: LogNormal,
    pub(super) slow: LogNormal,
}

impl Mixture {
    /// `p_slow · slow + (1 − p_slow) · fast`.
    fn mix(self, slow: f64, fast: f64) -> f64 {
        self.p_slow * slow + (1.0 - self.p_slow) * fast
    }

    /// `P(T ≤ t)`.
    pub(super) fn cdf(self, t: f64) -> f64 {
        self.mix(self.slow.cdf(t), self.fast.cdf(t))
    }

    /// `E[T · 1{T ≤ t}]`.
    pub(super) fn partial_mean(self, t: f64) -> f64 {
        self.mix(self.slow.partial_mean(t), self.fast.partial_mean(t))
    }

    /// `E[T]`.
    pub(super) fn mean(self) -> f64 {
        self.mix(self.slow.mean(), self.fast.mean())
    }

    /// The `p`-quantile, `p` in `[0, 1]`: it lies between the modes' own `p`-quantiles (at
    /// the smaller both CDFs are at most `p`, at the larger both at least), so bisect there.
    pub(super) fn quantile(self, p: f64) -> f64 {
        if self.p_slow <= 0.0 {
            return self.fast.quantile(p);
        }
        if self.p_slow >= 1.0 {
            return self.slow.quantile(p);
        }
        let (a, b) = (self.fast.quantile(p), self.slow.quantile(p));
        let (lo, hi) = (a.min(b), a.max(b));
        if lo >= hi || !hi.is_finite() {
            return hi;
        }
        bisect(lo, hi, p, |t| self.cdf(t))
    }

    /// One uniform picks the mode, then the mode's Box–Muller draw.
    pub(super) fn sample<R: Rng + ?Sized>(self, rng: &mut R) -> f64 {
        if rng.random::<f64>() < self.p_slow {
            self.slow.sample(rng)
        } else {
            self.fast.sample(rng)
        }
    }
}
