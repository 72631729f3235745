//! [`SimConfig`]: everything a scenario can set. Every field has a default, so a scenario file
//! names only what it changes (`{"seed": 7, "durations": {"*": "fixed:5"}}`).

use bfl_core::dist::DurationDist;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// A scenario: the seed and every behaviour knob of the simulated API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Seed of every random choice: the same seed and the same requests give the same answers.
    pub seed: u64,
    /// Unix time (seconds) of sim time 0, used for `start_time`/`end_time` and URL expiry.
    /// The HTTP face replaces it with the real time at start.
    pub epoch_unix: f64,
    /// Generation time per model id; `"*"` applies to every model not listed. Models absent from
    /// both use their family's default ([`crate::durations::default_for_model`]).
    pub durations: BTreeMap<String, DurationDist>,
    /// Time a task waits in the queue before generation starts (status `Pending`, no progress).
    pub queue_delay: DurationDist,
    /// Generation slots of the whole server (all keys): with `Some(n)`, a task starts only when
    /// one of `n` slots is free (first come, first served), so load adds queueing. `None`:
    /// unlimited.
    pub capacity: Option<usize>,
    /// Whether `Pending` answers carry a coarse, noisy `progress` once generation has started.
    pub progress: bool,
    /// How tasks end, drawn at submit.
    pub outcomes: OutcomeMix,
    /// Active-task limits per key.
    pub limits: Limits,
    /// The `Retry-After` header of 429 and 503 answers.
    pub retry_after: RetryAfter,
    /// Faults.
    pub faults: Faults,
    /// Odd but observed behaviours (off by default).
    pub quirks: Quirks,
    /// Where `polling_url` points.
    pub polling_host: PollingHost,
    /// Seconds a result URL lives after `end_time` (600 on the real API).
    pub result_ttl_secs: f64,
    /// Seconds after its end a task still answers; later it is `Task not found`.
    pub retention_secs: f64,
    /// Accepted keys. Empty: any non-empty key is accepted.
    pub keys: Vec<String>,
    /// Credits of each key at start; `None`: unlimited (credits answers report 1e9).
    pub credits: Option<f64>,
    /// Cost in credits per model id (charged on `Ready`); others cost [`SimConfig::default_cost`].
    pub costs: BTreeMap<String, f64>,
    /// Cost of a model absent from `costs`.
    pub default_cost: f64,
    /// Largest side of the images served, in pixels: larger requests are scaled down, keeping
    /// their aspect ratio (4096: every size the spec allows is served as requested).
    pub image_max_side: u32,
    /// Whether every request is kept in the ground-truth log (counters are always kept).
    pub record_requests: bool,
    /// How webhook deliveries behave (for submits that carry a `webhook_url`).
    pub webhooks: crate::webhooks::WebhookConfig,
    /// Most requests the ground-truth log keeps: a ring, the oldest dropped first (the stats show
    /// the cap and how many were dropped; counters always count everything).
    pub request_log_cap: usize,
    /// Where result URLs point: the API's own origin, or a separate delivery host as BFL does.
    pub delivery: Delivery,
    /// Model ids accepted beside the spec's (any JSON body, no schema). Every other path under
    /// `/v1/` answers 404, as BFL does.
    pub extra_models: Vec<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 0,
            epoch_unix: 1_767_225_600.0, // 2026-01-01T00:00:00Z
            durations: BTreeMap::new(),
            queue_delay: DurationDist::Fixed(0.2),
            capacity: None,
            progress: true,
            outcomes: OutcomeMix::default(),
            limits: Limits::default(),
            retry_after: RetryAfter::Absent,
            faults: Faults::default(),
            quirks: Quirks::default(),
            polling_host: PollingHost::Same,
            result_ttl_secs: 600.0,
            retention_secs: 3600.0,
            keys: Vec::new(),
            credits: None,
            costs: BTreeMap::new(),
            default_cost: 3.0,
            image_max_side: 4096,
            record_requests: true,
            webhooks: Default::default(),
            request_log_cap: 50_000,
            delivery: Delivery::Separate,
            extra_models: vec!["flux-pro".to_owned()],
        }
    }
}

impl SimConfig {
    /// The generation-time model of `model`.
    pub fn duration_model(&self, model: &str) -> DurationDist {
        self.durations
            .get(model)
            .or_else(|| self.durations.get("*"))
            .cloned()
            .unwrap_or_else(|| crate::durations::default_for_model(model))
    }

