//! The command line of the simulator, reusable by the root CLI (`bfl sim`): flatten
//! [`SimArgs`] into a clap command and call [`run`].

use crate::config::{Delivery, PollingHost, RetryAfter, SimConfig};
use crate::http::{Bounds, ServerOptions, SimServer};
use crate::webhooks::{WebhookConfig, WebhookDialect};
use bfl_core::dist::DurationDist;
use std::net::IpAddr;
use std::time::Duration;

/// A probability flag: a number from 0 to 1.
fn probability(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("{s:?} is not a probability (a number from 0 to 1)")),
    }
}

/// A time or amount flag: a finite number ≥ 0.
fn non_negative(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("{s:?} is not a number ≥ 0")),
    }
}

/// A count flag: a whole number ≥ 1.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{s:?} is not a whole number ≥ 1")),
    }
}

/// A timeout flag: seconds, more than 0.
fn timeout(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 && x <= 86_400.0 => Ok(Duration::from_secs_f64(x)),
        _ => Err(format!(
            "{s:?} is not a number of seconds between 0 and 86400"
        )),
    }
}

/// A webhook body dialect flag: `task-id` or `id`.
fn dialect(s: &str) -> Result<WebhookDialect, String> {
    match s.trim() {
        "task-id" => Ok(WebhookDialect::TaskId),
        "id" => Ok(WebhookDialect::Id),
        _ => Err(format!(
            "{s:?} is not a webhook dialect (task-id: {{\"task_id\", \"status\": \"SUCCESS\"}}; \
             id: {{\"id\", \"status\": \"Ready\"}})"
        )),
    }
}

