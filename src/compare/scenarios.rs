//! Named scenarios of `bfl compare` (docs/BENCHMARKS.md's S1: one model, an idle server).

use bfl_core::strategy::oracle::DurationDist;
use bfl_sim::{DurationModel, SimConfig};

/// A scenario: the simulator's configuration and the duration distribution the oracle uses.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its name on the command line.
    pub name: String,
    /// One line for `--list`.
    pub description: String,
    /// The submit-to-ready distribution, when the oracle can be computed for it.
    pub oracle_dist: Option<DurationDist>,
    /// The simulator's generation time model.
    pub durations: DurationModel,
}

/// `(name, description, duration spec)` of every named scenario.
const NAMED: &[(&str, &str, &str)] = &[
    (
        "s1",
        "S1 idle server, lognormal(6 s, 0.5) — the docs/BENCHMARKS.md reference",
        "lognormal:6,0.5",
    ),
    (
        "s1-20s",
        "S1 idle server, lognormal(20 s, 0.8)",
        "lognormal:20,0.8",
    ),
    (
        "s1-2s",
        "S1 idle server, lognormal(2 s, 0.3)",
        "lognormal:2,0.3",
    ),
    ("s1-fixed5", "S1 idle server, every job 5 s", "fixed:5"),
    (
        "s1-tail",
        "S1 idle server, lognormal(6 s, 0.5) with 1 % of jobs 10× longer (no oracle)",
        "bimodal:0.01,6,0.5,60,0.5",
    ),
];

/// Every named scenario.
pub fn all() -> Vec<Scenario> {
    NAMED
        .iter()
        .filter_map(|(name, description, spec)| {
            Some(Scenario {
                name: (*name).to_owned(),
                description: (*description).to_owned(),
                oracle_dist: spec.parse().ok(),
                durations: spec.parse().ok()?,
            })
        })
        .collect()
}

/// The named scenario, if any.
pub fn by_name(name: &str) -> Option<Scenario> {
    all().into_iter().find(|s| s.name == name)
}

/// A scenario from a `--duration` distribution.
pub fn from_dist(dist: &DurationDist) -> Option<Scenario> {
    Some(Scenario {
        name: format!("custom:{dist}"),
        description: format!("S1 idle server, {dist}"),
        oracle_dist: Some(dist.clone()),
        durations: dist.to_string().parse().ok()?,
    })
}

impl Scenario {
    /// The simulator's configuration: this scenario's durations for every model, no queueing,
    /// no latency, no faults (so the oracle's schedule-only figures apply), `progress` as asked.
    pub fn sim_config(&self, seed: u64, progress: bool) -> SimConfig {
        let mut cfg = SimConfig {
            seed,
            progress,
            queue_delay: DurationModel::Fixed(0.0),
            record_requests: false,
            ..SimConfig::default()
        };
        cfg.durations.insert("*".into(), self.durations.clone());
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_scenario_parses_and_s1_has_its_oracle() {
        assert_eq!(all().len(), NAMED.len());
        let s1 = by_name("s1").unwrap();
        assert_eq!(
            s1.oracle_dist,
            Some(DurationDist::LogNormal {
                median: 6.0,
                sigma: 0.5
            })
        );
        assert!(by_name("s1-tail").unwrap().oracle_dist.is_none());
        assert!(by_name("nope").is_none());
    }
}
