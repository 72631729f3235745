//! The lognormal, the building block of [`DurationDist::LogNormal`] and of both modes of
//! [`DurationDist::Bimodal`].
//!
//! [`DurationDist::LogNormal`]: super::DurationDist::LogNormal
//! [`DurationDist::Bimodal`]: super::DurationDist::Bimodal

use super::normal::{normal_cdf, normal_quantile};
use super::{point_cdf, point_partial_mean};
use crate::stats::standard_normal;

/// A lognormal with this median (seconds) and σ of `ln T`; a point mass at the median when
/// either is 0 (the grammar allows both).
#[derive(Debug, Clone, Copy)]
pub(super) struct LogNormal {
    pub(super) median: f64,
    pub(super) sigma: f64,
}

impl LogNormal {
    fn is_point(self) -> bool {
        !(self.sigma > 0.0 && self.median > 0.0)
    }

    /// `P(T ≤ t)`.
    pub(super) fn cdf(self, t: f64) -> f64 {
        let LogNormal { median, sigma } = self;
        if self.is_point() {
            point_cdf(median, t)
        } else if t <= 0.0 {
            0.0
        } else {
            normal_cdf((t / median).ln() / sigma)
        }
    }

    /// `E[T · 1{T ≤ t}]`.
    pub(super) fn partial_mean(self, t: f64) -> f64 {
        let LogNormal { median, sigma } = self;
        if self.is_point() {
            point_partial_mean(median, t)
        } else if t <= 0.0 {
            0.0
        } else {
            self.mean() * normal_cdf(((t / median).ln() - sigma * sigma) / sigma)
        }
    }

    /// `E[T]`.
    pub(super) fn mean(self) -> f64 {
        self.median * (self.sigma * self.sigma / 2.0).exp()
    }

    /// The `p`-quantile, `p` in `[0, 1]` (infinite at 1).
    pub(super) fn quantile(self, p: f64) -> f64 {
        if self.is_point() {
            self.median
        } else {
            self.median * (self.sigma * normal_quantile(p)).exp()
        }
    }

    /// A draw by Box–Muller (two uniforms): the simulator's stream.
    pub(super) fn sample<R: rand::Rng + ?Sized>(self, rng: &mut R) -> f64 {
        self.median * (self.sigma * standard_normal(rng)).exp()
    }
}