/// Flags of `bfl-sim` / `bfl sim`. Flags override the scenario file.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// API port (0: any free port).
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// Delivery (result images) port (0: any).
    #[arg(long, default_value_t = 0)]
    pub delivery_port: u16,
    /// Regional polling host port (0: any).
    #[arg(long, default_value_t = 0)]
    pub regional_port: u16,
    /// A scenario: a JSON file of `SimConfig` (fields not named keep their defaults), or the
    /// name of a built-in one (`s1`, `s5-brownout`, … see `--list-scenarios`).
    #[arg(long, value_name = "FILE|NAME")]
    pub scenario: Option<String>,
    /// List the built-in scenarios and exit.
    #[arg(long)]
    pub list_scenarios: bool,
    /// Seed of every random choice.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Generation time, `[MODEL=]SPEC` with SPEC like `lognormal:6,0.5`, `fixed:5`, `uniform:2,8`,
    /// `bimodal:0.01,6,0.5,60,0.5`, `samples:1,2,3`; without MODEL it applies to every model.
    #[arg(long = "duration", value_name = "[MODEL=]SPEC")]
    pub durations: Vec<String>,
    /// Queue delay before generation starts (a duration SPEC).
    #[arg(long, value_name = "SPEC")]
    pub queue: Option<DurationDist>,
    /// Generation slots of the whole server (default unlimited): load then adds queueing.
    #[arg(long, value_parser = at_least_one)]
    pub capacity: Option<usize>,
    /// Extra seconds of every successful download (slow consumer).
    #[arg(long, value_parser = non_negative)]
    pub download_extra: Option<f64>,
    /// Active-task limit per key (default 24; `flux-kontext-max` keeps 6).
    #[arg(long)]
    pub active_limit: Option<usize>,
    /// Change the limit over time: `T=LIMIT` (from T sim seconds on), repeatable.
    #[arg(long = "limit-at", value_name = "T=LIMIT")]
    pub limit_at: Vec<String>,
    /// `Retry-After` on 429/503: `absent`, `accurate` or `fixed:N`.
    #[arg(long)]
    pub retry_after: Option<RetryAfter>,
    /// Probability of `Error`.
    #[arg(long, value_parser = probability)]
    pub error_rate: Option<f64>,
    /// Probability of `Request Moderated`.
    #[arg(long, value_parser = probability)]
    pub request_moderated_rate: Option<f64>,
    /// Probability of `Content Moderated`.
    #[arg(long, value_parser = probability)]
    pub content_moderated_rate: Option<f64>,
    /// Probability of a 5xx on submits.
    #[arg(long, value_parser = probability)]
    pub submit_5xx: Option<f64>,
    /// Probability of a 5xx on polls.
    #[arg(long, value_parser = probability)]
    pub poll_5xx: Option<f64>,
    /// Probability of a 5xx on downloads.
    #[arg(long, value_parser = probability)]
    pub download_5xx: Option<f64>,
    /// A brownout (every API request 503) `FROM-TO` in seconds after start, repeatable.
    #[arg(long = "brownout", value_name = "FROM-TO")]
    pub brownouts: Vec<String>,
    /// Base latency of every answer, seconds.
    #[arg(long, value_parser = non_negative)]
    pub latency: Option<f64>,
    /// Extra uniform latency, seconds.
    #[arg(long, value_parser = non_negative)]
    pub jitter: Option<f64>,
    /// Probability that a poll hangs (never answered).
    #[arg(long, value_parser = probability)]
    pub hang_rate: Option<f64>,
    /// Probability that a submit is processed but its answer lost (the connection hangs).
    #[arg(long, value_parser = probability)]
    pub lost_submit_rate: Option<f64>,
    /// Probability that a poll answer is malformed.
    #[arg(long, value_parser = probability)]
    pub malformed_rate: Option<f64>,
    /// Probability that a poll answer is truncated.
    #[arg(long, value_parser = probability)]
    pub truncated_rate: Option<f64>,
    /// Where `polling_url` points: `same`, `regional` or `hostile`.
    #[arg(long)]
    pub polling_host: Option<PollingHost>,
    /// Accept only this key (repeatable); default: any non-empty key.
    #[arg(long = "key")]
    pub keys: Vec<String>,
    /// Credits of each key (default unlimited).
    #[arg(long, value_parser = non_negative)]
    pub credits: Option<f64>,
    /// Lifetime of result URLs after `end_time`, seconds.
    #[arg(long, value_parser = non_negative)]
    pub result_ttl: Option<f64>,
    /// Answer 202 while pending.
    #[arg(long)]
    pub quirk_202: bool,
    /// Answer 404 for this many seconds after submit.
    #[arg(long, value_parser = non_negative)]
    pub quirk_404_secs: Option<f64>,
    /// No `progress` while pending.
    #[arg(long)]
    pub no_progress: bool,
    /// Where result URLs point: `separate` (a delivery host of its own, as BFL does) or
    /// `same-origin` (`/results/…` on the API host). The default is `separate`; clients that
    /// download only from their base URL's origin need `same-origin` — the Vercel AI SDK does
    /// (its SSRF guard refuses any other private address).
    #[arg(long, value_name = "MODE")]
    pub delivery: Option<Delivery>,
    /// Webhook deliveries (for submits that carry a `webhook_url`).
    #[command(flatten)]
    pub webhooks: WebhookArgs,
    /// Most requests the ground-truth log keeps (a ring; default 50000).
    #[arg(long, value_parser = at_least_one)]
    pub request_log_cap: Option<usize>,
    /// Most connections open at once; more are closed at accept.
    #[arg(long, value_parser = at_least_one, default_value_t = Bounds::default().max_connections)]
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers (also the keep-alive idle limit).
    #[arg(long, value_name = "SECS", value_parser = timeout, default_value = "30")]
    pub header_read_timeout: Duration,
    /// Most bytes of request bodies held at once, over all requests (503 beyond).
    #[arg(long, value_name = "BYTES", value_parser = at_least_one, default_value_t = Bounds::default().body_budget)]
    pub body_budget: usize,
}

