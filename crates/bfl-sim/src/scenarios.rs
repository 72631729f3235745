//! Built-in scenarios of `shared/BENCHMARKS.md` (S1–S7), as JSON files in `scenarios/`.
//! Arrivals, client counts and strategies are the client's side; these set the server's.
//!
//! ```
//! let c = bfl_sim::scenarios::builtin("s2-limit-drop").unwrap();
//! assert_eq!(c.limits.schedule, vec![(60.0, 12)]);
//! ```

use crate::config::SimConfig;

/// `(name, description, JSON)` of every built-in scenario.
pub const BUILTIN: &[(&str, &str, &str)] = &[
    (
        "s1-lognormal-6",
        "S1 single job, idle server: lognormal(6 s, 0.5), no queue",
        include_str!("../scenarios/s1-lognormal-6.json"),
    ),
    (
        "s1-lognormal-20",
        "S1: lognormal(20 s, 0.8), no queue",
        include_str!("../scenarios/s1-lognormal-20.json"),
    ),
    (
        "s1-lognormal-2",
        "S1: lognormal(2 s, 0.3), no queue",
        include_str!("../scenarios/s1-lognormal-2.json"),
    ),
    (
        "s1-fixed-5",
        "S1: fixed 5 s, no queue",
        include_str!("../scenarios/s1-fixed-5.json"),
    ),
    (
        "s1-tail",
        "S1: lognormal(6 s, 0.5) with 1 % of jobs 10x longer",
        include_str!("../scenarios/s1-tail.json"),
    ),
    (
        "s2-burst",
        "S2 burst batch: limit 24, lognormal(6 s, 0.5)",
        include_str!("../scenarios/s2-burst.json"),
    ),
    (
        "s2-limit-drop",
        "S2: the limit drops 24 -> 12 at t = 60 s",
        include_str!("../scenarios/s2-limit-drop.json"),
    ),
    (
        "s3-capacity",
        "S3 open loop: a server with 48 generation slots, so load adds queueing",
        include_str!("../scenarios/s3-capacity.json"),
    ),
    (
        "s5-poll-5xx-1",
        "S5: 1 % of polls answer 5xx",
        include_str!("../scenarios/s5-poll-5xx-1.json"),
    ),
    (
        "s5-poll-5xx-10",
        "S5: 10 % of polls answer 5xx",
        include_str!("../scenarios/s5-poll-5xx-10.json"),
    ),
    (
        "s5-poll-5xx-50",
        "S5: 50 % of polls answer 5xx",
        include_str!("../scenarios/s5-poll-5xx-50.json"),
    ),
    (
        "s5-brownout",
        "S5: a 30 s brownout of 503s from t = 30 s",
        include_str!("../scenarios/s5-brownout.json"),
    ),
    (
        "s5-latency-spike",
        "S5: 50 ms latency, x5 from t = 30 s to 90 s",
        include_str!("../scenarios/s5-latency-spike.json"),
    ),
    (
        "s5-hangs",
        "S5: 1 % of polls and submits never answered",
        include_str!("../scenarios/s5-hangs.json"),
    ),
    (
        "s5-malformed",
        "S5: 2 % of poll answers malformed, 2 % truncated",
        include_str!("../scenarios/s5-malformed.json"),
    ),
    (
        "s5-outcomes",
        "S5: 5 % Error, 2 % Request Moderated, 3 % Content Moderated",
        include_str!("../scenarios/s5-outcomes.json"),
    ),
    (
        "s6-retry-after-accurate",
        "S6: limit 24 with an accurate Retry-After on 429/503",
        include_str!("../scenarios/s6-retry-after-accurate.json"),
    ),
    (
        "s6-retry-after-absent",
        "S6: no Retry-After (the documented behaviour)",
        include_str!("../scenarios/s6-retry-after-absent.json"),
    ),
    (
        "s6-retry-after-zero",
        "S6: a wrong Retry-After: 0",
        include_str!("../scenarios/s6-retry-after-zero.json"),
    ),
    (
        "s6-retry-after-huge",
        "S6: a wrong Retry-After: one day",
        include_str!("../scenarios/s6-retry-after-huge.json"),
    ),
    (
        "s7-slow-consumer",
        "S7: every download takes 25 s more (under the 30 s transport timeout)",
        include_str!("../scenarios/s7-slow-consumer.json"),
    ),
];

/// The built-in scenario `name` (e.g. `s5-brownout`), if there is one.
pub fn builtin(name: &str) -> Option<SimConfig> {
    BUILTIN
        .iter()
        .find(|(n, _, _)| *n == name)
        .and_then(|(_, _, json)| SimConfig::from_json(json).ok())
}

/// A scenario from a file path, or else a built-in name.
pub fn load(name_or_path: &str) -> Result<SimConfig, String> {
    match std::fs::read_to_string(name_or_path) {
        Ok(text) => SimConfig::from_json(&text).map_err(|e| format!("{name_or_path}: {e}")),
        Err(e) => builtin(name_or_path).ok_or_else(|| {
            let names: Vec<&str> = BUILTIN.iter().map(|(n, _, _)| *n).collect();
            format!(
                "{name_or_path}: {e}; nor is it a built-in scenario ({})",
                names.join(", ")
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses() {
        for (name, _, json) in BUILTIN {
            assert!(SimConfig::from_json(json).is_ok(), "{name}");
            assert!(builtin(name).is_some());
        }
        assert!(load("no-such-scenario").is_err());
    }
}
