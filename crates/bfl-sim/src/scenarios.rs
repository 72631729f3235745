//! The one registry of scenarios (docs/BENCHMARKS.md's S1–S7), used by `bfl-sim`, `bfl sim` and
//! `bfl compare` under the same names. A scenario is the server's side (a [`SimConfig`], a JSON
//! file in `scenarios/`) and the client's side: its [`Workload`] — one batch, open-loop Poisson
//! arrivals, or several independent clients sharing one key. The simulator alone uses only the
//! server's side; `bfl compare` runs both.
//!
//! ```
//! let s = bfl_sim::scenarios::find("s4-shared-16").unwrap();
//! assert_eq!(s.workload, bfl_sim::scenarios::Workload::SharedKey { clients: 16 });
//! assert_eq!(bfl_sim::scenarios::builtin("s2-limit-drop").unwrap().limits.schedule, vec![(60.0, 12)]);
//! ```

use crate::config::SimConfig;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::fmt::Write as _;

/// How jobs reach the server (the client's side of a scenario).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Workload {
    /// Every job at once, through one client and its limiter (S1, S2, S5–S7).
    Batch,
    /// Open loop: jobs arrive one by one, Poisson at `rho` times the key's capacity
    /// (active limit / mean duration), through one client (S3).
    Poisson {
        /// Offered load as a fraction of the key's capacity.
        rho: f64,
    },
    /// `clients` independent clients (each its own limiter), one key, all starting together,
    /// the jobs split evenly (S4: the herd after a 429).
    SharedKey {
        /// How many clients.
        clients: usize,
    },
}

impl Workload {
    /// When each of `jobs` jobs arrives, in seconds from the start, for a key of `limit` active
    /// tasks whose jobs take `mean_s` on average: all at 0, except Poisson arrivals at rate
    /// `rho · limit / mean_s` (seeded: the same seed gives the same arrivals).
    pub fn arrivals(&self, jobs: usize, limit: usize, mean_s: f64, seed: u64) -> Vec<f64> {
        let Workload::Poisson { rho } = *self else {
            return vec![0.0; jobs];
        };
        let rate = rho * limit as f64 / mean_s.max(1e-9);
        let mut rng = SmallRng::seed_from_u64(seed ^ 0xa221_7a15);
        let mut t = 0.0;
        (0..jobs)
            .map(|_| {
                let at = t;
                let u: f64 = rng.random();
                t += -(1.0 - u).ln() / rate.max(1e-12);
                at
            })
            .collect()
    }

    /// How many independent clients share the key.
    pub fn clients(&self) -> usize {
        match *self {
            Workload::SharedKey { clients } => clients.max(1),
            _ => 1,
        }
    }
}

/// A built-in scenario.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Its name on every command line.
    pub name: &'static str,
    /// One line for the listings.
    pub description: &'static str,
    /// The client's side.
    pub workload: Workload,
    json: &'static str,
}

impl Scenario {
    /// The server's side.
    pub fn config(&self) -> SimConfig {
        // Every built-in parses (a unit test proves it); a broken one falls back to defaults.
        SimConfig::from_json(self.json).unwrap_or_default()
    }
}

