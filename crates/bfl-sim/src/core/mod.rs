//! The simulation core: a pure state machine over requests. It never reads a clock: every call
//! takes `now`, in sim seconds since the scenario's epoch. Both faces (HTTP, virtual time) feed
//! it requests and carry its answers back, applying the latency it asks for.

use crate::config::{Delivery, RetryAfter, SimConfig};
use crate::faults::FaultDice;
use crate::stats::{Counters, Outcome, RequestKind, RequestLog, RequestRecord, Stats, TaskTruth};
use accounts::{At, KeyState};
use bfl_core::api::OutputFormat;
use rand::rngs::SmallRng;
use rand::Rng;
use serde_json::json;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

mod accounts;
mod bad_download;
mod blob;
mod delivery;
mod poll;
mod submit;
mod webhook;

pub use crate::exchange::{Hosts, Role, SimBody, SimRequest, SimResponse, NOT_AUTHENTICATED};

#[derive(Debug, Clone)]
struct Task {
    id: String,
    model: String,
    prompt: String,
    seed: i64,
    submitted: f64,
    started: f64,
    finished: f64,
    outcome: Outcome,
    image: (u32, u32, OutputFormat),
    /// The estimate answered at submit, charged if `Ready`.
    cost: f64,
    first_terminal_poll: Option<f64>,
    first_ready_poll: Option<f64>,
    polls: u32,
    polls_after_terminal: u32,
    downloads: u32,
    downloaded_at: Option<f64>,
    refused_expired: bool,
}

#[derive(Debug, Clone)]
struct Rec {
    time: f64,
    role: Role,
    post: bool,
    path: Box<str>,
    status: u16,
    key_sent: bool,
    kind: RequestKind,
}

/// The simulated BFL API. Deterministic: the same config and the same requests at the same
/// times give the same answers. A task's id, queue delay, duration and outcome depend only on
/// the seed, the request (model and body) and how many identical requests were accepted before —
/// not on when or in which order jobs are submitted — so strategies compared on one seed face
/// the same jobs.
#[derive(Debug)]
pub struct Sim {
    cfg: SimConfig,
    hosts: Hosts,
    dice: FaultDice,
    tasks: Vec<Task>,
    by_id: HashMap<String, u32>,
    keys: HashMap<String, KeyState>,
    counters: Counters,
    /// The request log: a ring of at most `request_log_cap` records.
    log: VecDeque<Rec>,
    /// Records dropped from the ring.
    log_dropped: u64,
    secret: [u8; 8],
    /// When each busy generation slot frees (with `capacity`).
    slots: BinaryHeap<Reverse<At>>,
    /// How many tasks each distinct request (hash of model and body) has created.
    seen: HashMap<u64, u64>,
    /// Scheduled webhook deliveries and their ground truth.
    webhooks: crate::webhooks::Outbox,
}

fn mix(seed: u64, n: u64) -> u64 {
    // splitmix64 of the pair: independent streams per task.
    use bfl_core::stats::{splitmix64, GOLDEN_GAMMA};
    splitmix64(seed ^ n.wrapping_mul(GOLDEN_GAMMA))
}

fn task_id(rng: &mut SmallRng) -> String {
    // A version-4 UUID: version nibble 4, variant bits 10.
    let a: u128 = rng.random();
    let a = (a & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    let h = format!("{a:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn round_to(x: f64, scale: f64) -> f64 {
    (x * scale).round() / scale
}

fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then_some(v)
    })
}

impl Sim {
    /// A simulation of `cfg` whose URLs name `hosts`.
    pub fn new(cfg: SimConfig, hosts: Hosts) -> Sim {
        let dice = FaultDice::new(mix(cfg.seed, u64::MAX));
        let secret = mix(cfg.seed, 0x5ec2e7).to_le_bytes();
        Sim {
            cfg,
            hosts,
            dice,
            tasks: Vec::new(),
            by_id: HashMap::new(),
            keys: HashMap::new(),
            counters: Counters::default(),
            log: VecDeque::new(),
            log_dropped: 0,
            secret,
            slots: BinaryHeap::new(),
            seen: HashMap::new(),
            webhooks: Default::default(),
        }
    }

    /// The scenario.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// The scenario, to change mid-run (e.g. start a fault from a test at a chosen moment).
    /// Changes apply to requests from then on; tasks already created keep their attributes.
    pub fn config_mut(&mut self) -> &mut SimConfig {
        &mut self.cfg
    }

    /// The hosts written into URLs.
    pub fn hosts(&self) -> &Hosts {
        &self.hosts
    }

