//! Small numeric helpers shared by the engine, the strategy lab and the simulator: stable hashes,
//! seed mixing, a normal sample, and the one quantile and [`Spread`] every lag figure is made
//! of. One definition each, so a stream, a fingerprint or a percentile computed in one crate is
//! the same in another.

/// FNV-1a, 64 bits: a stable hash (unlike `DefaultHasher`, fixed across Rust versions and
/// platforms).
///
/// ```
/// use bfl_core::stats::Fnv1a;
/// assert_eq!(Fnv1a::new().bytes(b"").finish(), 0xcbf2_9ce4_8422_2325);
/// assert_eq!(Fnv1a::new().bytes(b"a").finish(), 0xaf63_dc4c_8601_ec8c);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fnv1a(u64);

impl Fnv1a {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    /// The empty hash.
    pub const fn new() -> Fnv1a {
        Fnv1a(Self::OFFSET)
    }

    /// Hashes `bytes` in.
    #[must_use]
    pub fn bytes(mut self, bytes: &[u8]) -> Fnv1a {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
        self
    }

    /// Hashes each part in, each followed by a `0xff` separator (so `["ab", "c"]` and
    /// `["a", "bc"]` differ).
    #[must_use]
    pub fn parts(self, parts: &[&[u8]]) -> Fnv1a {
        parts
            .iter()
            .fold(self, |h, part| h.bytes(part).bytes(&[0xff]))
    }

    /// The hash.
    pub const fn finish(self) -> u64 {
        self.0
    }
}

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a::new()
    }
}

/// SplitMix64's output function: a well-mixed 64-bit value of `z` (a bijection), for deriving
/// independent seeds from a seed and an index.
pub const fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// SplitMix64's increment (the golden ratio in 64 bits).
pub const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// The value at `x` on the segment from `(x0, y0)` to `(x1, y1)`, clamped to the segment (`y0`
/// when it is a point).
///
/// ```
/// assert_eq!(bfl_core::stats::interpolate(1.5, (1.0, 10.0), (2.0, 20.0)), 15.0);
/// assert_eq!(bfl_core::stats::interpolate(9.0, (1.0, 10.0), (2.0, 20.0)), 20.0);
/// ```
pub fn interpolate(x: f64, (x0, y0): (f64, f64), (x1, y1): (f64, f64)) -> f64 {
    let span = x1 - x0;
    if span <= 1e-12 {
        return y0;
    }
    let t = ((x - x0) / span).clamp(0.0, 1.0);
    y0 + t * (y1 - y0)
}

/// A standard normal sample by Box–Muller (two uniform draws, in this order).
pub fn standard_normal<R: rand::Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The `q`-quantile of ascending `sorted` values (the nearest rank: the value at
/// `round((n − 1) · q)`); NaN when there are none.
///
/// ```
/// let v = [1.0, 2.0, 3.0, 4.0];
/// assert_eq!(bfl_core::stats::quantile(&v, 0.5), 3.0);
/// assert_eq!(bfl_core::stats::quantile(&v, 0.99), 4.0);
/// assert!(bfl_core::stats::quantile(&[], 0.5).is_nan());
/// ```
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n => sorted[((n - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize],
    }
}

/// Count, mean, percentiles ([`quantile`]) and largest of a sample: the shape of every lag
/// figure (the strategy lab's, `bfl compare`'s, the simulator's summary).
///
/// ```
/// let s = bfl_core::stats::Spread::of((1..=100).map(f64::from).collect());
/// assert_eq!((s.n, s.mean, s.p50, s.p99, s.max), (100, 50.5, 51.0, 99.0, 100.0));
/// assert_eq!(bfl_core::stats::Spread::of(vec![]), Default::default());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Spread {
    /// Number of values.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Spread {
    /// The spread of `values` (any order; NaNs are dropped; all zeros when none are left).
    pub fn of(mut values: Vec<f64>) -> Spread {
        values.retain(|v| !v.is_nan());
        // Sorted before summing: the mean is the same sum whatever order the values came in.
        values.sort_by(f64::total_cmp);
        let Some(&max) = values.last() else {
            return Spread::default();
        };
        let at = |q: f64| quantile(&values, q);
        Spread {
            n: values.len(),
            mean: values.iter().sum::<f64>() / values.len() as f64,
            p50: at(0.5),
            p95: at(0.95),
            p99: at(0.99),
            max,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_separated() {
        let a = Fnv1a::new().parts(&[b"ab", b"c"]).finish();
        let b = Fnv1a::new().parts(&[b"a", b"bc"]).finish();
        assert_ne!(a, b);
        assert_eq!(
            Fnv1a::new().parts(&[b"ab"]).finish(),
            Fnv1a::new().bytes(b"ab\xff").finish()
        );
    }

    #[test]
    fn a_spread_takes_values_in_any_order_and_drops_nans() {
        let s = Spread::of(vec![3.0, f64::NAN, 1.0, 4.0, 2.0]);
        assert_eq!((s.n, s.mean, s.p50, s.p95, s.max), (4, 2.5, 3.0, 4.0, 4.0));
        assert_eq!(Spread::of(vec![f64::NAN]), Spread::default());
        // The nearest rank: round((n − 1) · q), so the 95th of 1..=1000 is the 950th value.
        let s = Spread::of((1..=1000).rev().map(f64::from).collect());
        assert_eq!((s.p50, s.p95, s.p99), (501.0, 950.0, 990.0));
    }

    #[test]
    fn splitmix_matches_the_reference_stream() {
        // The first output of SplitMix64 seeded with 0 (Vigna's reference implementation).
        assert_eq!(splitmix64(GOLDEN_GAMMA), 0xe220_a839_7b1d_cdaf);
    }
}
