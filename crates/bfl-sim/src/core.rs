//! The simulation core: a pure state machine over requests. It never reads a clock: every call
//! takes `now`, in sim seconds since the scenario's epoch. Both faces (HTTP, virtual time) feed
//! it requests and carry its answers back, applying the latency it asks for.

use crate::config::{PollingHost, RetryAfter, SimConfig};
use crate::faults::FaultDice;
use crate::images::{fnv1a, served_size, ImageSpec};
use crate::stats::{Counters, Outcome, RequestKind, RequestRecord, Stats, TaskTruth};
use crate::validate;
use bfl_core::api::OutputFormat;
use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{json, Value};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// The `detail` of a 403 for a missing or unknown key, as seen on the real API.
pub const NOT_AUTHENTICATED: &str = "Not authenticated - Invalid Authentication";

/// Which listener (host) a request arrived at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The API host submits go to.
    Api,
    /// The regional API host a `polling_url` may name.
    Regional,
    /// The delivery host of result images (no key needed, none wanted).
    Delivery,
    /// A host outside the client's key policy that a hostile `polling_url` names.
    Hostile,
}

/// The authorities (`host:port`) and scheme the core writes into URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosts {
    /// `http` or `https`.
    pub scheme: String,
    /// The API host.
    pub api: String,
    /// The regional API host.
    pub regional: String,
    /// The delivery host.
    pub delivery: String,
    /// The hostile polling host.
    pub hostile: String,
}

impl Hosts {
    /// The fake names of the virtual-time face (`https://api.sim.invalid` …).
    pub fn virtual_names() -> Hosts {
        Hosts {
            scheme: "https".into(),
            api: "api.sim.invalid".into(),
            regional: "api.eu1.sim.invalid".into(),
            delivery: "delivery.sim.invalid".into(),
            hostile: "api.sim-evil.invalid".into(),
        }
    }

    /// The authority of a role.
    pub fn authority(&self, role: Role) -> &str {
        match role {
            Role::Api => &self.api,
            Role::Regional => &self.regional,
            Role::Delivery => &self.delivery,
            Role::Hostile => &self.hostile,
        }
    }

    /// The role of an authority, if it is one of ours.
    pub fn role_of(&self, authority: &str) -> Option<Role> {
        [Role::Api, Role::Regional, Role::Delivery, Role::Hostile]
            .into_iter()
            .find(|r| self.authority(*r).eq_ignore_ascii_case(authority))
    }
}

/// A request as the core sees it.
#[derive(Debug, Clone, Copy)]
pub struct SimRequest<'a> {
    /// Where it arrived.
    pub role: Role,
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// The query string, without `?`.
    pub query: Option<&'a str>,
    /// The `x-key` header.
    pub key: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

/// An answer body: bytes, or an image to render outside the core's lock.
#[derive(Debug, Clone, PartialEq)]
pub enum SimBody {
    /// Ready bytes.
    Bytes(Bytes),
    /// An image to encode.
    Image(ImageSpec),
}

/// The core's answer, plus how the face must deliver it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers (`content-type`, `retry-after`, …).
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: SimBody,
    /// Seconds to wait before answering.
    pub delay: f64,
    /// Never answer (a hung request).
    pub hang: bool,
}

impl SimResponse {
    fn json(status: u16, body: Vec<u8>) -> SimResponse {
        SimResponse {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: SimBody::Bytes(Bytes::from(body)),
            delay: 0.0,
            hang: false,
        }
    }

    fn value(status: u16, v: &Value) -> SimResponse {
        SimResponse::json(status, serde_json::to_vec(v).unwrap_or_default())
    }

    fn detail(status: u16, msg: &str) -> SimResponse {
        SimResponse::value(status, &json!({ "detail": msg }))
    }

    fn with_header(mut self, name: &'static str, value: String) -> SimResponse {
        self.headers.push((name, value));
        self
    }

    /// The body bytes (renders an image).
    pub fn body_bytes(&self) -> Bytes {
        match &self.body {
            SimBody::Bytes(b) => b.clone(),
            SimBody::Image(spec) => spec.bytes(),
        }
    }

