//! The scenarios of `bfl compare`: bfl-sim's one registry ([`bfl_sim::scenarios`]), with the
//! oracle's duration distribution where submit-to-ready is the generation time alone.

use super::MODEL;
use bfl_core::dist::DurationDist;
use bfl_sim::scenarios::Workload;
use bfl_sim::SimConfig;

/// A scenario: the simulator's configuration, how jobs arrive, and the distribution the oracle
/// uses.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its name on the command line.
    pub name: String,
    /// One line for `--list`.
    pub description: String,
    /// The server's side.
    pub config: SimConfig,
    /// How jobs reach the server.
    pub workload: Workload,
    /// The submit-to-ready distribution, when the oracle can be computed for it: the
    /// generation time, with no queueing in front of it.
    pub oracle_dist: Option<DurationDist>,
}

/// The distribution of submit-to-ready times under `cfg`, if it is the generation time's
/// (no queue delay, no capacity to queue for).
pub fn oracle_of(cfg: &SimConfig) -> Option<DurationDist> {
    let no_queue = cfg.queue_delay == DurationDist::Fixed(0.0) && cfg.capacity.is_none();
    no_queue.then(|| cfg.duration_model(MODEL))
}

/// The built-in scenario `name`, if any.
pub fn by_name(name: &str) -> Option<Scenario> {
    let s = bfl_sim::scenarios::find(name)?;
    let config = s.config();
    Some(Scenario {
        name: s.name.to_owned(),
        description: s.description.to_owned(),
        oracle_dist: oracle_of(&config),
        workload: s.workload,
        config,
    })
}

/// A scenario from a `--duration` distribution: S1 (one batch, an idle server) with it.
pub fn from_dist(dist: &DurationDist) -> Option<Scenario> {
    let mut s = by_name("s1")?;
    s.config.durations.insert("*".into(), dist.clone());
    s.name = format!("custom:{dist}");
    s.description = format!("S1 idle server, {dist}");
    s.oracle_dist = Some(dist.clone());
    Some(s)
}

impl Scenario {
    /// The simulator's configuration for one run: the scenario's, with this seed and
    /// `progress` as asked, and no request log (the figures come from the task truth).
    pub fn sim_config(&self, seed: u64, progress: bool) -> SimConfig {
        SimConfig {
            seed,
            progress,
            record_requests: false,
            ..self.config.clone()
        }
    }

    /// The key's active-task limit for the compared model.
    pub fn key_limit(&self) -> usize {
        self.config.limits.for_model(MODEL, 0.0).1
    }

    /// The mean generation time of the compared model, seconds.
    pub fn mean_duration(&self) -> f64 {
        self.config.duration_model(MODEL).mean()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_resolves_and_the_oracle_is_derived_where_known() {
        for s in bfl_sim::scenarios::BUILTIN {
            assert!(by_name(s.name).is_some(), "{}", s.name);
        }
        let s1 = by_name("s1").unwrap();
        assert_eq!(
            s1.oracle_dist,
            Some(DurationDist::LogNormal {
                median: 6.0,
                sigma: 0.5
            })
        );
        assert_eq!(
            by_name("s1-tail").unwrap().oracle_dist,
            Some(DurationDist::Bimodal {
                p_slow: 0.01,
                fast_median: 6.0,
                fast_sigma: 0.5,
                slow_median: 60.0,
                slow_sigma: 0.5
            }),
            "the simulator's bimodal, as it stands"
        );
        assert!(
            by_name("s2-burst").unwrap().oracle_dist.is_none(),
            "0.2 s queue"
        );
        assert!(by_name("s3-rho-0.9").unwrap().oracle_dist.is_some());
        assert!(
            by_name("s3-capacity").unwrap().oracle_dist.is_none(),
            "queueing"
        );
        assert_eq!(by_name("s4-shared-16").unwrap().workload.clients(), 16);
        assert!(by_name("nope").is_none());
    }
}
