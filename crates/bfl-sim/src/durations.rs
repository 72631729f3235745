//! Random durations: generation times and queue delays.
//!
//! A [`DurationModel`] is written as a short string, the same in scenario files and on the
//! command line: `fixed:5`, `lognormal:6,0.5` (median seconds, σ of the log), `uniform:2,8`,
//! `bimodal:0.01,6,0.5,60,0.5` (with probability 0.01 the second lognormal, else the first),
//! `samples:1.5,2,7.25` (one of the listed values, uniformly).

use bfl_core::stats::standard_normal;
use rand::Rng;
use std::fmt;
use std::str::FromStr;

/// A distribution of durations in seconds. Samples are never negative.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DurationModel {
    /// Always the same.
    Fixed(f64),
    /// Lognormal with this median (seconds) and σ of the underlying normal.
    LogNormal {
        /// Median in seconds (`e^μ`).
        median: f64,
        /// Standard deviation of `ln(duration)`.
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
        /// Median of the fast mode.
        fast_median: f64,
        /// σ of the fast mode.
        fast_sigma: f64,
        /// Median of the slow mode.
        slow_median: f64,
        /// σ of the slow mode.
        slow_sigma: f64,
    },
    /// One of these values, uniformly (e.g. durations measured on the real API).
    Samples(Vec<f64>),
}

fn lognormal(rng: &mut impl Rng, median: f64, sigma: f64) -> f64 {
    median * (sigma * standard_normal(rng)).exp()
}

impl DurationModel {
    /// Draws one duration in seconds (finite and ≥ 0).
    pub fn sample(&self, rng: &mut impl Rng) -> f64 {
        let d = match self {
            DurationModel::Fixed(s) => *s,
            DurationModel::LogNormal { median, sigma } => lognormal(rng, *median, *sigma),
            DurationModel::Uniform { low, high } => {
                let u: f64 = rng.random();
                low + (high - low) * u
            }
            DurationModel::Bimodal {
                p_slow,
                fast_median,
                fast_sigma,
                slow_median,
                slow_sigma,
            } => {
                if rng.random::<f64>() < *p_slow {
                    lognormal(rng, *slow_median, *slow_sigma)
                } else {
                    lognormal(rng, *fast_median, *fast_sigma)
                }
            }
            DurationModel::Samples(v) if v.is_empty() => 0.0,
            DurationModel::Samples(v) => v[rng.random_range(0..v.len())],
        };
        if d.is_finite() {
            d.max(0.0)
        } else {
            0.0
        }
    }

    /// The mean duration, seconds (what sets a key's capacity: active limit / mean).
    pub fn mean(&self) -> f64 {
        let ln_mean = |median: f64, sigma: f64| median * (sigma * sigma / 2.0).exp();
        match self {
            DurationModel::Fixed(s) => *s,
            DurationModel::LogNormal { median, sigma } => ln_mean(*median, *sigma),
            DurationModel::Uniform { low, high } => (low + high) / 2.0,
            DurationModel::Bimodal {
                p_slow,
                fast_median,
                fast_sigma,
                slow_median,
                slow_sigma,
            } => {
                p_slow * ln_mean(*slow_median, *slow_sigma)
                    + (1.0 - p_slow) * ln_mean(*fast_median, *fast_sigma)
            }
            DurationModel::Samples(v) => v.iter().sum::<f64>() / v.len().max(1) as f64,
        }
    }

    /// The default generation time of a model family (`docs/bfl-api.md`, "Generation times").
    pub fn default_for_model(model: &str) -> DurationModel {
        let (median, sigma) = if model.starts_with("flux-2-klein") {
            (0.6, 0.3)
        } else if model.starts_with("flux-2-max") || model == "flux-kontext-max" {
            (14.0, 0.3)
        } else if model.starts_with("flux-2-flex") {
            (7.0, 0.4)
        } else if model == "flux-dev" {
            (7.0, 0.15)
        } else if model.contains("ultra") {
            (10.0, 0.4)
        } else if model.starts_with("flux-pro-1.0") {
            (8.0, 0.4)
        } else {
            (6.0, 0.5)
        };
        DurationModel::LogNormal { median, sigma }
    }
}