    /// The counters so far (cheap).
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Number of tasks created so far.
    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }

    /// The ground truth of every task as of `now`.
    pub fn tasks(&self, now: f64) -> Vec<TaskTruth> {
        self.tasks.iter().map(|t| self.truth(t, now)).collect()
    }

    fn truth(&self, t: &Task, now: f64) -> TaskTruth {
        let ready = t.outcome == Outcome::Ready;
        TaskTruth {
            id: t.id.clone(),
            model: t.model.clone(),
            submitted_at: t.submitted,
            started_at: t.started,
            finished_at: t.finished,
            ready_at: ready.then_some(t.finished),
            first_terminal_poll_at: t.first_terminal_poll,
            first_ready_poll_at: t.first_ready_poll,
            polls: t.polls,
            polls_after_terminal: t.polls_after_terminal,
            downloads: t.downloads,
            downloaded_at: t.downloaded_at,
            expired: ready
                && t.downloaded_at.is_none()
                && (t.refused_expired || now > t.finished + self.cfg.result_ttl_secs),
            outcome: t.outcome,
        }
    }

    /// The request log's size, cap and losses.
    pub fn request_log(&self) -> RequestLog {
        RequestLog {
            cap: self.cfg.request_log_cap,
            kept: self.log.len(),
            dropped: self.log_dropped,
        }
    }

    /// The request log: the last `request_log_cap` requests.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.log
            .iter()
            .map(|r| RequestRecord {
                time: r.time,
                method: if r.post { "POST" } else { "GET" }.to_owned(),
                path: r.path.to_string(),
                host: self.hosts.authority(r.role).to_owned(),
                status: r.status,
                key_sent: r.key_sent,
                kind: r.kind,
            })
            .collect()
    }

    /// The server-side figures of the run as of `now` (cheaper than [`Sim::stats`]: the request
    /// log is not copied).
    pub fn summary(&self, now: f64) -> crate::summary::Summary {
        let times: Vec<f64> = self.log.iter().map(|r| r.time).collect();
        crate::summary::Summary::of(&self.tasks(now), &times, self.counters.rate_limited)
    }

    /// A snapshot of the whole ground truth as of `now`.
    pub fn stats(&self, now: f64) -> Stats {
        Stats {
            epoch_unix: self.cfg.epoch_unix,
            now,
            counters: self.counters.clone(),
            tasks: self.tasks(now),
            http: None,
            request_log: self.request_log(),
            requests: self.requests(),
            webhooks: self.webhooks.records().to_vec(),
        }
    }

    /// Answers one request arriving at `now` (sim seconds).
    pub fn handle(&mut self, now: f64, req: &SimRequest<'_>) -> SimResponse {
        let kind = route(&self.cfg, req);
        let key_sent = req.key.is_some();
        self.counters.requests += 1;
        match kind {
            RequestKind::Submit => self.counters.submits += 1,
            RequestKind::Poll => self.counters.polls += 1,
            RequestKind::Download => self.counters.downloads += 1,
            RequestKind::Credits => self.counters.credits += 1,
            RequestKind::Other => self.counters.other += 1,
        }
        if key_sent && req.role == Role::Delivery {
            self.counters.keys_sent_to_delivery += 1;
        }
        if key_sent && req.role == Role::Hostile {
            self.counters.keys_sent_to_hostile += 1;
        }
        if key_sent && kind == RequestKind::Download {
            self.counters.keys_sent_to_results += 1;
        }
        let mut resp = self.answer(now, kind, req);
        match resp.status {
            429 => self.counters.rate_limited += 1,
            402 => self.counters.payment_required += 1,
            403 if req.role != Role::Delivery => self.counters.forbidden += 1,
            422 => self.counters.validation_errors += 1,
            s if s >= 500 => self.counters.server_errors += 1,
            _ => {}
        }
        if resp.hang {
            self.counters.hung += 1;
        } else {
            resp.delay = self.dice.latency(&self.cfg.faults.latency, now);
            if kind == RequestKind::Download && resp.status == 200 {
                resp.delay += self.cfg.faults.latency.download_extra.max(0.0);
            }
        }
        if self.cfg.record_requests {
            self.record(now, req, kind, &resp);
        }
        resp
    }

    /// Appends to the request log, dropping the oldest records past the cap.
    fn record(&mut self, now: f64, req: &SimRequest<'_>, kind: RequestKind, resp: &SimResponse) {
        // A full ring lends its oldest path's buffer to the new one: polls' paths are all one
        // length, so a long run records without allocating (it was 5 % of a virtual run).
        let mut reused = None;
        while self.log.len() >= self.cfg.request_log_cap.max(1) {
            reused = self.log.pop_front().map(|r| r.path);
            self.log_dropped += 1;
        }
        let mut path = reused.map_or_else(String::new, String::from);
        path.clear();
        path.reserve_exact(req.path.len() + req.query.map_or(0, |q| q.len() + 1));
        path.push_str(req.path);
        if let Some(q) = req.query {
            path.push('?');
            path.push_str(q);
        }
        self.log.push_back(Rec {
            time: now,
            role: req.role,
            post: req.method.eq_ignore_ascii_case("POST"),
            path: path.into_boxed_str(),
            status: if resp.hang { 0 } else { resp.status },
            key_sent: req.key.is_some(),
            kind,
        });
    }

    fn answer(&mut self, now: f64, kind: RequestKind, req: &SimRequest<'_>) -> SimResponse {
        let faults = &self.cfg.faults;
        let (hang, err, malformed, truncated) = match kind {
            RequestKind::Submit => (
                faults.hang.submit,
                faults.server_error.submit,
                faults.malformed.submit,
                faults.truncated.submit,
            ),
            RequestKind::Poll => (
                faults.hang.poll,
                faults.server_error.poll,
                faults.malformed.poll,
                faults.truncated.poll,
            ),
            RequestKind::Download => (faults.hang.download, faults.server_error.download, 0.0, 0.0),
            RequestKind::Credits => (
                faults.hang.credits,
                faults.server_error.credits,
                faults.malformed.credits,
                faults.truncated.credits,
            ),
            RequestKind::Other => (0.0, 0.0, 0.0, 0.0),
        };
        if self.dice.hit(hang) {
            let mut r = SimResponse::json(0, Vec::new());
            r.hang = true;
            return r;
        }
        if req.role != Role::Delivery && kind != RequestKind::Other {
            if let Some(until) = faults
                .brownouts
                .iter()
                .find(|(from, to)| *from <= now && now < *to)
                .map(|w| w.1)
            {
                let r = SimResponse::detail(503, "Service Unavailable");
                return self.retry_after(r, until - now);
            }
        }
        if self.dice.hit(err) {
            return self.dice.server_error();
        }
        let lost = match kind {
            RequestKind::Submit => faults.lost_answer.submit,
            RequestKind::Poll => faults.lost_answer.poll,
            RequestKind::Download => faults.lost_answer.download,
            RequestKind::Credits => faults.lost_answer.credits,
            RequestKind::Other => 0.0,
        };
        let mut resp = match kind {
            RequestKind::Submit => self.submit(now, req),
            RequestKind::Poll => self.poll(now, req),
            RequestKind::Download => self.download(now, req),
            RequestKind::Credits => self.credits(now, req),
            RequestKind::Other => other(req),
        };
        if self.dice.hit(lost) {
            resp.hang = true;
            return resp;
        }
        if resp.status == 200 {
            if let SimBody::Bytes(body) = &resp.body {
                if let Some(mangled) = self.dice.mangle(body, malformed, truncated) {
                    self.counters.mangled += 1;
                    return SimResponse {
                        body: SimBody::Bytes(mangled),
                        ..resp
                    };
                }
            }
        }
        resp
    }

    fn retry_after(&self, resp: SimResponse, true_wait: f64) -> SimResponse {
        match self.cfg.retry_after {
            RetryAfter::Absent => resp,
            RetryAfter::Accurate => {
                let secs = true_wait.ceil().max(1.0) as u64;
                resp.with_header("retry-after", secs.to_string())
            }
            RetryAfter::Fixed(n) => resp.with_header("retry-after", n.to_string()),
        }
    }

    fn authorized(&self, key: Option<&str>) -> bool {
        match key {
            Some(k) if !k.is_empty() => {
                self.cfg.keys.is_empty() || self.cfg.keys.iter().any(|c| c == k)
            }
            _ => false,
        }
    }

    fn balance(&mut self, key: &str, now: f64) -> Option<f64> {
        let initial = self.cfg.credits?;
        let state = self.keys.entry(key.to_owned()).or_default();
        state.settle(now);
        Some(initial - state.committed())
    }

    fn credits(&mut self, now: f64, req: &SimRequest<'_>) -> SimResponse {
        let key = match req.key {
            Some(k) if self.authorized(Some(k)) && req.role != Role::Delivery => k,
            _ => return SimResponse::detail(403, NOT_AUTHENTICATED),
        };
        let credits = self.balance(key, now).unwrap_or(1e9);
        SimResponse::value(200, &json!({ "credits": credits }))
    }
}