    /// The cost of one `Ready` image of `model`.
    pub fn cost_of(&self, model: &str) -> f64 {
        self.costs.get(model).copied().unwrap_or(self.default_cost)
    }

    /// Reads a scenario from JSON text (not yet checked: see [`SimConfig::check`]).
    pub fn from_json(text: &str) -> Result<SimConfig, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Whether `model` is served: the spec's models and [`SimConfig::extra_models`].
    pub fn serves_model(&self, model: &str) -> bool {
        crate::validate::is_known_model(model) || self.extra_models.iter().any(|m| m == model)
    }

    /// Refuses values no scenario can mean: probabilities outside 0..=1, negative or non-finite
    /// times, costs or credits. The one check behind flags, scenario files and `/__sim/config`.
    pub fn check(&self) -> Result<(), String> {
        crate::config_check::check(self)
    }
}

/// Probabilities of the non-`Ready` outcomes (the rest is `Ready`). A prompt containing
/// `sim:error`, `sim:request-moderated` or `sim:content-moderated` forces that outcome; one
/// containing `sim:download-empty`, `sim:download-html` or `sim:download-truncated` (optionally
/// `:N`) gets a bad `200` body on its first download (or `N` downloads) before the image.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutcomeMix {
    /// `Error` at the end of generation.
    pub error: f64,
    /// `Request Moderated`, decided at submit, seen on the first poll.
    pub request_moderated: f64,
    /// `Content Moderated` at the end of generation.
    pub content_moderated: f64,
}

/// Active-task limits: tasks submitted and not yet finished, per key and limit class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// The limit of models not in `per_model` (24).
    pub default: usize,
    /// Models with a limit of their own, counted in a pool of their own (`flux-kontext-max`: 6).
    pub per_model: BTreeMap<String, usize>,
    /// Changes of the default limit over time: from `t` sim seconds on, the limit is `limit`.
    pub schedule: Vec<(f64, usize)>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            default: bfl_core::api::DEFAULT_ACTIVE_LIMIT,
            per_model: BTreeMap::from([(
                "flux-kontext-max".to_owned(),
                bfl_core::api::KONTEXT_MAX_ACTIVE_LIMIT,
            )]),
            schedule: Vec::new(),
        }
    }
}

impl Limits {
    /// The limit class of `model` (`""` for the default pool) and its limit at `now`.
    pub fn for_model(&self, model: &str, now: f64) -> (&str, usize) {
        if let Some((name, limit)) = self.per_model.get_key_value(model) {
            return (name.as_str(), *limit);
        }
        let limit = self
            .schedule
            .iter()
            .filter(|(t, _)| *t <= now)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, l)| *l)
            .unwrap_or(self.default);
        ("", limit)
    }
}

/// What `Retry-After` a 429 (and a brownout 503) carries.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum RetryAfter {
    /// No header (the documented behaviour).
    Absent,
    /// The true wait in whole seconds (until the key's next task ends, or the brownout ends).
    Accurate,
    /// Always this many seconds (a wrong hint: 0, or absurdly large).
    Fixed(u64),
}

impl FromStr for RetryAfter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "absent" | "none" => Ok(RetryAfter::Absent),
            "accurate" | "present" => Ok(RetryAfter::Accurate),
            other => other
                .strip_prefix("fixed:")
                .unwrap_or(other)
                .parse()
                .map(RetryAfter::Fixed)
                .map_err(|_| {
                    format!("invalid Retry-After mode {s:?}: absent, accurate or fixed:N")
                }),
        }
    }
}

impl TryFrom<String> for RetryAfter {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<RetryAfter> for String {
    fn from(r: RetryAfter) -> String {
        r.to_string()
    }
}

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryAfter::Absent => f.write_str("absent"),
            RetryAfter::Accurate => f.write_str("accurate"),
            RetryAfter::Fixed(n) => write!(f, "fixed:{n}"),
        }
    }
}

/// A probability per endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EndpointRates {
    /// `POST /v1/{model}`.
    pub submit: f64,
    /// `GET /v1/get_result`.
    pub poll: f64,
    /// `GET` of a result URL.
    pub download: f64,
    /// `GET /v1/credits`.
    pub credits: f64,
}