/// How the simulator's webhook deliveries misbehave; flags override the scenario file's
/// `webhooks` (see [`WebhookConfig`]).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WebhookArgs {
    /// Median seconds from a task's end to its delivery (lognormal; default 0.2).
    #[arg(long = "webhook-delay", value_name = "SECS", value_parser = non_negative)]
    pub delay: Option<f64>,
    /// Probability that a task's delivery is never sent.
    #[arg(long = "webhook-drop", value_name = "P", value_parser = probability)]
    pub drop: Option<f64>,
    /// Probability that a sent delivery is sent a second time.
    #[arg(long = "webhook-duplicate", value_name = "P", value_parser = probability)]
    pub duplicate: Option<f64>,
    /// Probability that a delivery is held back (`late_secs`, default 2) behind later ones.
    #[arg(long = "webhook-out-of-order", value_name = "P", value_parser = probability)]
    pub out_of_order: Option<f64>,
    /// Probability per task of an extra forged delivery (wrong secret, claiming success early).
    #[arg(long = "webhook-forged", value_name = "P", value_parser = probability)]
    pub forged: Option<f64>,
    /// The deliveries' body: `task-id` (`{"task_id", "status": "SUCCESS"}`, the default) or
    /// `id` (`{"id", "status": "Ready"}`, as BFL's guide describes it).
    #[arg(long = "webhook-dialect", value_name = "DIALECT", value_parser = dialect)]
    pub dialect: Option<WebhookDialect>,
}

impl WebhookArgs {
    /// Writes the flags given over `w`.
    fn apply(&self, w: &mut WebhookConfig) {
        set(&mut w.delay_median_secs, self.delay);
        set(&mut w.drop, self.drop);
        set(&mut w.duplicate, self.duplicate);
        set(&mut w.out_of_order, self.out_of_order);
        set(&mut w.forged, self.forged);
        if let Some(d) = self.dialect {
            w.dialect = d;
        }
    }
}

/// Why the simulator could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// Reading the scenario or binding failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The scenario file is not valid.
    #[error("invalid scenario: {0}")]
    Scenario(#[from] serde_json::Error),
    /// A flag value is not valid.
    #[error("invalid flag: {0}")]
    Flag(String),
}

/// Overwrites `dst` with a flag's value when the flag was given.
fn set(dst: &mut f64, flag: Option<f64>) {
    if let Some(v) = flag {
        *dst = v;
    }
}

fn pair(s: &str, sep: char) -> Result<(f64, f64), CliError> {
    s.split_once(sep)
        .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)))
        .ok_or_else(|| CliError::Flag(format!("expected A{sep}B numbers, got {s:?}")))
}

impl SimArgs {
    /// The scenario these flags describe (the file, then the flags over it).
    pub fn config(&self) -> Result<SimConfig, CliError> {
        let mut c = match &self.scenario {
            Some(name) => crate::scenarios::load(name).map_err(CliError::Flag)?,
            None => SimConfig::default(),
        };
        if let Some(s) = self.seed {
            c.seed = s;
        }
        self.set_workload(&mut c)?;
        self.set_rates(&mut c);
        self.set_server(&mut c)?;
        c.check().map_err(CliError::Flag)?;
        Ok(c)
    }

    /// Durations, queueing, capacity and the active-task limits.
    fn set_workload(&self, c: &mut SimConfig) -> Result<(), CliError> {
        for d in &self.durations {
            let (model, spec) = match d.split_once('=') {
                Some((m, s)) => (m.to_owned(), s),
                None => ("*".to_owned(), d.as_str()),
            };
            let model_spec = spec.parse().map_err(|e| CliError::Flag(format!("{e}")))?;
            c.durations.insert(model, model_spec);
        }
        if let Some(q) = &self.queue {
            c.queue_delay = q.clone();
        }
        if self.capacity.is_some() {
            c.capacity = self.capacity;
        }
        if let Some(l) = self.active_limit {
            c.limits.default = l;
        }
        for s in &self.limit_at {
            let (t, l) = pair(s, '=')?;
            c.limits.schedule.push((t, l.max(0.0) as usize));
        }
        if let Some(r) = self.retry_after {
            c.retry_after = r;
        }
        Ok(())
    }