/// What a request is for. Only the spec's endpoints exist: a `POST` to a model the scenario
/// does not serve is `Other` (404, as BFL answers); result paths exist on the delivery host, and
/// on the API hosts too with same-origin delivery.
fn route(cfg: &SimConfig, req: &SimRequest<'_>) -> RequestKind {
    let get = req.method.eq_ignore_ascii_case("GET");
    let results_here = req.role == Role::Delivery || cfg.delivery == Delivery::SameOrigin;
    if get && results_here && req.path.starts_with("/results/") {
        return RequestKind::Download;
    }
    if req.role == Role::Delivery {
        return RequestKind::Other;
    }
    match req.path {
        "/v1/get_result" if get => RequestKind::Poll,
        "/v1/credits" if get => RequestKind::Credits,
        p if req.method.eq_ignore_ascii_case("POST") => match p.strip_prefix("/v1/") {
            Some(m) if cfg.serves_model(m) => RequestKind::Submit,
            _ => RequestKind::Other,
        },
        _ => RequestKind::Other,
    }
}

fn other(req: &SimRequest<'_>) -> SimResponse {
    if req.role != Role::Delivery && matches!(req.path, "/v1/get_result" | "/v1/credits") {
        SimResponse::detail(405, "Method Not Allowed")
    } else {
        SimResponse::detail(404, "Not Found")
    }
}
