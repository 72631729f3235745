//! Duration distributions: what the oracle needs of one (CDF, partial mean, quantile).

use std::fmt;
use std::str::FromStr;

/// A distribution of task durations (submit to `Ready`), in seconds.
#[derive(Debug, Clone, PartialEq)]
pub enum DurationDist {
    /// Lognormal with the given median (seconds) and σ of the log.
    LogNormal {
        /// The median, seconds.
        median: f64,
        /// The standard deviation of `ln T`.
        sigma: f64,
    },
    /// Every task takes exactly this many seconds.
    Fixed(f64),
    /// A mixture of uniform pieces (and point masses), e.g. learned from observations.
    Empirical(Empirical),
}

/// A mixture of weighted uniform pieces on `[lo, hi]` (a point mass when `lo == hi`).
///
/// Interval-censored observations ("ready between the last pending poll and the first ready
/// poll") are pieces as they stand; exact ones become pieces once smoothed by a kernel.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Empirical {
    pieces: Vec<(f64, f64, f64)>,
    total: f64,
}

impl Empirical {
    /// An empty mixture.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty mixture with room for `pieces` pieces.
    pub fn with_capacity(pieces: usize) -> Self {
        Empirical {
            pieces: Vec::with_capacity(pieces),
            total: 0.0,
        }
    }

    /// Adds `weight` spread uniformly over `[lo, hi]` (swapped if reversed). Ignores pieces
    /// that are not finite, negative, or of non-positive weight.
    pub fn push(&mut self, lo: f64, hi: f64, weight: f64) {
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        if !(lo.is_finite() && hi.is_finite() && lo >= 0.0 && weight > 0.0 && weight.is_finite()) {
            return;
        }
        self.pieces.push((lo, hi, weight));
        self.total += weight;
    }

    /// The number of pieces.
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    /// Whether there are no pieces.
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The largest value with mass.
    pub fn max(&self) -> f64 {
        self.pieces.iter().map(|p| p.1).fold(0.0, f64::max)
    }

    /// Empties the mixture, keeping its buffer.
    pub(crate) fn clear(&mut self) {
        self.pieces.clear();
        self.total = 0.0;
    }

    /// The CDF and partial mean at each of `times` (ascending) in one walk over the pieces'
    /// starts and ends, `O(pieces + n)` when the pieces come sorted (as the posterior's do),
    /// plus a sort otherwise. At `t`, a piece open there adds `d·(t − lo)` to the CDF and
    /// `d·(t² − lo²)/2` to the partial mean (density `d`), a closed one its mass and `mass ·
    /// mid`: so both are `density·t + c` and `density·t²/2 + c'` with sums that change only
    /// where a piece starts or ends, in any order. Written into `f` and `m` (buffers reused).
    pub(crate) fn tabulate_into(&self, times: &[f64], f: &mut Vec<f64>, m: &mut Vec<f64>) {
        f.clear();
        m.clear();
        if self.total <= 0.0 {
            f.resize(times.len(), 0.0);
            m.resize(times.len(), 0.0);
            return;
        }
        let starts = sorted_by(&self.pieces, |p| p.0);
        let ends = sorted_by(&self.pieces, |p| p.1);
        // Indices, not iterators behind `Option`s: this runs once per replanning poll.
        let (mut s, mut e) = (0, 0);
        let mut sums = OpenSums::default();
        let per_total = 1.0 / self.total;
        // Written in place, not pushed: no capacity check per entry.
        f.resize(times.len(), 0.0);
        m.resize(times.len(), 0.0);
        for ((&t, fk), mk) in times.iter().zip(f.iter_mut()).zip(m.iter_mut()) {
            while let Some(&(lo, hi, w)) = starts.get(s).filter(|p| p.0 <= t) {
                sums.open(lo, hi, w);
                s += 1;
            }
            while let Some(&(lo, hi, w)) = ends.get(e).filter(|p| p.1 <= t) {
                sums.close(lo, hi, w);
                e += 1;
            }
            *fk = ((sums.density * t + sums.f) * per_total).clamp(0.0, 1.0);
            *mk = (sums.density * 0.5 * t * t + sums.m) * per_total;
        }
    }

    fn cdf(&self, t: f64) -> f64 {
        if self.total <= 0.0 {
            return 0.0;
        }
        let mass: f64 = self
            .pieces
            .iter()
            .map(|&(lo, hi, w)| w * piece_cdf(lo, hi, t))
            .sum();
        (mass / self.total).clamp(0.0, 1.0)
    }

    fn partial_mean(&self, t: f64) -> f64 {
        if self.total <= 0.0 {
            return 0.0;
        }
        let m: f64 = self
            .pieces
            .iter()
            .map(|&(lo, hi, w)| {
                let top = t.min(hi);
                if t < lo {
                    0.0
                } else if hi > lo {
                    // ∫_lo^top u du / (hi − lo)
                    w * (top * top - lo * lo) / (2.0 * (hi - lo))
                } else {
                    w * lo
                }
            })
            .sum();
        m / self.total
    }
}