/// Why a duration model string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration model {input:?}: {reason} (e.g. fixed:5, lognormal:6,0.5, uniform:2,8, bimodal:0.01,6,0.5,60,0.5, samples:1,2,3)")]
pub struct ParseDurationError {
    /// The input.
    pub input: String,
    /// What is wrong.
    pub reason: String,
}

impl FromStr for DurationModel {
    type Err = ParseDurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| ParseDurationError {
            input: s.to_owned(),
            reason: reason.to_owned(),
        };
        let (kind, args) = s.trim().split_once(':').unwrap_or(("fixed", s.trim()));
        let nums: Vec<f64> = args
            .split(',')
            .filter(|a| !a.trim().is_empty())
            .map(|a| a.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| err("arguments must be numbers"))?;
        if nums.iter().any(|n| !n.is_finite() || *n < 0.0) {
            return Err(err("arguments must be finite and non-negative"));
        }
        let want = |n: usize| {
            if nums.len() == n {
                Ok(())
            } else {
                Err(err(&format!("{kind} takes {n} argument(s)")))
            }
        };
        match kind.trim().to_ascii_lowercase().as_str() {
            "fixed" => want(1).map(|_| DurationModel::Fixed(nums[0])),
            "lognormal" => want(2).map(|_| DurationModel::LogNormal {
                median: nums[0],
                sigma: nums[1],
            }),
            "uniform" => want(2).and_then(|_| {
                if nums[0] <= nums[1] {
                    Ok(DurationModel::Uniform {
                        low: nums[0],
                        high: nums[1],
                    })
                } else {
                    Err(err("uniform needs low <= high"))
                }
            }),
            "bimodal" => want(5).and_then(|_| {
                if nums[0] <= 1.0 {
                    Ok(DurationModel::Bimodal {
                        p_slow: nums[0],
                        fast_median: nums[1],
                        fast_sigma: nums[2],
                        slow_median: nums[3],
                        slow_sigma: nums[4],
                    })
                } else {
                    Err(err("the probability must be within 0..=1"))
                }
            }),
            "samples" if !nums.is_empty() => Ok(DurationModel::Samples(nums)),
            "samples" => Err(err("samples needs at least one value")),
            _ => Err(err("unknown kind")),
        }
    }
}

impl TryFrom<String> for DurationModel {
    type Error = ParseDurationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<DurationModel> for String {
    fn from(d: DurationModel) -> String {
        d.to_string()
    }
}

impl fmt::Display for DurationModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationModel::Fixed(s) => write!(f, "fixed:{s}"),
            DurationModel::LogNormal { median, sigma } => write!(f, "lognormal:{median},{sigma}"),
            DurationModel::Uniform { low, high } => write!(f, "uniform:{low},{high}"),
            DurationModel::Bimodal {
                p_slow,
                fast_median,
                fast_sigma,
                slow_median,
                slow_sigma,
            } => write!(
                f,
                "bimodal:{p_slow},{fast_median},{fast_sigma},{slow_median},{slow_sigma}"
            ),
            DurationModel::Samples(v) => {
                f.write_str("samples:")?;
                let parts: Vec<String> = v.iter().map(f64::to_string).collect();
                f.write_str(&parts.join(","))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn parses_and_prints_round_trip() {
        for s in [
            "fixed:5",
            "lognormal:6,0.5",
            "uniform:2,8",
            "bimodal:0.01,6,0.5,60,0.5",
            "samples:1.5,2,7.25",
        ] {
            let d: DurationModel = s.parse().unwrap();
            assert_eq!(d.to_string(), s);
        }
        assert_eq!("5".parse::<DurationModel>(), Ok(DurationModel::Fixed(5.0)));
        for bad in [
            "lognormal:6",
            "nope:1",
            "fixed:-1",
            "fixed:x",
            "samples:",
            "uniform:3,1",
        ] {
            assert!(bad.parse::<DurationModel>().is_err(), "{bad}");
        }
    }

    #[test]
    fn lognormal_median_is_close() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let d = DurationModel::LogNormal {
            median: 6.0,
            sigma: 0.5,
        };
        let mut v: Vec<f64> = (0..20_000).map(|_| d.sample(&mut rng)).collect();
        v.sort_by(f64::total_cmp);
        let median = v[v.len() / 2];
        assert!((median - 6.0).abs() < 0.15, "median {median}");
    }
}
