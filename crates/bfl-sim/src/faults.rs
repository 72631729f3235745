//! The dice of faults: one seeded stream for everything that depends on request order
//! (5xx, hangs, mangled bodies, latency, progress noise).

use crate::config::Latency;
use crate::core::{SimBody, SimResponse};
use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Seeded fault decisions.
#[derive(Debug, Clone)]
pub(crate) struct FaultDice {
    rng: SmallRng,
}

impl FaultDice {
    pub(crate) fn new(seed: u64) -> FaultDice {
        FaultDice {
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    /// True with probability `p` (no draw when `p` is 0, so enabling one fault does not
    /// reshuffle the others' dice in a scenario that lacks them).
    pub(crate) fn hit(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.random::<f64>() < p
    }

    /// A 500, 502 or 503 with the body each typically has.
    pub(crate) fn server_error(&mut self) -> SimResponse {
        let (status, ctype, body): (u16, &str, &'static [u8]) = match self.rng.random_range(0..3) {
            0 => (500, "application/json", br#"{"detail":"Internal Server Error"}"#),
            1 => (
                502,
                "text/html",
                b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>",
            ),
            _ => (503, "application/json", br#"{"detail":"Service Unavailable"}"#),
        };
        SimResponse {
            status,
            headers: vec![("content-type", ctype.into())],
            body: SimBody::Bytes(Bytes::from_static(body)),
            delay: 0.0,
            hang: false,
        }
    }

    /// Seconds before the answer leaves.
    pub(crate) fn latency(&mut self, l: &Latency, now: f64) -> f64 {
        let mut d = l.base;
        if l.jitter > 0.0 {
            d += l.jitter * self.rng.random::<f64>();
        }
        let in_window = l.spike_windows.iter().any(|(a, b)| *a <= now && now < *b);
        if in_window || self.hit(l.spike_rate) {
            d *= l.spike_factor;
        }
        if d.is_finite() {
            d.max(0.0)
        } else {
            0.0
        }
    }

    /// A malformed or truncated version of a JSON body, or `None` to leave it alone.
    pub(crate) fn mangle(&mut self, body: &Bytes, malformed: f64, truncated: f64) -> Option<Bytes> {
        if self.hit(malformed) {
            return Some(Bytes::from_static(
                b"<html><body><h1>upstream connect error or disconnect/reset before headers</h1></body></html>",
            ));
        }
        if self.hit(truncated) && body.len() > 1 {
            let cut = self.rng.random_range(1..body.len());
            return Some(body.slice(..cut));
        }
        None
    }

    /// A coarse, noisy progress reading for a true fraction `f`.
    pub(crate) fn progress(&mut self, f: f64) -> f64 {
        bfl_core::strategy::eval::ProgressNoise::COARSE.report(f, &mut self.rng)
    }
}