/// The pieces in order of `key`, borrowed as they are when already sorted.
fn sorted_by(
    pieces: &[(f64, f64, f64)],
    key: impl Fn(&(f64, f64, f64)) -> f64,
) -> std::borrow::Cow<'_, [(f64, f64, f64)]> {
    if pieces.windows(2).all(|w| key(&w[0]) <= key(&w[1])) {
        return std::borrow::Cow::Borrowed(pieces);
    }
    let mut v = pieces.to_vec();
    v.sort_unstable_by(|a, b| key(a).total_cmp(&key(b)));
    std::borrow::Cow::Owned(v)
}

/// The sums of [`Empirical::tabulate_into`]: CDF `density·t + f`, partial mean
/// `density·t²/2 + m`, from the pieces open at `t` and those closed before it.
#[derive(Default)]
struct OpenSums {
    density: f64,
    f: f64,
    m: f64,
    open: usize,
}

impl OpenSums {
    /// A uniform piece starting (point masses count whole when they close).
    fn open(&mut self, lo: f64, hi: f64, w: f64) {
        if hi > lo {
            let d = w / (hi - lo);
            self.density += d;
            self.f -= d * lo;
            self.m -= 0.5 * d * lo * lo;
            self.open += 1;
        }
    }

    /// A piece ending: its mass at its mean from here on.
    fn close(&mut self, lo: f64, hi: f64, w: f64) {
        if hi > lo {
            let d = w / (hi - lo);
            self.open = self.open.saturating_sub(1);
            // With nothing open, no rounding residue of the subtractions may linger.
            self.density = if self.open == 0 {
                0.0
            } else {
                self.density - d
            };
            self.f += d * lo;
            self.m += 0.5 * d * lo * lo;
        }
        self.f += w;
        self.m += w * 0.5 * (lo + hi);
    }
}

fn piece_cdf(lo: f64, hi: f64, t: f64) -> f64 {
    if t >= hi {
        1.0
    } else if t < lo {
        0.0
    } else {
        (t - lo) / (hi - lo)
    }
}

impl DurationDist {
    /// `P(T ≤ t)`.
    pub fn cdf(&self, t: f64) -> f64 {
        match self {
            DurationDist::LogNormal { median, sigma } => {
                if t <= 0.0 {
                    0.0
                } else {
                    normal_cdf((t / median).ln() / sigma)
                }
            }
            DurationDist::Fixed(d) => f64::from(u8::from(t >= *d)),
            DurationDist::Empirical(e) => e.cdf(t),
        }
    }

    /// The partial first moment `E[T · 1{T ≤ t}]`.
    pub fn partial_mean(&self, t: f64) -> f64 {
        match self {
            DurationDist::LogNormal { median, sigma } => {
                if t <= 0.0 {
                    0.0
                } else {
                    let mean = median * (sigma * sigma / 2.0).exp();
                    mean * normal_cdf(((t / median).ln() - sigma * sigma) / sigma)
                }
            }
            DurationDist::Fixed(d) => {
                if t >= *d {
                    *d
                } else {
                    0.0
                }
            }
            DurationDist::Empirical(e) => e.partial_mean(t),
        }
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

    /// `E[T]`.
    pub fn mean(&self) -> f64 {
        match self {
            DurationDist::LogNormal { median, sigma } => median * (sigma * sigma / 2.0).exp(),
            DurationDist::Fixed(d) => *d,
            DurationDist::Empirical(e) => e.partial_mean(f64::INFINITY),
        }
    }

    /// The `p`-quantile (`p` is clamped to `[0, 1]`; the 1-quantile of a lognormal is infinite).
    pub fn quantile(&self, p: f64) -> f64 {
        let p = if p.is_nan() { 0.5 } else { p.clamp(0.0, 1.0) };
        match self {
            DurationDist::LogNormal { median, sigma } => {
                median * (sigma * normal_quantile(p)).exp()
            }
            DurationDist::Fixed(d) => *d,
            DurationDist::Empirical(e) => {
                let (mut lo, mut hi) = (0.0, e.max());
                for _ in 0..64 {
                    let mid = 0.5 * (lo + hi);
                    if e.cdf(mid) < p {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                hi
            }
        }
    }

    /// A draw, given a uniform `u` in `[0, 1)` (inverse-CDF sampling keeps this module free of
    /// random-number crates).
    pub fn sample(&self, u: f64) -> f64 {
        self.quantile(u)
    }

    /// A time past which at most `eps` of the mass lies (finite).
    pub fn horizon(&self, eps: f64) -> f64 {
        match self {
            DurationDist::Empirical(e) => e.max(),
            _ => self.quantile(1.0 - eps.clamp(1e-12, 0.5)),
        }
    }
}

impl fmt::Display for DurationDist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationDist::LogNormal { median, sigma } => write!(f, "lognormal:{median},{sigma}"),
            DurationDist::Fixed(d) => write!(f, "fixed:{d}"),
            DurationDist::Empirical(e) => write!(f, "empirical({} pieces)", e.len()),
        }
    }
}

