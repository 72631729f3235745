//! [`DurationDist::Samples`](super::DurationDist::Samples): each listed value with equal
//! probability (none: always 0).

use super::point_cdf;
use rand::Rng;

/// `P(T ≤ t)`.
pub(super) fn cdf(v: &[f64], t: f64) -> f64 {
    if v.is_empty() {
        return point_cdf(0.0, t);
    }
    v.iter().filter(|&&x| x <= t).count() as f64 / v.len() as f64
}

/// `E[T · 1{T ≤ t}]`.
pub(super) fn partial_mean(v: &[f64], t: f64) -> f64 {
    v.iter().filter(|&&x| x <= t).sum::<f64>() / v.len().max(1) as f64
}

/// `E[T]`.
pub(super) fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// The smallest value whose CDF reaches `p` (`p` in `[0, 1]`): the `i`-th smallest for the
/// first `i` with `(i + 1) / n ≥ p`, computed as [`cdf`] computes, so `cdf(quantile(p)) ≥ p`
/// holds exactly.
pub(super) fn quantile(v: &[f64], p: f64) -> f64 {
    let mut sorted = v.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    let n = sorted.len() as f64;
    let i = (0..sorted.len())
        .find(|&i| (i + 1) as f64 / n >= p)
        .unwrap_or(sorted.len().saturating_sub(1));
    sorted.get(i).copied().unwrap_or(0.0)
}

/// One index, uniformly (no draw when there is nothing to pick).
pub(super) fn sample<R: Rng + ?Sized>(v: &[f64], rng: &mut R) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v[rng.random_range(0..v.len())]
}