    /// Outcome mix, fault rates, latencies and lifetimes.
    fn set_rates(&self, c: &mut SimConfig) {
        set(&mut c.outcomes.error, self.error_rate);
        set(
            &mut c.outcomes.request_moderated,
            self.request_moderated_rate,
        );
        set(
            &mut c.outcomes.content_moderated,
            self.content_moderated_rate,
        );
        set(&mut c.faults.server_error.submit, self.submit_5xx);
        set(&mut c.faults.server_error.poll, self.poll_5xx);
        set(&mut c.faults.server_error.download, self.download_5xx);
        set(&mut c.faults.latency.base, self.latency);
        set(&mut c.faults.latency.jitter, self.jitter);
        set(&mut c.faults.latency.download_extra, self.download_extra);
        set(&mut c.faults.hang.poll, self.hang_rate);
        set(&mut c.faults.lost_answer.submit, self.lost_submit_rate);
        set(&mut c.faults.malformed.poll, self.malformed_rate);
        set(&mut c.faults.truncated.poll, self.truncated_rate);
        set(&mut c.result_ttl_secs, self.result_ttl);
        set(
            &mut c.quirks.not_found_after_submit_secs,
            self.quirk_404_secs,
        );
    }

    /// Brownouts, hosts, keys, credits and the wire quirks.
    fn set_server(&self, c: &mut SimConfig) -> Result<(), CliError> {
        for b in &self.brownouts {
            c.faults.brownouts.push(pair(b, '-')?);
        }
        if let Some(p) = self.polling_host {
            c.polling_host = p;
        }
        if !self.keys.is_empty() {
            c.keys = self.keys.clone();
        }
        if self.credits.is_some() {
            c.credits = self.credits;
        }
        if self.quirk_202 {
            c.quirks.accepted_while_pending = true;
        }
        if self.no_progress {
            c.progress = false;
        }
        if let Some(d) = self.delivery {
            c.delivery = d;
        }
        if let Some(n) = self.request_log_cap {
            c.request_log_cap = n;
        }
        self.webhooks.apply(&mut c.webhooks);
        Ok(())
    }

    /// Where to listen.
    pub fn server_options(&self) -> ServerOptions {
        ServerOptions {
            bind: self.bind,
            port: self.port,
            delivery_port: self.delivery_port,
            regional_port: self.regional_port,
            hostile_port: 0,
            bounds: Bounds {
                max_connections: self.max_connections,
                header_read_timeout: self.header_read_timeout,
                body_budget: self.body_budget,
                ..Bounds::default()
            },
        }
    }
}

/// Runs the simulator until Ctrl-C, printing its base URL first. Needs a tokio runtime.
pub async fn run(args: SimArgs) -> Result<(), CliError> {
    if args.list_scenarios {
        print!("{}", crate::scenarios::listing());
        return Ok(());
    }
    let config = args.config()?;
    let delivery = config.delivery;
    let server = SimServer::start_with(config, args.server_options()).await?;
    print!("{}", banner(&server, delivery));
    tokio::signal::ctrl_c().await?;
    let c = server.stats().counters;
    tracing::info!(requests = c.requests, tasks = c.accepted, "shutting down");
    server.shutdown().await;
    Ok(())
}

