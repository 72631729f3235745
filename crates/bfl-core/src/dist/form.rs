//! What a [`DurationDist`] is made of, for its formulas: a point, a lognormal, a uniform
//! piece, a two-lognormal mixture, a list of samples or an empirical mixture.

use super::bimodal::Mixture;
use super::empirical::{piece_cdf, piece_partial_mean, Empirical};
use super::lognormal::LogNormal;
use super::{bisect, point_cdf, point_partial_mean, samples, DurationDist};
use rand::Rng;

/// A [`DurationDist`] by the shape of its formulas.
pub(super) enum Form<'a> {
    Point(f64),
    LogNormal(LogNormal),
    Uniform(f64, f64),
    Mixture(Mixture),
    Samples(&'a [f64]),
    Empirical(&'a Empirical),
}

impl DurationDist {
    pub(super) fn form(&self) -> Form<'_> {
        match self {
            DurationDist::Fixed(d) => Form::Point(*d),
            &DurationDist::LogNormal { median, sigma } => {
                Form::LogNormal(LogNormal { median, sigma })
            }
            DurationDist::Uniform { low, high } => Form::Uniform(*low, *high),
            &DurationDist::Bimodal {
                p_slow,
                fast_median,
                fast_sigma,
                slow_median,
                slow_sigma,
            } => Form::Mixture(Mixture {
                p_slow,
                fast: LogNormal {
                    median: fast_median,
                    sigma: fast_sigma,
                },
                slow: LogNormal {
                    median: slow_median,
                    sigma: slow_sigma,
                },
            }),
            DurationDist::Samples(v) => Form::Samples(v),
            DurationDist::Empirical(e) => Form::Empirical(e),
        }
    }
}

impl Form<'_> {
    pub(super) fn cdf(&self, t: f64) -> f64 {
        match self {
            Form::Point(d) => point_cdf(*d, t),
            Form::LogNormal(l) => l.cdf(t),
            Form::Uniform(low, high) => piece_cdf(*low, *high, t),
            Form::Mixture(m) => m.cdf(t),
            Form::Samples(v) => samples::cdf(v, t),
            Form::Empirical(e) => e.cdf(t),
        }
    }

    pub(super) fn partial_mean(&self, t: f64) -> f64 {
        match self {
            Form::Point(d) => point_partial_mean(*d, t),
            Form::LogNormal(l) => l.partial_mean(t),
            Form::Uniform(low, high) => piece_partial_mean(*low, *high, 1.0, t),
            Form::Mixture(m) => m.partial_mean(t),
            Form::Samples(v) => samples::partial_mean(v, t),
            Form::Empirical(e) => e.partial_mean(t),
        }
    }

    pub(super) fn mean(&self) -> f64 {
        match self {
            Form::Point(d) => *d,
            Form::LogNormal(l) => l.mean(),
            Form::Uniform(low, high) => (low + high) / 2.0,
            Form::Mixture(m) => m.mean(),
            Form::Samples(v) => samples::mean(v),
            Form::Empirical(e) => e.partial_mean(f64::INFINITY),
        }
    }

    /// `p` in `[0, 1]`.
    pub(super) fn quantile(&self, p: f64) -> f64 {
        match self {
            Form::Point(d) => *d,
            Form::LogNormal(l) => l.quantile(p),
            Form::Uniform(low, high) => low + (high - low) * p,
            Form::Mixture(m) => m.quantile(p),
            Form::Samples(v) => samples::quantile(v, p),
            Form::Empirical(e) => bisect(0.0, e.max(), p, |t| e.cdf(t)),
        }
    }

    /// The largest value with mass, when the support is bounded.
    pub(super) fn support_max(&self) -> Option<f64> {
        match self {
            Form::Point(d) => Some(*d),
            Form::Uniform(_, high) => Some(*high),
            Form::Samples(v) => Some(v.iter().copied().fold(0.0, f64::max)),
            Form::Empirical(e) => Some(e.max()),
            Form::LogNormal(_) | Form::Mixture(_) => None,
        }
    }

    /// One draw, before [`DurationDist::sample`]'s clamp.
    pub(super) fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match self {
            Form::Point(d) => *d,
            Form::LogNormal(l) => l.sample(rng),
            Form::Uniform(low, high) => {
                let u: f64 = rng.random();
                low + (high - low) * u
            }
            Form::Mixture(m) => m.sample(rng),
            Form::Samples(v) => samples::sample(v, rng),
            Form::Empirical(_) => self.quantile(rng.random::<f64>()),
        }
    }
}
