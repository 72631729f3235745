//! The oracle's dynamic programme, in linear time.
//!
//! After a poll at grid point `i` saw the task pending, the least cost to go (weighted by
//! `P(T > tᵢ)`) is
//!
//! `w[i] = λ(1 − Fᵢ) + min_{j>i} [tⱼ(Fⱼ − Fᵢ) − (Mⱼ − Mᵢ) + w[j]] = λ(1 − Fᵢ) + Mᵢ + min_{j>i} Lⱼ(Fᵢ)`
//!
//! with the lines `Lⱼ(x) = −tⱼ·x + (tⱼFⱼ − Mⱼ + w[j])`: a minimum over lines at `x = Fᵢ`.
//! Walking `i` down adds lines of rising slope (`t` falls) and asks at falling `x` (`F` falls),
//! so a convex-hull walk answers each query in amortised O(1) — O(n) for the whole programme
//! where trying every `j` costs O(n²). Ties go to the earlier poll, as trying `j` in order does.

/// Reusable buffers of [`solve`] (no allocation per call once they have grown).
#[derive(Debug, Default, Clone)]
pub(crate) struct DpBuffers {
    /// The cost to go at each grid point.
    w: Vec<f64>,
    /// The lower envelope's lines, oldest (steepest) first.
    hull: Vec<Line>,
}

/// The line of a later poll `j`: `b − t·x` (slope `−tⱼ`, intercept `tⱼFⱼ − Mⱼ + w[j]`).
#[derive(Debug, Clone, Copy)]
struct Line {
    t: f64,
    b: f64,
    w: f64,
    j: usize,
}

impl Line {
    fn at(&self, x: f64) -> f64 {
        self.b - self.t * x
    }
}

/// Solves the programme on the grid `t` (with CDF `f` and partial mean `m` there, `t[0] = 0`)
/// for poll cost `lambda`, calling `on_next(i, j)` with the best next poll `j` after a pending
/// poll at each `i`, from the last grid point down to 0. Returns the cost from the submit.
pub(crate) fn solve(
    t: &[f64],
    f: &[f64],
    m: &[f64],
    lambda: f64,
    buf: &mut DpBuffers,
    mut on_next: impl FnMut(usize, usize),
) -> f64 {
    let n = t.len().min(f.len()).min(m.len());
    let DpBuffers { w, hull } = buf;
    w.clear();
    w.resize(n, 0.0);
    hull.clear();
    if n < 2 {
        return 0.0;
    }
    let mut head = 0;
    for i in (0..n - 1).rev() {
        let j = i + 1;
        let new = Line {
            t: t[j],
            b: t[j] * f[j] - m[j] + w[j],
            w: w[j],
            j,
        };
        // The newest line hides the last one where it is below both neighbours' crossing.
        // Slopes a = −t: with a₁ < a₂ < a₃, line 2 is useless iff
        // (b₃ − b₂)(a₁ − a₂) ≥ (b₂ − b₁)(a₂ − a₃).
        while hull.len() >= head + 2 {
            let (l1, l2) = (&hull[hull.len() - 2], &hull[hull.len() - 1]);
            if (new.b - l2.b) * (l2.t - l1.t) < (l2.b - l1.b) * (new.t - l2.t) {
                break;
            }
            hull.pop();
        }
        hull.push(new);
        // Queries fall: a line beaten here by a newer one is beaten for good.
        let x = f[i];
        let mut best = hull[head];
        while let Some(next) = hull.get(head + 1) {
            if next.at(x) > best.at(x) {
                break;
            }
            best = *next;
            head += 1;
        }
        let lag = (best.at(x) - best.w + m[i]).max(0.0);
        w[i] = lambda * (1.0 - f[i]) + lag + best.w;
        on_next(i, best.j);
    }
    w[0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::{DurationDist, Empirical};
    use crate::strategy::oracle::Grid;

    /// The programme as written: every later `j` tried for every `i`.
    fn quadratic(t: &[f64], f: &[f64], m: &[f64], lambda: f64) -> Vec<f64> {
        let n = t.len();
        let mut w = vec![0.0; n];
        for i in (0..n - 1).rev() {
            w[i] = (i + 1..n)
                .map(|j| {
                    let lag = (t[j] * (f[j] - f[i]) - (m[j] - m[i])).max(0.0);
                    lambda * (1.0 - f[i]) + lag + w[j]
                })
                .fold(f64::INFINITY, f64::min);
        }
        w
    }

    #[test]
    fn the_hull_walk_finds_the_costs_of_trying_every_poll() {
        let mut gappy = Empirical::new();
        for (lo, hi) in [(1.0, 1.5), (4.0, 4.0), (6.0, 9.0), (6.5, 7.0)] {
            gappy.push(lo, hi, 1.0);
        }
        let dists = [
            DurationDist::LogNormal {
                median: 6.0,
                sigma: 0.5,
            },
            DurationDist::Fixed(3.0),
            DurationDist::Empirical(gappy),
        ];
        let mut buf = DpBuffers::default();
        for dist in &dists {
            let grid = Grid::log_spaced(dist, 0.1, 20.0, 150);
            let (t, f, m) = (&grid.t, &grid.f, &grid.m);
            for lambda in [0.0, 0.003, 0.1, 1.0, 30.0] {
                let want = quadratic(t, f, m, lambda);
                let mut next = vec![0; t.len()];
                let got = solve(t, f, m, lambda, &mut buf, |i, j| next[i] = j);
                assert!((got - want[0]).abs() < 1e-9, "{dist} λ={lambda}");
                // Each successor achieves its point's cost.
                for i in 0..t.len() - 1 {
                    let j = next[i];
                    let lag = (t[j] * (f[j] - f[i]) - (m[j] - m[i])).max(0.0);
                    let c = lambda * (1.0 - f[i]) + lag + want[j];
                    assert!((c - want[i]).abs() < 1e-9, "{dist} λ={lambda} at {i}");
                }
            }
        }
    }
}
