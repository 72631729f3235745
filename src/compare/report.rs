//! What `bfl compare` reports: a row per strategy, the oracle frontier; as a table or JSON.

use bfl_core::stats::Spread;
use bfl_core::strategy::oracle::FrontierPoint;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use std::fmt::Write as _;

/// One strategy's figures on the measured jobs, from the simulator's ground truth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrategyResult {
    /// The strategy's name.
    pub strategy: String,
    /// Jobs measured (after the warm-up).
    pub jobs: usize,
    /// Polls per job, every poll the server saw.
    pub polls_per_job: f64,
    /// Detection lag (first poll that saw `Ready` − the moment it became ready), seconds: the
    /// simulator's [`bfl_sim::Summary::detection_lag`] of the measured jobs. The JSON keeps its
    /// flat keys `mean_lag_s`, `p50_lag_s`, `p99_lag_s`.
    #[serde(flatten, serialize_with = "lag_keys")]
    pub lag: Spread,
    /// Every request the server saw (submits, polls, downloads), per job.
    pub requests_per_job: f64,
    /// 429 answers per job.
    pub rate_limited_per_job: f64,
    /// Sim seconds from the start of the measured phase (after the warm-up) until the client
    /// held every measured job's outcome (its image downloaded, or its failure), as the client
    /// sees it — not `bfl_sim::Summary`'s server-side makespan.
    pub makespan_s: f64,
    /// `max(longest job, Σ durations / active limit, last arrival + shortest job)`: no client
    /// can finish sooner.
    pub makespan_lower_bound_s: f64,
    /// 99th percentile of a job's time from its arrival to its image on hand, seconds.
    pub p99_time_to_result_s: f64,
    /// Result URLs that expired before a download (paid images lost).
    pub expired: usize,
    /// Jobs that became ready but were never downloaded.
    pub lost: usize,
}

/// The JSON keys of a row's lag (as they were before the lag was a [`Spread`]).
fn lag_keys<S: Serializer>(lag: &Spread, s: S) -> Result<S::Ok, S::Error> {
    let mut keys = s.serialize_struct("Lag", 3)?;
    keys.serialize_field("mean_lag_s", &lag.mean)?;
    keys.serialize_field("p50_lag_s", &lag.p50)?;
    keys.serialize_field("p99_lag_s", &lag.p99)?;
    keys.end()
}

/// One point of the oracle frontier, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OraclePoint {
    /// The poll cost, seconds of lag per poll.
    pub lambda: f64,
    /// Expected polls per job.
    pub polls_per_job: f64,
    /// Expected mean lag, seconds.
    pub mean_lag_s: f64,
}

impl From<FrontierPoint> for OraclePoint {
    fn from(p: FrontierPoint) -> Self {
        OraclePoint {
            lambda: p.lambda,
            polls_per_job: p.polls_per_job,
            mean_lag_s: p.mean_lag_s,
        }
    }
}

/// A whole comparison (or, with `--list`, the scenarios).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareReport {
    /// The scenario's name.
    pub scenario: String,
    /// The seed of the simulation.
    pub seed: u64,
    /// How the jobs arrived (`Batch`, `Poisson { rho: 0.9 }`, `SharedKey { clients: 16 }`).
    pub workload: String,
    /// A row per strategy, in the order asked.
    pub results: Vec<StrategyResult>,
    /// The oracle frontier (empty when the scenario's distribution has none).
    pub oracle: Vec<OraclePoint>,
    /// The scenario listing, for `--list` (not in the JSON).
    #[serde(skip)]
    pub listing: Option<String>,
}

impl CompareReport {
    /// The oracle's mean lag at `polls` per job, interpolated along the frontier (`None`
    /// without a frontier or outside it).
    pub fn oracle_lag_at(&self, polls: f64) -> Option<f64> {
        let mut pts: Vec<&OraclePoint> = self.oracle.iter().collect();
        pts.sort_by(|a, b| a.polls_per_job.total_cmp(&b.polls_per_job));
        pts.windows(2).find_map(|w| {
            let (a, b) = (w[0], w[1]);
            (a.polls_per_job..=b.polls_per_job)
                .contains(&polls)
                .then(|| {
                    bfl_core::stats::interpolate(
                        polls,
                        (a.polls_per_job, a.mean_lag_s),
                        (b.polls_per_job, b.mean_lag_s),
                    )
                })
        })
    }

    /// The JSON form (the shape documented in `bfl compare --help`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// A table for people: a row per strategy, with the oracle's lag at its polls.
    pub fn table(&self) -> String {
        let mut out = String::new();
        if let Some(listing) = &self.listing {
            return listing.clone();
        }
        // S1's table (`s1…`, `custom:…`) keeps its columns; other scenarios add makespan over
        // bound, 429s per job and the p99 time to result.
        let s1 = self.scenario.starts_with("s1") || self.scenario.starts_with("custom:");
        let ttr = !s1 || self.workload != "Batch";
        let _ = writeln!(out, "scenario {}  seed {}", self.scenario, self.seed);
        let _ = writeln!(
            out,
            "{:<22} {:>6} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8} {:>9} {:>9} {:>4} {:>4}",
            "strategy",
            "jobs",
            "polls",
            "lag",
            "p50",
            "p99",
            "oracle@p",
            "req/job",
            "makespan",
            "bound",
            "exp",
            "lost"
        );
        if ttr {
            out.pop();
            let _ = writeln!(out, " {:>8} {:>8} {:>8}", "mk/bound", "429/job", "ttr p99");
        }
        for r in &self.results {
            let oracle = self
                .oracle_lag_at(r.polls_per_job)
                .map_or_else(|| "-".to_owned(), |l| format!("{l:.3}"));
            let _ = writeln!(
                out,
                "{:<22} {:>6} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>9} {:>8.3} {:>9.1} {:>9.1} {:>4} {:>4}",
                r.strategy,
                r.jobs,
                r.polls_per_job,
                r.lag.mean,
                r.lag.p50,
                r.lag.p99,
                oracle,
                r.requests_per_job,
                r.makespan_s,
                r.makespan_lower_bound_s,
                r.expired,
                r.lost
            );
            if ttr {
                out.pop();
                let ratio = r.makespan_s / r.makespan_lower_bound_s.max(1e-9);
                let _ = writeln!(
                    out,
                    " {:>8.3} {:>8.3} {:>8.1}",
                    ratio, r.rate_limited_per_job, r.p99_time_to_result_s
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oracle_lag_interpolates_along_the_frontier() {
        let report = CompareReport {
            scenario: "s".into(),
            seed: 1,
            workload: "Batch".into(),
            results: vec![],
            oracle: vec![
                OraclePoint {
                    lambda: 1.0,
                    polls_per_job: 2.0,
                    mean_lag_s: 1.0,
                },
                OraclePoint {
                    lambda: 0.1,
                    polls_per_job: 4.0,
                    mean_lag_s: 0.5,
                },
            ],
            listing: None,
        };
        assert_eq!(report.oracle_lag_at(3.0), Some(0.75));
        assert_eq!(report.oracle_lag_at(5.0), None);
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap_or_default();
        assert_eq!(json["oracle"][1]["polls_per_job"], 4.0);
        assert!(json.get("listing").is_none());
    }
}
