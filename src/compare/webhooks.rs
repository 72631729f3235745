//! Webhook rows of `bfl compare`: the same jobs, with the simulator delivering each task's
//! outcome to an in-process receiver (virtual time, no sockets) and the client confirming each
//! delivery with one poll, on a sparse fallback schedule for the lost ones.

use bfl_core::webhook::{Fallback, WebhookRouter};
use bfl_core::ClientBuilder;
use bfl_sim::webhooks::WebhookConfig;
use bfl_sim::{SimConfig, VirtualSim};
use std::sync::Arc;
use std::time::Duration;

/// A delivery profile for `--webhooks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WebhookProfile {
    /// Every delivery arrives, lognormal delay with a 0.2 s median.
    Ideal,
    /// 20 % lost, 5 % duplicated, 5 % out of order (2 s late), 5 % of tasks also get a forged
    /// delivery; same delay.
    Lossy,
}

impl WebhookProfile {
    /// The simulator's delivery settings.
    pub fn config(self) -> WebhookConfig {
        let ideal = WebhookConfig {
            delay_median_secs: 0.2,
            ..WebhookConfig::default()
        };
        match self {
            WebhookProfile::Ideal => ideal,
            WebhookProfile::Lossy => WebhookConfig {
                drop: 0.2,
                duplicate: 0.05,
                out_of_order: 0.05,
                late_secs: 2.0,
                forged: 0.05,
                ..ideal
            },
        }
    }

    /// The row's name.
    pub fn row_name(self) -> &'static str {
        match self {
            WebhookProfile::Ideal => "webhook:ideal",
            WebhookProfile::Lossy => "webhook:lossy",
        }
    }
}

/// `--webhook-fallback FIRST,EVERY` (seconds).
pub fn parse_fallback(s: &str) -> Result<Fallback, String> {
    let (first, every) = s
        .split_once(',')
        .ok_or_else(|| format!("expected FIRST,EVERY in seconds, got {s:?}"))?;
    let secs = |v: &str| {
        v.trim()
            .parse::<f64>()
            .ok()
            .and_then(|x| Duration::try_from_secs_f64(x).ok())
            .ok_or_else(|| format!("not a number of seconds: {v:?}"))
    };
    Ok(Fallback::new(secs(first)?, secs(every)?))
}

/// One webhook row's set-up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WebhookRow {
    pub profile: WebhookProfile,
    pub fallback: Fallback,
}

impl WebhookRow {
    /// Turns deliveries on in the scenario.
    pub(crate) fn configure(&self, cfg: &mut SimConfig) {
        cfg.webhooks = self.profile.config();
    }

    /// The run's receiver: the simulator's deliveries go to it, in-process.
    pub(crate) fn receiver(&self, sim: &VirtualSim) -> WebhookRouter {
        let router = WebhookRouter::new();
        sim.set_webhook_sink(Arc::new(router.clone()));
        router
    }

    /// Gives a client of the run its webhooks, routed by `router`.
    pub(crate) fn apply(&self, router: &WebhookRouter, builder: ClientBuilder) -> ClientBuilder {
        builder
            .webhooks(router.clone(), "https://hooks.compare.invalid")
            .webhook_fallback(Arc::new(self.fallback))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{run, CompareArgs};

    #[test]
    fn webhook_rows_meet_the_same_jobs_at_about_one_poll_a_job() {
        let args = CompareArgs {
            jobs: 60,
            warmup: 10,
            strategies: vec!["fixed-2s".into()],
            webhooks: vec![WebhookProfile::Ideal, WebhookProfile::Lossy],
            ..CompareArgs::default()
        };
        let report = run(&args).unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = report.results.iter().map(|r| r.strategy.as_str()).collect();
        assert_eq!(names, ["fixed-2s", "webhook:ideal", "webhook:lossy"]);
        let (fixed, ideal, lossy) = (&report.results[0], &report.results[1], &report.results[2]);
        // The same jobs: the same lower bound on the makespan.
        let bounds = (ideal.makespan_lower_bound_s, fixed.makespan_lower_bound_s);
        assert!((bounds.0 - bounds.1).abs() < 1e-9, "{bounds:?}");
        assert!(ideal.polls_per_job < 1.3, "{ideal:?}");
        assert!(ideal.lag.mean < 0.5, "{ideal:?}");
        assert!(lossy.lag.mean > ideal.lag.mean, "{lossy:?}");
        assert!(lossy.lag.p99 < 12.5, "bounded by the fallback: {lossy:?}");
        assert_eq!((lossy.lost, lossy.expired), (0, 0));
    }

    #[test]
    fn fallback_flag_parses_seconds() {
        let f = parse_fallback("12,4").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f, Fallback::default());
        assert!(parse_fallback("12").is_err());
        assert!(parse_fallback("x,4").is_err());
        assert!(parse_fallback("-1,4").is_err());
    }
}