    /// As an `http::Response` (renders an image).
    pub fn to_http(&self) -> http::Response<Bytes> {
        let mut b = http::Response::builder().status(self.status);
        for (k, v) in &self.headers {
            b = b.header(*k, v.as_str());
        }
        b.body(self.body_bytes()).unwrap_or_else(|_| {
            let mut r = http::Response::new(Bytes::new());
            *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            r
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct At(f64);
impl Eq for At {}
impl PartialOrd for At {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for At {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A task holding an active slot until `end`, and what it charges then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Active {
    end: At,
    charge_milli: u64,
}

#[derive(Debug, Default)]
struct KeyState {
    spent: f64,
    pools: HashMap<String, BinaryHeap<Reverse<Active>>>,
}

impl KeyState {
    /// Ends every task finished by `now`, charging the `Ready` ones.
    fn settle(&mut self, now: f64) {
        for pool in self.pools.values_mut() {
            while let Some(Reverse(a)) = pool.peek() {
                if a.end.0 > now {
                    break;
                }
                self.spent += a.charge_milli as f64 / 1000.0;
                pool.pop();
            }
        }
    }
}

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
    log: Vec<Rec>,
    secret: [u8; 8],
    /// When each busy generation slot frees (with `capacity`).
    slots: BinaryHeap<Reverse<At>>,
    /// How many tasks each distinct request (hash of model and body) has created.
    seen: HashMap<u64, u64>,
}

fn mix(seed: u64, n: u64) -> u64 {
    // splitmix64 of the pair: independent streams per task.
    let mut z = seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
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

#[derive(Serialize)]
struct PollBody<'a> {
    id: &'a str,
    status: &'a str,
    result: Option<ResultBody<'a>>,
    progress: Option<f64>,
    details: Option<Value>,
    preview: Option<Value>,
}

#[derive(Serialize)]
struct ResultBody<'a> {
    sample: String,
    prompt: &'a str,
    seed: i64,
    start_time: f64,
    end_time: f64,
    duration: f64,
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
            log: Vec::new(),
            secret,
            slots: BinaryHeap::new(),
            seen: HashMap::new(),
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

    /// The request log so far.
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

    /// A snapshot of the whole ground truth as of `now`.
    pub fn stats(&self, now: f64) -> Stats {
        Stats {
            epoch_unix: self.cfg.epoch_unix,
            now,
            counters: self.counters.clone(),
            tasks: self.tasks(now),
            requests: self.requests(),
        }
    }

    /// Answers one request arriving at `now` (sim seconds).
    pub fn handle(&mut self, now: f64, req: &SimRequest<'_>) -> SimResponse {
        let kind = route(req);
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
            let path = match req.query {
                Some(q) => format!("{}?{q}", req.path),
                None => req.path.to_owned(),
            };
            self.log.push(Rec {
                time: now,
                role: req.role,
                post: req.method.eq_ignore_ascii_case("POST"),
                path: path.into_boxed_str(),
                status: if resp.hang { 0 } else { resp.status },
                key_sent,
                kind,
            });
        }
        resp
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
        let resp = match kind {
            RequestKind::Submit => self.submit(now, req),
            RequestKind::Poll => self.poll(now, req),
            RequestKind::Download => self.download(now, req),
            RequestKind::Credits => self.credits(now, req),
            RequestKind::Other => other(req),
        };
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
        Some(initial - state.spent)
    }

    fn submit(&mut self, now: f64, req: &SimRequest<'_>) -> SimResponse {
        if !matches!(req.role, Role::Api | Role::Regional) {
            return SimResponse::detail(404, "Not Found");
        }
        let key = match req.key {
            Some(k) if self.authorized(Some(k)) => k,
            _ => return SimResponse::detail(403, NOT_AUTHENTICATED),
        };
        let model = req.path.trim_start_matches("/v1/");
        let body = match validate::validate(model, req.body) {
            Ok(b) => b,
            Err(items) => return SimResponse::value(422, &json!({ "detail": items })),
        };
        let cost = self.cfg.cost_of(model);
        if let Some(balance) = self.balance(key, now) {
            if balance < cost {
                return SimResponse::detail(402, "Insufficient credits");
            }
        }
        let (class, limit) = self.cfg.limits.for_model(model, now);
        let class = class.to_owned();
        let state = self.keys.entry(key.to_owned()).or_default();
        state.settle(now);
        let pool = state.pools.entry(class).or_default();
        if pool.len() >= limit {
            let next_end = pool.peek().map(|Reverse(a)| a.end.0).unwrap_or(now);
            let r = SimResponse::detail(
                429,
                &format!("You have reached the limit of {limit} active tasks. Please wait for a task to finish before submitting another."),
            );
            return self.retry_after(r, next_end - now);
        }

        // Everything about the task comes from its own stream, keyed by the seed, the request
        // (model and body) and how many times that same request was accepted before: a job gets
        // the same id, duration and outcome whatever the strategy, timing or order of submits.
        let n = self.tasks.len() as u64;
        let request_hash = fnv1a(&[model.as_bytes(), req.body]);
        let seen = self.seen.entry(request_hash).or_insert(0);
        let mut rng = SmallRng::seed_from_u64(mix(mix(self.cfg.seed, request_hash), *seen));
        *seen += 1;
        let id = task_id(&mut rng);
        let queue = self.cfg.queue_delay.sample(&mut rng);
        let duration = self.cfg.duration_model(model).sample(&mut rng);
        let prompt = body.get("prompt").and_then(Value::as_str).unwrap_or("");
        let u: f64 = rng.random();
        let mix_ = &self.cfg.outcomes;
        let outcome = if prompt.contains("sim:request-moderated") {
            Outcome::RequestModerated
        } else if prompt.contains("sim:content-moderated") {
            Outcome::ContentModerated
        } else if prompt.contains("sim:error") {
            Outcome::Error
        } else if u < mix_.request_moderated {
            Outcome::RequestModerated
        } else if u < mix_.request_moderated + mix_.error {
            Outcome::Error
        } else if u < mix_.request_moderated + mix_.error + mix_.content_moderated {
            Outcome::ContentModerated
        } else {
            Outcome::Ready
        };
        let random_seed: u32 = rng.random();
        let seed = body
            .get("seed")
            .and_then(Value::as_i64)
            .unwrap_or(i64::from(random_seed));
        let (started, finished) = if outcome == Outcome::RequestModerated {
            (now, now)
        } else {
            let mut start = now + queue;
            if let Some(cap) = self.cfg.capacity {
                if cap > 0 && self.slots.len() >= cap {
                    if let Some(Reverse(free)) = self.slots.pop() {
                        start = start.max(free.0);
                    }
                }
                self.slots.push(Reverse(At(start + duration)));
            }
            (start, start + duration)
        };
        if outcome != Outcome::RequestModerated {
            let charge = if outcome == Outcome::Ready { cost } else { 0.0 };
            pool.push(Reverse(Active {
                end: At(finished),
                charge_milli: (charge * 1000.0).round().max(0.0) as u64,
            }));
        }
        let (w, h) = served_size(
            body.get("width").and_then(Value::as_u64),
            body.get("height").and_then(Value::as_u64),
            body.get("aspect_ratio").and_then(Value::as_str),
            self.cfg.image_max_side,
        );
        let format = body
            .get("output_format")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| OutputFormat::default_for_model(model));
        let upsample = body.get("prompt_upsampling").and_then(Value::as_bool) == Some(true);
        let used_prompt = if upsample && !prompt.is_empty() {
            format!("{prompt}, highly detailed, cinematic lighting")
        } else {
            prompt.to_owned()
        };
        let out_w = body.get("width").and_then(Value::as_f64).unwrap_or(1024.0);
        let out_h = body.get("height").and_then(Value::as_f64).unwrap_or(1024.0);
        let output_mp = ((out_w * out_h / 1e6) * 100.0).round() / 100.0;
        self.by_id.insert(id.clone(), n as u32);
        self.tasks.push(Task {
            id: id.clone(),
            model: model.to_owned(),
            prompt: used_prompt,
            seed,
            submitted: now,
            started,
            finished,
            outcome,
            image: (w, h, format),
            first_terminal_poll: None,
            first_ready_poll: None,
            polls: 0,
            polls_after_terminal: 0,
            downloads: 0,
            downloaded_at: None,
            refused_expired: false,
        });
        self.counters.accepted += 1;
        let poll_role = match self.cfg.polling_host {
            PollingHost::Same => req.role,
            PollingHost::Regional => Role::Regional,
            PollingHost::Hostile => Role::Hostile,
        };
        let polling_url = format!(
            "{}://{}/v1/get_result?id={id}",
            self.hosts.scheme,
            self.hosts.authority(poll_role)
        );
        SimResponse::value(
            200,
            &json!({
                "id": id,
                "polling_url": polling_url,
                "cost": cost,
                "input_mp": 0.0,
                "output_mp": output_mp,
            }),
        )
    }

    fn poll(&mut self, now: f64, req: &SimRequest<'_>) -> SimResponse {
        if req.role == Role::Delivery {
            return SimResponse::detail(404, "Not Found");
        }
        if req.role != Role::Hostile && !self.authorized(req.key) {
            return SimResponse::detail(403, NOT_AUTHENTICATED);
        }
        let Some(id) = query_param(req.query, "id") else {
            return SimResponse::value(
                422,
                &json!({"detail": [{"type": "missing", "loc": ["query", "id"], "msg": "Field required", "input": null}]}),
            );
        };
        let not_found = |id: &str| {
            let body = PollBody {
                id,
                status: "Task not found",
                result: None,
                progress: None,
                details: None,
                preview: None,
            };
            SimResponse::json(200, serde_json::to_vec(&body).unwrap_or_default())
        };
        let Some(&index) = self.by_id.get(id) else {
            return not_found(id);
        };
        let Some(task) = self.tasks.get_mut(index as usize) else {
            return not_found(id);
        };
        task.polls += 1;
        if task.first_terminal_poll.is_some() {
            task.polls_after_terminal += 1;
            self.counters.polls_after_terminal += 1;
        }
        if now - task.submitted < self.cfg.quirks.not_found_after_submit_secs {
            return SimResponse::detail(404, "Not Found");
        }
        if now > task.finished + self.cfg.retention_secs {
            return not_found(id);
        }
        let terminal = now >= task.finished;
        if terminal {
            task.first_terminal_poll.get_or_insert(now);
            if task.outcome == Outcome::Ready {
                task.first_ready_poll.get_or_insert(now);
            }
        }
        let task = &self.tasks[index as usize];
        let mut progress = None;
        let (status, result, details) = if !terminal {
            if self.cfg.progress && now >= task.started {
                let span = (task.finished - task.started).max(1e-9);
                progress = Some(self.dice.progress((now - task.started) / span));
            }
            ("Pending", None, None)
        } else {
            match task.outcome {
                Outcome::Ready => {
                    let se = (self.cfg.epoch_unix + task.finished + self.cfg.result_ttl_secs)
                        .floor() as i64;
                    let sig = self.sign(&task.id, se);
                    let sample = format!(
                        "{}://{}/results/{}/sample.{}?se={se}&sig={sig}",
                        self.hosts.scheme,
                        self.hosts.delivery,
                        task.id,
                        task.image.2.extension()
                    );
                    let result = ResultBody {
                        sample,
                        prompt: &task.prompt,
                        seed: task.seed,
                        // Rounded as the real API's are (`1752477995.95983`, `7.566`).
                        start_time: round_to(self.cfg.epoch_unix + task.started, 1e5),
                        end_time: round_to(self.cfg.epoch_unix + task.finished, 1e5),
                        duration: round_to(task.finished - task.started, 1e3),
                    };
                    ("Ready", Some(result), None)
                }
                Outcome::Error => (
                    "Error",
                    None,
                    Some(json!({"message": "Generation failed, please try again"})),
                ),
                Outcome::RequestModerated => (
                    "Request Moderated",
                    None,
                    Some(json!({"Moderation Reasons": ["Derivative Works Filter"]})),
                ),
                Outcome::ContentModerated => (
                    "Content Moderated",
                    None,
                    Some(json!({"Moderation Reasons": ["Content Filter"]})),
                ),
            }
        };
        let body = PollBody {
            id: &task.id,
            status,
            result,
            progress,
            details,
            preview: None,
        };
        let code = if !terminal && self.cfg.quirks.accepted_while_pending {
            202
        } else {
            200
        };
        SimResponse::json(code, serde_json::to_vec(&body).unwrap_or_default())
    }

    fn sign(&self, id: &str, se: i64) -> String {
        format!(
            "{:016x}",
            fnv1a(&[&self.secret, id.as_bytes(), se.to_string().as_bytes()])
        )
    }

    fn download(&mut self, now: f64, req: &SimRequest<'_>) -> SimResponse {
        let refuse = |code: &str, msg: &str| {
            SimResponse {
            status: 403,
            headers: vec![("content-type", "application/xml".into())],
            body: SimBody::Bytes(Bytes::from(format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{msg}</Message></Error>"
            ))),
            delay: 0.0,
            hang: false,
        }
        };
        let not_found = || {
            SimResponse {
            status: 404,
            headers: vec![("content-type", "application/xml".into())],
            body: SimBody::Bytes(Bytes::from_static(
                b"<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>BlobNotFound</Code><Message>The specified blob does not exist.</Message></Error>",
            )),
            delay: 0.0,
            hang: false,
        }
        };
        let Some(rest) = req.path.strip_prefix("/results/") else {
            return not_found();
        };
        let id = rest.split('/').next().unwrap_or("");
        let Some(&index) = self.by_id.get(id) else {
            return not_found();
        };
        let se: Option<i64> = query_param(req.query, "se").and_then(|s| s.parse().ok());
        let sig = query_param(req.query, "sig");
        let Some(se) = se.filter(|se| sig == Some(self.sign(id, *se).as_str())) else {
            return refuse(
                "AuthenticationFailed",
                "Server failed to authenticate the request. Make sure the signature is formed correctly.",
            );
        };
        let now_unix = self.cfg.epoch_unix + now;
        let Some(task) = self.tasks.get_mut(index as usize) else {
            return not_found();
        };
        task.downloads += 1;
        if now_unix > se as f64 {
            if task.downloaded_at.is_none() {
                task.refused_expired = true;
            }
            self.counters.expired_downloads += 1;
            return refuse(
                "AuthenticationFailed",
                "Signed expiry time must be after signed start time: the URL has expired.",
            );
        }
        if task.outcome != Outcome::Ready || now < task.finished {
            return not_found();
        }
        task.downloaded_at.get_or_insert(now);
        let (width, height, format) = task.image;
        let tint = fnv1a(&[&task.seed.to_le_bytes(), task.prompt.as_bytes()]);
        let mime = match format {
            OutputFormat::Jpeg => "image/jpeg",
            OutputFormat::Png => "image/png",
            OutputFormat::Webp => "image/webp",
        };
        SimResponse {
            status: 200,
            headers: vec![("content-type", mime.into())],
            body: SimBody::Image(ImageSpec {
                width,
                height,
                format,
                tint,
            }),
            delay: 0.0,
            hang: false,
        }
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

fn route(req: &SimRequest<'_>) -> RequestKind {
    let get = req.method.eq_ignore_ascii_case("GET");
    if req.role == Role::Delivery {
        return if get && req.path.starts_with("/results/") {
            RequestKind::Download
        } else {
            RequestKind::Other
        };
    }
    match req.path {
        "/v1/get_result" if get => RequestKind::Poll,
        "/v1/credits" if get => RequestKind::Credits,
        p if req.method.eq_ignore_ascii_case("POST") => match p.strip_prefix("/v1/") {
            Some(m) if !m.is_empty() && !m.contains('/') && m != "get_result" && m != "credits" => {
                RequestKind::Submit
            }
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