/// What the simulator prints at start: where it listens and how to point clients at it.
fn banner(server: &SimServer, delivery: Delivery) -> String {
    let base = server.base_url();
    let results = match delivery {
        Delivery::Separate => format!(
            "separate, on http://{} (the default, as BFL does)\n  \
             Vercel AI SDK users: pass --delivery same-origin (its SSRF guard downloads only \
             from the base URL's origin) and baseURL {base}/v1",
            server.delivery_authority()
        ),
        Delivery::SameOrigin => format!(
            "same-origin, /results/... on {base} (keys sent there are counted as \
             keys_sent_to_results, expected of same-origin clients)"
        ),
    };
    format!(
        "bfl-sim listening on {base}\n  \
         results:       {results}\n  \
         regional host: http://{}\n  \
         ground truth:  {base}/__sim/stats, {base}/__sim/summary\n  \
         live knobs:    {base}/__sim/config (GET; PATCH a JSON merge patch)\n",
        server.regional_authority()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimArgs,
    }

    #[test]
    fn flags_build_the_scenario() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "bfl-sim",
            "--port",
            "0",
            "--seed",
            "9",
            "--duration",
            "lognormal:6,0.5",
            "--duration",
            "flux-2-max=fixed:15",
            "--limit-at",
            "60=12",
            "--brownout",
            "10-40",
            "--retry-after",
            "fixed:0",
            "--poll-5xx",
            "0.1",
            "--polling-host",
            "regional",
            "--capacity",
            "48",
            "--webhook-drop",
            "0.25",
            "--webhook-duplicate",
            "1",
            "--webhook-dialect",
            "id",
        ])
        .unwrap();
        let c = cli.sim.config().unwrap();
        assert_eq!(c.seed, 9);
        assert_eq!(c.duration_model("flux-2-max"), DurationDist::Fixed(15.0));
        assert_eq!(
            c.duration_model("flux-dev"),
            DurationDist::LogNormal {
                median: 6.0,
                sigma: 0.5
            }
        );
        assert_eq!(c.limits.schedule, vec![(60.0, 12)]);
        assert_eq!(c.faults.brownouts, vec![(10.0, 40.0)]);
        assert_eq!(c.retry_after, RetryAfter::Fixed(0));
        assert_eq!(c.faults.server_error.poll, 0.1);
        assert_eq!(c.polling_host, PollingHost::Regional);
        assert_eq!(c.capacity, Some(48));
        let w = &c.webhooks;
        assert_eq!(
            (w.drop, w.duplicate, w.dialect),
            (0.25, 1.0, WebhookDialect::Id)
        );
        assert_eq!(w.forged, WebhookConfig::default().forged);
        assert!(Cli::try_parse_from(["bfl-sim", "--duration", "nope:1"])
            .unwrap()
            .sim
            .config()
            .is_err());
    }

    #[test]
    fn flag_values_are_checked_with_clear_errors() {
        let err = |args: &[&str]| {
            let mut all = vec!["bfl-sim"];
            all.extend_from_slice(args);
            match Cli::try_parse_from(all) {
                Err(e) => e.to_string(),
                Ok(cli) => cli
                    .sim
                    .config()
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default(),
            }
        };
        assert!(err(&["--error-rate", "1.5"]).contains("not a probability"));
        assert!(err(&["--latency=-1"]).contains("not a number ≥ 0"));
        assert!(err(&["--max-connections", "0"]).contains("≥ 1"));
        assert!(err(&["--delivery", "cdn"]).contains("same-origin or separate"));
        assert!(err(&["--brownout", "40-10"]).contains("FROM ≤ TO"));
        assert!(err(&["--webhook-forged", "2"]).contains("not a probability"));
        assert!(err(&["--webhook-dialect", "xml"]).contains("task-id"));
        assert!(
            err(&["--error-rate", "0.6", "--content-moderated-rate", "0.6"])
                .contains("sum of the outcome rates")
        );
        let ok = Cli::try_parse_from(["bfl-sim", "--delivery", "same-origin", "--error-rate", "1"])
            .unwrap();
        let c = ok.sim.config().unwrap();
        assert_eq!((c.delivery, c.outcomes.error), (Delivery::SameOrigin, 1.0));
        let bounds = ok.sim.server_options().bounds;
        assert_eq!(bounds, Bounds::default());
    }

    #[tokio::test]
    async fn the_banner_states_the_delivery_and_what_ai_sdk_users_pass() {
        let server = SimServer::start(SimConfig::default()).await.unwrap();
        let separate = banner(&server, Delivery::Separate);
        assert!(separate.contains("separate") && separate.contains("the default"));
        assert!(separate.contains("--delivery same-origin"));
        assert!(separate.contains(&format!("baseURL {}/v1", server.base_url())));
        assert!(separate.contains("/__sim/config"));
        let same = banner(&server, Delivery::SameOrigin);
        assert!(same.contains("same-origin") && same.contains("keys_sent_to_results"));
        let help = <Cli as clap::CommandFactory>::command()
            .render_long_help()
            .to_string();
        assert!(help.contains("The default is `separate`") && help.contains("Vercel AI SDK"));
        server.shutdown().await;
    }
}
