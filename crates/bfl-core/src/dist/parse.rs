//! The one grammar of [`DurationDist`] (see the [module docs](super)): `FromStr`, a
//! `Display` that parses back to the same value, and serde as that string.

use super::{DurationDist, Empirical};
use std::fmt;
use std::str::FromStr;

/// Why a duration distribution spec did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration distribution {input:?}: {reason} (e.g. fixed:5, lognormal:6,0.5, \
     uniform:2,8, bimodal:0.01,6,0.5,60,0.5, samples:1,2,3, empirical:2,4,1;5,5,1)"
)]
pub struct ParseDistError {
    input: String,
    reason: String,
}

impl ParseDistError {
    /// The spec as given.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What is wrong with it.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl FromStr for DurationDist {
    type Err = ParseDistError;

    /// Parses `KIND:ARGS` (the kind in any case; a bare number is `fixed`).
    ///
    /// ```
    /// use bfl_core::dist::DurationDist;
    /// assert_eq!("5".parse(), Ok(DurationDist::Fixed(5.0)));
    /// assert_eq!("Uniform: 2, 8".parse(), Ok(DurationDist::Uniform { low: 2.0, high: 8.0 }));
    /// let err = "lognormal:6".parse::<DurationDist>().unwrap_err();
    /// assert_eq!(err.reason(), "lognormal takes 2 argument(s)");
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let spec = s.trim();
        let (kind, args) = spec.split_once(':').unwrap_or(("fixed", spec));
        let kind = kind.trim().to_ascii_lowercase();
        let parsed = if kind == "empirical" {
            empirical(args)
        } else {
            numbers(args).and_then(|nums| from_numbers(&kind, nums))
        };
        parsed.map_err(|reason| ParseDistError {
            input: s.to_owned(),
            reason,
        })
    }
}

/// Comma-separated numbers, each finite and non-negative (empty entries skipped).
fn numbers(args: &str) -> Result<Vec<f64>, String> {
    let nums: Vec<f64> = args
        .split(',')
        .filter(|a| !a.trim().is_empty())
        .map(|a| a.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| "arguments must be numbers".to_owned())?;
    if nums.iter().any(|n| !n.is_finite() || *n < 0.0) {
        return Err("arguments must be finite and non-negative".into());
    }
    Ok(nums)
}

/// Every kind but `empirical`, from its numbers.
fn from_numbers(kind: &str, nums: Vec<f64>) -> Result<DurationDist, String> {
    let want = |n: usize| {
        if nums.len() == n {
            Ok(())
        } else {
            Err(format!("{kind} takes {n} argument(s)"))
        }
    };
    match kind {
        "fixed" => want(1).map(|_| DurationDist::Fixed(nums[0])),
        "lognormal" => want(2).map(|_| DurationDist::LogNormal {
            median: nums[0],
            sigma: nums[1],
        }),
        "uniform" => want(2).and_then(|_| {
            if nums[0] <= nums[1] {
                Ok(DurationDist::Uniform {
                    low: nums[0],
                    high: nums[1],
                })
            } else {
                Err("uniform needs low <= high".into())
            }
        }),
        "bimodal" => want(5).and_then(|_| {
            if nums[0] <= 1.0 {
                Ok(DurationDist::Bimodal {
                    p_slow: nums[0],
                    fast_median: nums[1],
                    fast_sigma: nums[2],
                    slow_median: nums[3],
                    slow_sigma: nums[4],
                })
            } else {
                Err("the probability must be within 0..=1".into())
            }
        }),
        "samples" if !nums.is_empty() => Ok(DurationDist::Samples(nums)),
        "samples" => Err("samples needs at least one value".into()),
        _ => Err("unknown kind".into()),
    }
}

/// `LO,HI,WEIGHT` pieces separated by `;` (`LO <= HI`, a positive weight).
fn empirical(args: &str) -> Result<DurationDist, String> {
    let mut e = Empirical::new();
    for piece in args.split(';').filter(|p| !p.trim().is_empty()) {
        match numbers(piece)?.as_slice() {
            &[lo, hi, w] if lo <= hi && w > 0.0 => e.push(lo, hi, w),
            [_, _, _] => return Err("an empirical piece needs LO <= HI and a weight > 0".into()),
            _ => return Err("an empirical piece is LO,HI,WEIGHT".into()),
        }
    }
    if e.is_empty() {
        return Err("empirical needs at least one piece".into());
    }
    Ok(DurationDist::Empirical(e))
}

impl fmt::Display for DurationDist {
    /// The spec [`DurationDist::from_str`](FromStr) parses back to this value (the shortest
    /// decimal of each number; an empty `samples` or `empirical` has none).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationDist::Fixed(d) => write!(f, "fixed:{d}"),
            DurationDist::LogNormal { median, sigma } => write!(f, "lognormal:{median},{sigma}"),
            DurationDist::Uniform { low, high } => write!(f, "uniform:{low},{high}"),
            DurationDist::Bimodal {
                p_slow,
                fast_median,
                fast_sigma,
                slow_median,
                slow_sigma,
            } => write!(
                f,
                "bimodal:{p_slow},{fast_median},{fast_sigma},{slow_median},{slow_sigma}"
            ),
            DurationDist::Samples(v) => {
                f.write_str("samples:")?;
                write_joined(f, v.iter(), ",", |f, x| write!(f, "{x}"))
            }
            DurationDist::Empirical(e) => {
                f.write_str("empirical:")?;
                write_joined(f, e.pieces().iter(), ";", |f, (lo, hi, w)| {
                    write!(f, "{lo},{hi},{w}")
                })
            }
        }
    }
}

/// Writes each item with `write_one`, `sep` between them.
fn write_joined<T>(
    f: &mut fmt::Formatter<'_>,
    items: impl Iterator<Item = T>,
    sep: &str,
    write_one: impl Fn(&mut fmt::Formatter<'_>, T) -> fmt::Result,
) -> fmt::Result {
    for (i, item) in items.enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write_one(f, item)?;
    }
    Ok(())
}

impl TryFrom<String> for DurationDist {
    type Error = ParseDistError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<DurationDist> for String {
    fn from(d: DurationDist) -> String {
        d.to_string()
    }
}
