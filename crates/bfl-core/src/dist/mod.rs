//! Duration distributions: one type, [`DurationDist`], for the strategy lab (the oracle, the
//! schedule-only evaluation, `learned`'s estimate) and the simulator (generation times, queue
//! and webhook delays).
//!
//! A distribution is written as a short string, the same in scenario files, on the command
//! line and in serde (one grammar, [`DurationDist::from_str`](std::str::FromStr)); durations
//! are seconds, every number finite and non-negative:
//!
//! | spec | distribution |
//! |---|---|
//! | `fixed:5` (or `5`) | always 5 s |
//! | `lognormal:6,0.5` | lognormal, median 6 s, σ of `ln T` 0.5 |
//! | `uniform:2,8` | uniform between 2 s and 8 s |
//! | `bimodal:0.01,6,0.5,60,0.5` | with probability 0.01 lognormal(60 s, 0.5), else lognormal(6 s, 0.5) |
//! | `samples:1.5,2,7.25` | one of the listed values, uniformly (e.g. measured on the real API) |
//! | `empirical:2,4,1;5,5,1` | weighted uniform pieces `LO,HI,WEIGHT` (a point mass when `LO == HI`) |
//!
//! Every variant has its CDF, partial mean, quantile and mean (the mixtures' quantiles by
//! bisection), so the oracle plans for a simulator's model as it stands. Two ways to draw:
//! [`DurationDist::sample`] is the simulator's stream (Box–Muller for the lognormals), and
//! [`DurationDist::quantile`] of a uniform is inverse-CDF sampling (the strategy lab's).
//!
//! ```
//! use bfl_core::dist::DurationDist;
//! let d: DurationDist = "lognormal:6,0.5".parse().unwrap();
//! assert_eq!(d, DurationDist::LogNormal { median: 6.0, sigma: 0.5 });
//! assert!((d.quantile(0.5) - 6.0).abs() < 1e-6 && (d.cdf(6.0) - 0.5).abs() < 1e-7);
//! assert_eq!(d.to_string(), "lognormal:6,0.5");
//! ```

mod bimodal;
mod empirical;
mod form;
mod lognormal;
mod normal;
mod parse;
mod samples;

pub use empirical::Empirical;
pub use parse::ParseDistError;

/// A distribution of durations (seconds), e.g. submit to `Ready`. Draws are never negative.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DurationDist {
    /// Every task takes exactly this many seconds.
    Fixed(f64),
    /// Lognormal with the given median (seconds) and σ of the log (a point mass at the median
    /// when either is 0).
    LogNormal {
        /// The median, seconds (`e^μ`).
        median: f64,
        /// The standard deviation of `ln T`.
        sigma: f64,
    },
    /// Uniform between two bounds.
    Uniform {
        /// Lower bound, seconds.
        low: f64,
        /// Upper bound, seconds.
        high: f64,
    },
    /// A mixture of two lognormals: the slow one with probability `p_slow`.
    Bimodal {
        /// Probability of the slow mode.
        p_slow: f64,
        /// Median of the fast mode, seconds.
        fast_median: f64,
        /// σ of the fast mode.
        fast_sigma: f64,
        /// Median of the slow mode, seconds.
        slow_median: f64,
        /// σ of the slow mode.
        slow_sigma: f64,
    },
    /// One of these values, uniformly (e.g. durations measured on the real API; none: 0).
    Samples(Vec<f64>),
    /// A mixture of uniform pieces (and point masses), e.g. learned from observations.
    Empirical(Empirical),
}

impl DurationDist {
    /// `P(T ≤ t)`.
    pub fn cdf(&self, t: f64) -> f64 {
        self.form().cdf(t)
    }

    /// The partial first moment `E[T · 1{T ≤ t}]`.
    pub fn partial_mean(&self, t: f64) -> f64 {
        self.form().partial_mean(t)
    }

    /// The CDF and the partial mean at each of `times` (ascending), faster than point by point
    /// for an empirical mixture.
    pub fn tabulate(&self, times: &[f64]) -> (Vec<f64>, Vec<f64>) {
        match self {
            DurationDist::Empirical(e) => {
                let (mut f, mut m) = (Vec::new(), Vec::new());
                e.tabulate_into(times, &mut f, &mut m);
                (f, m)
            }
            _ => (
                times.iter().map(|&x| self.cdf(x)).collect(),
                times.iter().map(|&x| self.partial_mean(x)).collect(),
            ),
        }
    }

    /// `E[T]` (what sets a simulated key's capacity: active limit / mean).
    pub fn mean(&self) -> f64 {
        self.form().mean()
    }

    /// The `p`-quantile, the smallest `t` with `P(T ≤ t) ≥ p` (`p` is clamped to `[0, 1]`;
    /// the 1-quantile of a lognormal is infinite). Of a uniform draw, an inverse-CDF sample.
    pub fn quantile(&self, p: f64) -> f64 {
        let p = if p.is_nan() { 0.5 } else { p.clamp(0.0, 1.0) };
        self.form().quantile(p)
    }

    /// A time past which at most `eps` of the mass lies (finite): the largest value of a
    /// bounded distribution, else the `1 − eps` quantile.
    pub fn horizon(&self, eps: f64) -> f64 {
        self.form()
            .support_max()
            .unwrap_or_else(|| self.quantile(1.0 - eps.clamp(1e-12, 0.5)))
    }

    /// Draws one duration in seconds (finite and ≥ 0): the simulator's stream, so its
    /// figures stay put — Box–Muller ([`crate::stats::standard_normal`]) for a lognormal, one
    /// uniform then a lognormal for a bimodal, one uniform for a uniform and (by inverse CDF)
    /// an empirical mixture, one index for samples, nothing for a fixed duration.
    pub fn sample<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let d = self.form().sample(rng);
        if d.is_finite() {
            d.max(0.0)
        } else {
            0.0
        }
    }
}

/// `P(T ≤ t)` for `T = x` always.
fn point_cdf(x: f64, t: f64) -> f64 {
    f64::from(u8::from(t >= x))
}

/// `E[T · 1{T ≤ t}]` for `T = x` always.
fn point_partial_mean(x: f64, t: f64) -> f64 {
    if t >= x {
        x
    } else {
        0.0
    }
}

/// The smallest `t` in `[lo, hi]` with `cdf(t) ≥ p`, to 64 halvings (`cdf` non-decreasing).
fn bisect(mut lo: f64, mut hi: f64, p: f64, cdf: impl Fn(f64) -> f64) -> f64 {
    for _ in 0..64 {
        let mid = 0.5 * (lo + hi);
        if cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

#[cfg(test)]
mod tests;