/// Server faults.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Probability of a 500/502/503 per request.
    pub server_error: EndpointRates,
    /// Windows `(from, to)` in sim seconds when every API request gets 503.
    pub brownouts: Vec<(f64, f64)>,
    /// Response latency.
    pub latency: Latency,
    /// Probability that a request is never answered (and not processed).
    pub hang: EndpointRates,
    /// Probability that a request is processed (a submit creates its task) but its answer is
    /// lost: the connection hangs. The nastiest case for a client: a paid task it never heard of.
    pub lost_answer: EndpointRates,
    /// Probability that a 200 JSON answer is malformed (not JSON).
    pub malformed: EndpointRates,
    /// Probability that a 200 JSON answer is cut in the middle.
    pub truncated: EndpointRates,
}

/// Latency of every answer: `base + U(0, jitter)`, multiplied by `spike_factor` with probability
/// `spike_rate` and during the `spike_windows`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Latency {
    /// Seconds every answer takes.
    pub base: f64,
    /// Up to this many more seconds, uniformly.
    pub jitter: f64,
    /// Probability of a spike per request.
    pub spike_rate: f64,
    /// Windows `(from, to)` in sim seconds when every answer is spiked.
    pub spike_windows: Vec<(f64, f64)>,
    /// How much slower a spiked answer is.
    pub spike_factor: f64,
    /// Extra seconds of every successful download (a slow consumer's link, or a slow store).
    pub download_extra: f64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            base: 0.0,
            jitter: 0.0,
            spike_rate: 0.0,
            spike_windows: Vec::new(),
            spike_factor: 5.0,
            download_extra: 0.0,
        }
    }
}

/// Behaviours some clients report (off by default).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quirks {
    /// `get_result` answers HTTP 202 (same body) while the task is pending.
    pub accepted_while_pending: bool,
    /// For this many seconds after submit, `get_result` answers 404.
    pub not_found_after_submit_secs: f64,
}

/// Where the `sample` URL of a `Ready` task points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    /// A separate delivery host (its own listener), as BFL serves results from
    /// `delivery-*.bfl.ai`: a client that sends its key there is counted as leaking it.
    #[default]
    Separate,
    /// The API's own origin (`/results/…` on the host polled). For clients that download only
    /// from the base URL's origin (the Vercel AI SDK's SSRF guard refuses a private address on
    /// any other); such clients send their key there, which is expected and counted apart
    /// (`keys_sent_to_results`), never as a leak to the delivery host.
    SameOrigin,
}

impl FromStr for Delivery {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "separate" => Ok(Delivery::Separate),
            "same-origin" => Ok(Delivery::SameOrigin),
            _ => Err(format!("invalid delivery {s:?}: same-origin or separate")),
        }
    }
}

/// Which host the `polling_url` of a submit answer names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PollingHost {
    /// The host submitted to.
    #[default]
    Same,
    /// A regional host of the API (a second listener), as `api.bfl.ai` → `api.eu1.bfl.ai`.
    Regional,
    /// A host outside the client's key policy: a client that sends its key there leaks it
    /// (counted in the stats). Polls there are answered without a key.
    Hostile,
}

impl FromStr for PollingHost {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "same" => Ok(PollingHost::Same),
            "regional" => Ok(PollingHost::Regional),
            "hostile" => Ok(PollingHost::Hostile),
            _ => Err(format!(
                "invalid polling host {s:?}: same, regional or hostile"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_json_sets_only_what_it_names() {
        let c = SimConfig::from_json(
            r#"{"seed": 7, "durations": {"*": "fixed:5"}, "retry_after": "fixed:0",
                "limits": {"schedule": [[60, 12]]}, "faults": {"server_error": {"poll": 0.1}}}"#,
        )
        .unwrap();
        assert_eq!(c.seed, 7);
        assert_eq!(c.duration_model("flux-2-pro"), DurationDist::Fixed(5.0));
        assert_eq!(c.retry_after, RetryAfter::Fixed(0));
        assert_eq!(c.limits.for_model("flux-2-pro", 10.0), ("", 24));
        assert_eq!(c.limits.for_model("flux-2-pro", 61.0), ("", 12));
        assert_eq!(c.limits.for_model("flux-kontext-max", 61.0).1, 6);
        assert_eq!(c.faults.server_error.poll, 0.1);
        assert!(SimConfig::from_json(r#"{"sede": 1}"#).is_err());
    }
}