/// Every built-in scenario, in docs/BENCHMARKS.md order.
pub const BUILTIN: &[Scenario] = &[
    Scenario {
        name: "s1",
        description: "S1 idle server, lognormal(6 s, 0.5), one batch — the docs/BENCHMARKS.md reference",
        workload: Workload::Batch,
        json: include_str!("../scenarios/s1.json"),
    },
    Scenario {
        name: "s1-20s",
        description: "S1 idle server, lognormal(20 s, 0.8)",
        workload: Workload::Batch,
        json: include_str!("../scenarios/s1-20s.json"),
    },
    Scenario {
        name: "s1-2s",
        description: "S1 idle server, lognormal(2 s, 0.3)",
        workload: Workload::Batch,
        json: include_str!("../scenarios/s1-2s.json"),
    },
    Scenario {
        name: "s1-fixed5",
        description: "S1 idle server, every job 5 s",
        workload: Workload::Batch,
        json: include_str!("../scenarios/s1-fixed5.json"),
    },
    Scenario {
        name: "s1-tail",
        description: "S1 idle server, lognormal(6 s, 0.5) with 1 % of jobs 10x longer (no oracle)",
        workload: Workload::Batch,
        json: include_str!("../scenarios/s1-tail.json"),
    },
    Scenario {
        name: "s2-burst",
        description: "S2 burst batch: every job at t = 0, limit 24, lognormal(6 s, 0.5)",
        workload: Workload::Batch,
        json: include_str!("../scenarios/s2-burst.json"),
    },
    Scenario {
        name: "s2-limit-drop",
        description: "S2: the limit drops 24 -> 12 at t = 60 s",
        workload: Workload::Batch,
        json: include_str!("../scenarios/s2-limit-drop.json"),
    },
    Scenario {
        name: "s3-rho-0.5",
        description: "S3 open loop: Poisson arrivals at 0.5 of the key's capacity (24 / mean duration)",
        workload: Workload::Poisson { rho: 0.5 },
        json: include_str!("../scenarios/s3-open-loop.json"),
    },
    Scenario {
        name: "s3-rho-0.9",
        description: "S3 open loop: Poisson arrivals at 0.9 of the key's capacity",
        workload: Workload::Poisson { rho: 0.9 },
        json: include_str!("../scenarios/s3-open-loop.json"),
    },
    Scenario {
        name: "s3-rho-1.2",
        description: "S3 open loop: Poisson arrivals at 1.2 of the key's capacity (overload)",
        workload: Workload::Poisson { rho: 1.2 },
        json: include_str!("../scenarios/s3-open-loop.json"),
    },
    Scenario {
        name: "s3-capacity",
        description: "S3: arrivals at 0.9 of the key's capacity on a server of 48 generation slots (queueing)",
        workload: Workload::Poisson { rho: 0.9 },
        json: include_str!("../scenarios/s3-capacity.json"),
    },
    Scenario {
        name: "s4-shared-4",
        description: "S4 shared key: 4 independent clients on one key, starting together",
        workload: Workload::SharedKey { clients: 4 },
        json: include_str!("../scenarios/s4-shared-key.json"),
    },
    Scenario {
        name: "s4-shared-16",
        description: "S4 shared key: 16 independent clients on one key, starting together",
        workload: Workload::SharedKey { clients: 16 },
        json: include_str!("../scenarios/s4-shared-key.json"),
    },
    Scenario {
        name: "s5-poll-5xx-1",
        description: "S5: 1 % of polls answer 5xx",
        workload: Workload::Batch,
        json: include_str!("../scenarios/s5-poll-5xx-1.json"),
    },
    Scenario {
        name: "s5-poll-5xx-10",
        description: "S5: 10 % of polls answer 5xx",
        workload: Workload::Batch,
        json: include_str!("../scenarios/s5-poll-5xx-10.json"),
    },
    Scenario {
        name: "s5-poll-5xx-50",
        description: "S5: 50 % of polls answer 5xx",
        workload: Workload::Batch,
        json: include_str!("../scenarios/s5-poll-5xx-50.json"),
    },
    Scenario {
        name: "s5-brownout",
        description: "S5: a 30 s brownout of 503s from t = 30 s",
        workload: Workload::Batch,
        json: include_str!("../scenarios/s5-brownout.json"),
    },
    Scenario {
        name: "s5-latency-spike",
        description: "S5: 50 ms latency, x5 from t = 30 s to 90 s",
        workload: Workload::Batch,
        json: include_str!("../scenarios/s5-latency-spike.json"),
    },
    Scenario {
        name: "s5-hangs",
        description: "S5: 1 % of polls and submits never answered",
        workload: Workload::Batch,
        json: include_str!("../scenarios/s5-hangs.json"),
    },
    Scenario {
        name: "s5-malformed",
        description: "S5: 2 % of poll answers malformed, 2 % truncated",
        workload: Workload::Batch,
        json: include_str!("../scenarios/s5-malformed.json"),
    },
    Scenario {
        name: "s5-outcomes",
        description: "S5: 5 % Error, 2 % Request Moderated, 3 % Content Moderated",
        workload: Workload::Batch,
        json: include_str!("../scenarios/s5-outcomes.json"),
    },
    Scenario {
        name: "s6-retry-after-accurate",
        description: "S6: limit 24 with an accurate Retry-After on 429/503",
        workload: Workload::Batch,
        json: include_str!("../scenarios/s6-retry-after-accurate.json"),
    },
    Scenario {
        name: "s6-retry-after-absent",
        description: "S6: no Retry-After (the documented behaviour)",
        workload: Workload::Batch,
        json: include_str!("../scenarios/s6-retry-after-absent.json"),
    },
    Scenario {
        name: "s6-retry-after-zero",
        description: "S6: a wrong Retry-After: 0",
        workload: Workload::Batch,
        json: include_str!("../scenarios/s6-retry-after-zero.json"),
    },
    Scenario {
        name: "s6-retry-after-huge",
        description: "S6: a wrong Retry-After: one day",
        workload: Workload::Batch,
        json: include_str!("../scenarios/s6-retry-after-huge.json"),
    },
    Scenario {
        name: "s7-slow-consumer",
        description: "S7: every download takes 25 s more (under the 30 s transport timeout)",
        workload: Workload::Batch,
        json: include_str!("../scenarios/s7-slow-consumer.json"),
    },
];

