//! [`Empirical`]: a mixture of weighted uniform pieces, what `learned` estimates from
//! observations, with its CDF and partial mean (also tabulated in one walk).

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

    /// The pieces `(lo, hi, weight)`, in the order they were pushed.
    pub fn pieces(&self) -> &[(f64, f64, f64)] {
        &self.pieces
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
        let (mut s, mut e) = (starts.iter(), ends.iter());
        let (mut next_start, mut next_end) = (s.next(), e.next());
        let mut sums = OpenSums::default();
        let per_total = 1.0 / self.total;
        f.reserve(times.len());
        m.reserve(times.len());
        for &t in times {
            while let Some(&(lo, hi, w)) = next_start.filter(|p| p.0 <= t) {
                sums.open(lo, hi, w);
                next_start = s.next();
            }
            while let Some(&(lo, hi, w)) = next_end.filter(|p| p.1 <= t) {
                sums.close(lo, hi, w);
                next_end = e.next();
            }
            f.push(((sums.density * t + sums.f) * per_total).clamp(0.0, 1.0));
            m.push((sums.density * 0.5 * t * t + sums.m) * per_total);
        }
    }

    pub(super) fn cdf(&self, t: f64) -> f64 {
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

    pub(super) fn partial_mean(&self, t: f64) -> f64 {
        if self.total <= 0.0 {
            return 0.0;
        }
        let m: f64 = self
            .pieces
            .iter()
            .map(|&(lo, hi, w)| piece_partial_mean(lo, hi, w, t))
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

/// `P(U ≤ t)` for `U` uniform on `[lo, hi]` (a point mass when `lo == hi`).
pub(super) fn piece_cdf(lo: f64, hi: f64, t: f64) -> f64 {
    if t >= hi {
        1.0
    } else if t < lo {
        0.0
    } else {
        (t - lo) / (hi - lo)
    }
}

/// `w · E[U · 1{U ≤ t}]` for `U` uniform on `[lo, hi]` (a point mass when `lo == hi`).
pub(super) fn piece_partial_mean(lo: f64, hi: f64, w: f64, t: f64) -> f64 {
    let top = t.min(hi);
    if t < lo {
        0.0
    } else if hi > lo {
        // ∫_lo^top u du / (hi − lo)
        w * (top * top - lo * lo) / (2.0 * (hi - lo))
    } else {
        w * lo
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::DurationDist;

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
}