/// Why a distribution spec did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseDistError(String);

impl fmt::Display for ParseDistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bad duration distribution `{}`: expected `lognormal:MEDIAN_S,SIGMA` or `fixed:S`",
            self.0
        )
    }
}

impl std::error::Error for ParseDistError {}

impl FromStr for DurationDist {
    type Err = ParseDistError;

    /// Parses `lognormal:MEDIAN_S,SIGMA` or `fixed:S`.
    ///
    /// ```
    /// use bfl_core::strategy::oracle::DurationDist;
    /// let d: DurationDist = "lognormal:6,0.5".parse().unwrap();
    /// assert_eq!(d, DurationDist::LogNormal { median: 6.0, sigma: 0.5 });
    /// assert!("lognormal:6".parse::<DurationDist>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseDistError(s.to_owned());
        let (kind, args) = s.split_once(':').ok_or_else(err)?;
        let nums: Vec<f64> = args
            .split(',')
            .map(|a| a.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| err())?;
        let ok = |v: f64| v.is_finite() && v > 0.0;
        match (kind.trim(), nums.as_slice()) {
            ("lognormal", &[median, sigma]) if ok(median) && ok(sigma) => {
                Ok(DurationDist::LogNormal { median, sigma })
            }
            ("fixed", &[d]) if ok(d) => Ok(DurationDist::Fixed(d)),
            _ => Err(err()),
        }
    }
}

/// The standard normal CDF, via erfc (Numerical Recipes' Chebyshev fit, |rel err| < 1.2e-7).
pub(crate) fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// The standard normal quantile (Acklam's rational approximation, |rel err| < 1.2e-9).
pub(crate) fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    const LOW: f64 = 0.024_25;
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_and_quantile_agree_with_tables() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-1.0) - 0.158_655_25).abs() < 1e-6);
        for p in [1e-6, 0.01, 0.3, 0.5, 0.9, 0.999] {
            assert!((normal_cdf(normal_quantile(p)) - p).abs() < 1e-6 * p.max(0.01));
        }
    }

    #[test]
    fn lognormal_moments_match_closed_forms() {
        let d = DurationDist::LogNormal {
            median: 6.0,
            sigma: 0.5,
        };
        assert!((d.cdf(6.0) - 0.5).abs() < 1e-7);
        assert!((d.quantile(0.5) - 6.0).abs() < 1e-6);
        let mean = 6.0 * (0.125f64).exp();
        assert!((d.mean() - mean).abs() < 1e-9);
        assert!((d.partial_mean(1e6) - mean).abs() < 1e-6);
        // The partial mean grows by t·dF: check a small increment numerically.
        let (t, h) = (7.0, 1e-4);
        let dm = d.partial_mean(t + h) - d.partial_mean(t);
        let df = d.cdf(t + h) - d.cdf(t);
        assert!((dm / df - t).abs() < 1e-2, "{}", dm / df);
    }

    #[test]
    fn empirical_pieces_mix_uniforms_and_points() {
        let mut e = Empirical::new();
        e.push(2.0, 4.0, 1.0);
        e.push(5.0, 5.0, 1.0);
        e.push(f64::NAN, 1.0, 1.0); // ignored
        let d = DurationDist::Empirical(e);
        assert_eq!(d.cdf(1.0), 0.0);
        assert!((d.cdf(3.0) - 0.25).abs() < 1e-12);
        assert!((d.cdf(5.0) - 1.0).abs() < 1e-12);
        assert!((d.mean() - 4.0).abs() < 1e-12);
        assert!((d.quantile(0.25) - 3.0).abs() < 1e-9);
        assert_eq!(d.horizon(1e-6), 5.0);
    }

    #[test]
    fn tabulating_an_empirical_mixture_matches_point_by_point() {
        let mut e = Empirical::new();
        for (lo, hi) in [(1.0, 3.0), (2.0, 2.0), (2.5, 7.0), (0.0, 0.5)] {
            e.push(lo, hi, 1.5);
        }
        let d = DurationDist::Empirical(e);
        let times: Vec<f64> = (0..80).map(|i| i as f64 * 0.1).collect();
        let (f, m) = d.tabulate(&times);
        for (k, &t) in times.iter().enumerate() {
            assert!((f[k] - d.cdf(t)).abs() < 1e-12, "cdf at {t}");
            assert!(
                (m[k] - d.partial_mean(t)).abs() < 1e-12,
                "partial mean at {t}"
            );
        }
    }

    #[test]
    fn specs_parse() {
        assert_eq!("fixed:5".parse(), Ok(DurationDist::Fixed(5.0)));
        assert!("fixed:-1".parse::<DurationDist>().is_err());
        assert!("uniform:1,2".parse::<DurationDist>().is_err());
        let d = DurationDist::LogNormal {
            median: 20.0,
            sigma: 0.8,
        };
        assert_eq!(d.to_string().parse(), Ok(d));
    }
}