/// The built-in scenario `name`, if there is one.
pub fn find(name: &str) -> Option<&'static Scenario> {
    BUILTIN.iter().find(|s| s.name == name)
}

/// The server's side of the built-in scenario `name` (e.g. `s5-brownout`), if there is one.
pub fn builtin(name: &str) -> Option<SimConfig> {
    find(name).map(Scenario::config)
}

/// The one listing `bfl-sim --list-scenarios`, `bfl sim --list-scenarios` and
/// `bfl compare --list` print: a line per scenario, name then description.
pub fn listing() -> String {
    let mut out = String::new();
    for s in BUILTIN {
        let _ = writeln!(out, "{:<24} {}", s.name, s.description);
    }
    out
}

/// A scenario from a file path, or else a built-in name.
pub fn load(name_or_path: &str) -> Result<SimConfig, String> {
    match std::fs::read_to_string(name_or_path) {
        Ok(text) => SimConfig::from_json(&text)
            .map_err(|e| e.to_string())
            .and_then(|c| c.check().map(|()| c))
            .map_err(|e| format!("{name_or_path}: {e}")),
        Err(e) => builtin(name_or_path).ok_or_else(|| {
            format!("{name_or_path}: {e}; nor is it a built-in scenario (see --list-scenarios)")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_is_sane_and_named_once() {
        let mut names = std::collections::HashSet::new();
        for s in BUILTIN {
            let c = SimConfig::from_json(s.json).unwrap_or_else(|e| panic!("{}: {e}", s.name));
            assert!(c.check().is_ok(), "{}", s.name);
            assert!(names.insert(s.name), "{} twice", s.name);
            assert!(listing().contains(s.name));
        }
        assert!(load("no-such-scenario").is_err());
        assert_eq!(
            find("s3-rho-1.2").map(|s| s.workload),
            Some(Workload::Poisson { rho: 1.2 })
        );
    }

    #[test]
    fn poisson_arrivals_come_at_the_offered_rate() {
        let w = Workload::Poisson { rho: 0.5 };
        let at = w.arrivals(20_000, 24, 6.0, 1);
        // 0.5 · 24 / 6 s = 2 jobs a second.
        let rate = (at.len() - 1) as f64 / at[at.len() - 1];
        assert!((rate - 2.0).abs() < 0.05, "{rate}");
        assert!(at.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(at, w.arrivals(20_000, 24, 6.0, 1));
        assert_eq!(Workload::Batch.arrivals(3, 24, 6.0, 1), vec![0.0; 3]);
        assert_eq!(Workload::SharedKey { clients: 4 }.clients(), 4);
    }
}
