//! The sans-IO task machine: submit → poll → download, as decisions over time-stamped events.
//!
//! The machine never reads a clock, sleeps or sends. A driver feeds it what happened, stamped with
//! [`Now`], and asks it what to do next:
//!
//! ```text
//! loop {
//!     match machine.next_action(now) {
//!         Action::Send(req) => match transport.send(req).await {
//!             Ok(resp) => machine.on_response(now, resp),
//!             Err(err) => machine.on_transport_error(now, err),
//!         },
//!         Action::Wait(until) => runtime.sleep_until(until).await,
//!         Action::Done(outcome) => break outcome,
//!     }
//!     while let Some(event) = machine.poll_event() { /* journal, limiter, tracing */ }
//! }
//! ```
//!
//! Contract: at most one request is in flight; its answer (or transport error) must be fed back
//! before the next `next_action`; events must be drained before the next `next_action`, because
//! [`TaskEvent::Submitted`] is the moment to record the task durably, before its first poll.

use crate::api::{
    ErrorBody, GenerationRequest, OutputFormat, PollResponse, Status, SubmitResponse,
};
use crate::auth::{ApiKey, KeyPolicy, KEY_HEADER};
use crate::error::{Phase, TaskError, TaskRef};
use crate::event_queue::EventQueue;
use crate::image::{check_image, declared_length, BadImage};
use crate::retry::{classify, retry_after, RetryBudget, RetryPolicy, Verdict};
use crate::rt::Now;
use crate::strategy::{PollContext, PollStrategy, TaskObservation};
use crate::task::{Finished, Image, ReadyTask, SubmittedTask, TaskOutcome, TaskOutput, TaskReport};
use crate::transport::{DownloadDest, DownloadedFile, RequestKind, RequestMeta, TransportError};
use bytes::Bytes;
use http::{Method, Request, Response, Uri};
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// The `User-Agent` the engine sends.
pub const USER_AGENT: &str = concat!("bfl-rs/", env!("CARGO_PKG_VERSION"));

/// How long after a submit a `404` or `Task not found` is taken for "not visible yet".
pub const DEFAULT_NOT_FOUND_GRACE: Duration = Duration::from_secs(5);

/// Settings shared by every task of a client.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The API base, e.g. `https://api.bfl.ai` (a trailing `/v1` is accepted and dropped).
    pub base: Uri,
    /// The key.
    pub key: ApiKey,
    /// Which hosts may receive the key.
    pub key_policy: KeyPolicy,
    /// The most a task may take to be accepted, and again from its acceptance to its image (a
    /// paid task is never abandoned for the time its submit took).
    pub deadline: Duration,
    /// Waits between tries.
    pub retry: RetryPolicy,
    /// Retries shared by every task of the client.
    pub budget: Arc<RetryBudget>,
    /// How long after a submit a not-found answer counts as "not visible yet".
    pub not_found_grace: Duration,
    /// The most polls one task may make, whatever its strategy says.
    pub max_polls: u32,
    /// How long a result URL lives after the generation's `end_time`.
    pub result_url_lifetime: Duration,
}

impl EngineConfig {
    /// Defaults for `base` and `key`: the key policy of the base URL, a 10-minute deadline.
    pub fn new(base: Uri, key: ApiKey) -> EngineConfig {
        let base = normalize_base(base);
        EngineConfig {
            key_policy: KeyPolicy::for_base(&base),
            base,
            key,
            deadline: Duration::from_secs(600),
            retry: RetryPolicy::default(),
            budget: Arc::new(RetryBudget::default()),
            not_found_grace: DEFAULT_NOT_FOUND_GRACE,
            max_polls: 2_000,
            result_url_lifetime: crate::api::RESULT_URL_LIFETIME,
        }
    }

    /// `{base}/v1/{path}`.
    pub fn api_url(&self, path: &str) -> String {
        let base = self.base.to_string();
        format!("{}/v1/{}", base.trim_end_matches('/'), path)
    }

    /// `{base}/v1/get_result?id={id}`: where a task is polled by id at the configured API host.
    pub fn polling_url_by_id(&self, id: &str) -> String {
        self.api_url(&format!("get_result?id={}", query_escape(id)))
    }

    /// A GET of an API path, with the key (e.g. `credits`).
    pub fn api_get(
        &self,
        path: &str,
        kind: RequestKind,
        timeout: Option<Duration>,
    ) -> Request<Bytes> {
        let mut req = Request::new(Bytes::new());
        *req.method_mut() = Method::GET;
        *req.uri_mut() = self.api_url(path).parse().unwrap_or_default();
        add_common_headers(&mut req, Some(&self.key));
        req.extensions_mut().insert(RequestMeta { kind, timeout });
        req
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters (a task id is server text).
fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Drops a trailing `/` and `/v1` so `https://api.bfl.ai/v1` and `https://api.bfl.ai` mean the same.
fn normalize_base(base: Uri) -> Uri {
    let s = base.to_string();
    let trimmed = s.trim_end_matches('/');
    let trimmed = trimmed.strip_suffix("/v1").unwrap_or(trimmed);
    trimmed.parse().unwrap_or(base)
}

fn add_common_headers(req: &mut Request<Bytes>, key: Option<&ApiKey>) {
    let h = req.headers_mut();
    // Room for exactly a poll's three headers: a map's first insert reserves six entries
    // (≈ 300 bytes more in every request queued for a connection).
    let _ = h.try_reserve(3);
    h.insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static("application/json"),
    );
    h.insert(
        http::header::USER_AGENT,
        http::HeaderValue::from_static(USER_AGENT),
    );
    if let Some(key) = key {
        h.insert(KEY_HEADER, key.header_value());
    }
}

/// Where a task starts.
#[derive(Debug, Clone)]
pub enum Start {
    /// Submit a new generation.
    Submit(GenerationRequest),
    /// Poll an already submitted task (resume).
    Poll {
        /// The task.
        task: TaskRef,
        /// Its model id (for the strategy and the active-task limit).
        model: String,
    },
    /// Download a ready task's result.
    Download(ReadyTask),
}

/// Where a task stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StopAfter {
    /// Once submitted.
    Submitted,
    /// Once `Ready`.
    Ready,
    /// Once downloaded.
    Downloaded,
}

/// One task's work: where it starts, where it stops, where its image goes.
#[derive(Debug, Clone)]
pub struct Job {
    /// The starting point.
    pub start: Start,
    /// The stopping point.
    pub stop_after: StopAfter,
    /// Stream the image to this file instead of memory.
    pub download_to: Option<PathBuf>,
}

impl Job {
    /// Submit, poll and download to memory.
    pub fn generate(req: GenerationRequest) -> Job {
        Job {
            start: Start::Submit(req),
            stop_after: StopAfter::Downloaded,
            download_to: None,
        }
    }
    /// Picks up a task submitted earlier: poll it (never submitting again), then download it to
    /// memory (or to a file, with [`Job::to_file`]).
    pub fn resume(task: SubmittedTask) -> Job {
        Job {
            start: Start::Poll {
                task: task.task,
                model: task.model,
            },
            stop_after: StopAfter::Downloaded,
            download_to: None,
        }
    }
    /// Streams the image to `path`.
    pub fn to_file(mut self, path: impl Into<PathBuf>) -> Job {
        self.download_to = Some(path.into());
        self
    }
    /// The model id of the job.
    pub fn model(&self) -> &str {
        match &self.start {
            Start::Submit(r) => r.model(),
            Start::Poll { model, .. } => model,
            Start::Download(r) => &r.model,
        }
    }
}

/// What the driver must do next. Every answer ends in a wait or a request, so a driver cannot
/// forget to come back.
#[derive(Debug)]
pub enum Action {
    /// Send this request, then feed back the answer.
    Send(Request<Bytes>),
    /// Sleep until this moment, then ask again.
    Wait(Instant),
    /// The task is over.
    Done(TaskOutcome),
}

/// Things that happened, for the driver to act on (journal, limiter, tracing).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TaskEvent {
    /// A submit is about to be sent: the only window in which a crash leaves a task the caller
    /// may have paid for but cannot name.
    Submitting,
    /// The server accepted the task: record it durably before the first poll.
    Submitted(SubmittedTask),
    /// A 429 arrived; the machine will try again after `retry_in`.
    RateLimited {
        /// Where.
        phase: Phase,
        /// The wait before the next try.
        retry_in: Duration,
        /// Whether the server sent a `Retry-After`.
        hinted: bool,
    },
    /// A request failed and will be retried.
    Retrying {
        /// Where.
        phase: Phase,
        /// Why, in words.
        reason: String,
        /// The wait before the next try.
        retry_in: Duration,
    },
    /// A poll answered.
    Polled {
        /// The status seen.
        status: Status,
        /// The progress seen.
        progress: Option<f64>,
        /// The wait before the next poll (none when terminal).
        next_in: Option<Duration>,
        /// Whether that wait came from a server hint.
        hinted: bool,
    },
    /// The task is terminal on the server: its active slot is free.
    Terminal(Status),
}

enum State {
    Submit(GenerationRequest),
    Poll(SubmittedTask),
    Download(ReadyTask),
    Finished(Result<Finished, TaskError>),
}

/// One task's decisions. See the module docs for the driving contract.
pub struct TaskMachine {
    cfg: Arc<EngineConfig>,
    strategy: Box<dyn PollStrategy>,
    rng: rand::rngs::SmallRng,
    model: String,
    stop_after: StopAfter,
    download_to: Option<PathBuf>,
    state: State,
    started: Instant,
    deadline_at: Instant,
    /// The next request may go out at this moment.
    next_send_at: Instant,
    in_flight: Option<RequestKind>,
    events: EventQueue,
    report: TaskReport,
    /// Consecutive failures of the current request (5xx, transport, malformed).
    failures: u32,
    /// Consecutive 429s of the current request.
    rate_limited: u32,
    /// When the submit was answered; for resumed tasks, when the machine started.
    submitted_at: Instant,
    submitted_wall: SystemTime,
    /// Whether this machine saw the submit (its timings teach a learning strategy).
    saw_submit: bool,
    last_status: Option<Status>,
    last_progress: Option<f64>,
    last_pending_after: Option<Duration>,
    contended: bool,
    /// Boxed: set only once the task is ready, it would otherwise take 96 bytes of every task.
    observation: Option<Box<TaskObservation>>,
    /// The format the submitted request asked for (or its model's default), to note a difference.
    expected_format: Option<OutputFormat>,
}

/// The attempt number whose backoff a paid task waits when the shared retry budget is empty
/// (far enough along that it is the policy's cap).
const STARVED_ATTEMPT: u32 = 32;

/// The largest number of consecutive 429s one request may meet before the task gives up.
const MAX_RATE_LIMITED: u32 = 64;

/// The most hints of one task that may bring a poll forward.
const MAX_HINT_POLLS: u32 = 3;

impl TaskMachine {
    /// A machine for `job`, starting at `now`. `seed` drives every random choice (strategy jitter,
    /// retry jitter), so the same seed and the same answers give the same actions.
    pub fn new(
        cfg: Arc<EngineConfig>,
        job: Job,
        strategy: Box<dyn PollStrategy>,
        strategy_name: String,
        seed: u64,
        now: Now,
    ) -> TaskMachine {
        let model = job.model().to_owned();
        let deadline_at = now.instant + cfg.deadline;
        let report = TaskReport {
            model: model.clone(),
            strategy: strategy_name,
            ..TaskReport::default()
        };
        let mut m = TaskMachine {
            strategy,
            rng: rand::rngs::SmallRng::seed_from_u64(seed),
            stop_after: job.stop_after,
            download_to: job.download_to,
            state: State::Finished(Ok(Finished::Submitted(SubmittedTask {
                task: TaskRef {
                    id: String::new(),
                    polling_url: String::new(),
                },
                model: model.clone(),
                cost: None,
            }))),
            model,
            started: now.instant,
            deadline_at,
            next_send_at: now.instant,
            in_flight: None,
            events: EventQueue::new(),
            report,
            failures: 0,
            rate_limited: 0,
            submitted_at: now.instant,
            submitted_wall: now.wall,
            saw_submit: false,
            last_status: None,
            last_progress: None,
            last_pending_after: None,
            contended: false,
            observation: None,
            expected_format: None,
            cfg,
        };
        if let Start::Submit(req) = &job.start {
            m.expected_format = Some(req.effective_output_format());
        }
        m.state = match job.start {
            Start::Submit(req) => match check_model_id(req.model()) {
                Ok(()) => State::Submit(req),
                Err(e) => State::Finished(Err(e)),
            },
            Start::Poll { task, model } => {
                let submitted = SubmittedTask {
                    task,
                    model,
                    cost: None,
                };
                match m.admit_polling_url(submitted) {
                    Ok(submitted) => match m.schedule_poll(now) {
                        Some(_) => State::Poll(submitted),
                        None => State::Finished(Err(TaskError::GaveUp {
                            task: submitted.task,
                            polls: 0,
                        })),
                    },
                    Err(e) => State::Finished(Err(e)),
                }
            }
            Start::Download(ready) => State::Download(ready),
        };
        m
    }

    /// Tells the machine whether other jobs wait for an active slot (the driver knows, from the
    /// limiter); strategies see it in [`PollContext::contended`].
    pub fn set_contended(&mut self, contended: bool) {
        self.contended = contended;
    }

    /// What to do now.
    pub fn next_action(&mut self, now: Now) -> Action {
        if let State::Finished(result) = &self.state {
            let mut report = self.report.clone();
            report.elapsed = now.instant.saturating_duration_since(self.started);
            return Action::Done(TaskOutcome {
                result: result.clone(),
                report,
            });
        }
        if self.in_flight.is_some() {
            // The driver asked early; the answer is still owed.
            return Action::Wait(self.deadline_at);
        }
        if now.instant >= self.deadline_at {
            let err = self.deadline_error();
            self.finish(Err(err));
            return self.next_action(now);
        }
        if now.instant < self.next_send_at {
            return Action::Wait(self.next_send_at.min(self.deadline_at));
        }
        let timeout = Some(self.deadline_at.saturating_duration_since(now.instant));
        let req = match &self.state {
            State::Submit(req) => {
                self.events.push_back(TaskEvent::Submitting);
                self.report.submits += 1;
                self.submit_request(req, timeout)
            }
            State::Poll(task) => {
                self.report.polls += 1;
                self.poll_request(&task.task.polling_url, timeout)
            }
            State::Download(ready) => {
                if now.unix_secs() >= ready.expires_at {
                    let err = TaskError::ResultExpired {
                        task: ready.task.clone(),
                        expired_at: ready.expires_at,
                    };
                    self.finish(Err(err));
                    return self.next_action(now);
                }
                self.report.downloads += 1;
                let dest = self.download_to.clone();
                self.download_request(&ready.sample_url, timeout, dest)
            }
            State::Finished(_) => return self.next_action(now),
        };
        match req {
            Ok(req) => {
                self.in_flight = RequestMeta::of(&req).map(|m| m.kind);
                Action::Send(req)
            }
            Err(e) => {
                self.finish(Err(e));
                self.next_action(now)
            }
        }
    }

    /// Feeds the answer to the request in flight.
    pub fn on_response(&mut self, now: Now, resp: Response<Bytes>) {
        if self.in_flight.take().is_none() {
            return;
        }
        // A server that echoes the key cannot put it in any error, log or journal built from
        // its answer. (Result bytes from the delivery host are not searched.)
        let resp = match &self.state {
            State::Download(_) => resp,
            _ => resp.map(|body| crate::sanitize::redact_key(body, self.cfg.key.expose())),
        };
        let placeholder = State::Finished(Err(self.deadline_error()));
        let state = std::mem::replace(&mut self.state, placeholder);
        self.state = match state {
            State::Submit(req) => self.on_submit_answer(now, req, resp),
            State::Poll(task) => self.on_poll_answer(now, task, resp),
            State::Download(ready) => self.on_download_answer(now, ready, resp),
            done @ State::Finished(_) => done,
        };
    }

    /// Feeds the failure of the request in flight.
    pub fn on_transport_error(&mut self, now: Now, err: TransportError) {
        let Some(kind) = self.in_flight.take() else {
            return;
        };
        let phase = phase_of(kind);
        // A submit that may have reached the server is not sent again: that could pay twice.
        let may_retry = err.is_retryable()
            && (phase != Phase::Submit || matches!(err, TransportError::Connect(_)));
        let max = self.max_failures(phase);
        if !may_retry || !self.try_retry(now, None, phase, max, err.to_string()) {
            let task = self.task_ref();
            self.finish(Err(TaskError::Transport {
                task,
                phase,
                attempts: self.failures.max(1),
                source: err,
            }));
        }
    }

    /// Feeds a verified webhook delivery. A terminal claim makes the next poll go out now (one
    /// confirming poll; at most three per task); other claims are ignored. Nothing else changes, so a forged, stale or repeated hint can cost at
    /// most a few polls and never end the task. Ignored outside the poll phase.
    pub fn on_hint(&mut self, now: Now, hint: &crate::webhook::Hint) {
        if !hint.status.is_terminal() {
            return;
        }
        self.report.hints += 1;
        let polling = matches!(self.state, State::Poll(_)) && self.in_flight.is_none();
        if polling && self.report.hints <= MAX_HINT_POLLS {
            self.next_send_at = self.next_send_at.min(now.instant);
        }
    }

    /// The next event, if any. Drain after every `on_*` call.
    pub fn poll_event(&mut self) -> Option<TaskEvent> {
        self.events.pop_front()
    }

    /// The report so far.
    pub fn report(&self) -> &TaskReport {
        &self.report
    }

    /// Timings a learning strategy can use, once the task reached `Ready` (only for tasks whose
    /// submit this machine saw).
    pub fn observation(&self) -> Option<&TaskObservation> {
        self.observation.as_deref()
    }

    /// The task's id and polling URL, once known.
    pub fn task_ref(&self) -> Option<TaskRef> {
        match &self.state {
            State::Poll(t) => Some(t.task.clone()),
            State::Download(r) => Some(r.task.clone()),
            State::Finished(Ok(Finished::Submitted(t))) => Some(t.task.clone()),
            State::Finished(Ok(Finished::Ready(r))) => Some(r.task.clone()),
            State::Finished(Ok(Finished::Downloaded(o))) => Some(o.ready.task.clone()),
            State::Finished(Err(e)) => e.task().cloned(),
            State::Submit(_) => None,
        }
    }

    /// Whether the machine is done.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Finished(_))
    }

    // ---- requests ---------------------------------------------------------------------------

    fn submit_request(
        &self,
        req: &GenerationRequest,
        timeout: Option<Duration>,
    ) -> Result<Request<Bytes>, TaskError> {
        let mut r = Request::new(req.to_json());
        *r.method_mut() = Method::POST;
        *r.uri_mut() = self
            .cfg
            .api_url(req.model())
            .parse()
            .map_err(|e| validation(format!("bad model id or base URL: {e}")))?;
        add_common_headers(&mut r, Some(&self.cfg.key));
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        r.extensions_mut().insert(RequestMeta {
            kind: RequestKind::Submit,
            timeout,
        });
        Ok(r)
    }

    fn poll_request(
        &self,
        url: &str,
        timeout: Option<Duration>,
    ) -> Result<Request<Bytes>, TaskError> {
        let uri: Uri = url
            .parse()
            .map_err(|_| self.malformed(Phase::Poll, "unparseable polling_url"))?;
        // Checked when the URL was admitted; checked again so no code path can skip it.
        let key = self.cfg.key_policy.allows(&uri).then_some(&self.cfg.key);
        if key.is_none() {
            return Err(TaskError::ForeignPollingUrl {
                id: self.task_ref().map(|t| t.id).unwrap_or_default(),
                url: url.to_owned(),
            });
        }
        let mut r = Request::new(Bytes::new());
        *r.uri_mut() = uri;
        add_common_headers(&mut r, key);
        r.extensions_mut().insert(RequestMeta {
            kind: RequestKind::Poll,
            timeout,
        });
        Ok(r)
    }

    fn download_request(
        &self,
        url: &str,
        timeout: Option<Duration>,
        dest: Option<PathBuf>,
    ) -> Result<Request<Bytes>, TaskError> {
        let uri: Uri = url
            .parse()
            .map_err(|_| self.malformed(Phase::Download, "unparseable result URL"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(
                self.malformed(Phase::Download, "result URL is not an absolute http(s) URL")
            );
        }
        let mut r = Request::new(Bytes::new());
        *r.uri_mut() = uri;
        // Downloads never carry the key: the URL is signed.
        r.headers_mut().insert(
            http::header::USER_AGENT,
            http::HeaderValue::from_static(USER_AGENT),
        );
        r.extensions_mut().insert(RequestMeta {
            kind: RequestKind::Download,
            timeout,
        });
        if let Some(dest) = dest {
            r.extensions_mut().insert(DownloadDest(dest));
        }
        Ok(r)
    }

    // ---- answers ----------------------------------------------------------------------------

    fn on_submit_answer(
        &mut self,
        now: Now,
        req: GenerationRequest,
        resp: Response<Bytes>,
    ) -> State {
        match classify(resp.status()) {
            Verdict::Success => {}
            Verdict::RateLimited => {
                return self.rate_limited(now, resp, Phase::Submit, State::Submit(req));
            }
            Verdict::ServerFault => {
                let max = self.cfg.retry.max_submit_failures;
                let hint = retry_after(resp.headers(), now.wall);
                let why = format!("HTTP {}", resp.status().as_u16());
                if self.try_retry(now, hint, Phase::Submit, max, why) {
                    return State::Submit(req);
                }
                return State::Finished(Err(TaskError::Server {
                    task: None,
                    phase: Phase::Submit,
                    status: resp.status().as_u16(),
                    attempts: self.failures,
                    raw: resp.into_body(),
                }));
            }
            Verdict::Final => return State::Finished(Err(final_error(None, Phase::Submit, resp))),
        }
        self.cfg.budget.on_success();
        let body = resp.into_body();
        // Not retried when unreadable: the task may exist, and a second submit could pay twice.
        let parsed = match SubmitResponse::parse(&body) {
            Ok(p) => p,
            Err(e) => {
                return State::Finished(Err(TaskError::MalformedResponse {
                    task: None,
                    phase: Phase::Submit,
                    reason: e.to_string(),
                    raw: body,
                }))
            }
        };
        let polling_url = parsed
            .polling_url
            .clone()
            // The webhook form carries no polling URL; the id still polls at the API host.
            .unwrap_or_else(|| self.cfg.polling_url_by_id(&parsed.id));
        let submitted = SubmittedTask {
            task: TaskRef {
                id: parsed.id,
                polling_url,
            },
            model: self.model.clone(),
            cost: parsed.cost,
        };
        self.submitted_at = now.instant;
        self.submitted_wall = now.wall;
        self.saw_submit = true;
        // Paid now: the task gets its whole deadline to be polled and downloaded, however long
        // the submit took to be accepted (429s, a slow key) — it is never abandoned for that.
        self.deadline_at = self.deadline_at.max(now.instant + self.cfg.deadline);
        self.reset_failures();
        // The task is paid for: whatever its polling URL, it is recorded and polled.
        let submitted = match self.admit_polling_url(submitted) {
            Ok(t) => t,
            Err(e) => return State::Finished(Err(e)),
        };
        self.events
            .push_back(TaskEvent::Submitted(submitted.clone()));
        if self.stop_after == StopAfter::Submitted {
            return State::Finished(Ok(Finished::Submitted(submitted)));
        }
        match self.schedule_poll(now) {
            Some(_) => State::Poll(submitted),
            None => State::Finished(Err(TaskError::GaveUp {
                task: submitted.task,
                polls: 0,
            })),
        }
    }

    fn on_poll_answer(&mut self, now: Now, task: SubmittedTask, resp: Response<Bytes>) -> State {
        let status = resp.status();
        let in_grace =
            now.instant.saturating_duration_since(self.submitted_at) < self.cfg.not_found_grace;
        match classify(status) {
            Verdict::Success => {}
            Verdict::RateLimited => {
                return self.rate_limited(now, resp, Phase::Poll, State::Poll(task))
            }
            Verdict::ServerFault => {
                let max = self.cfg.retry.max_consecutive_failures;
                let hint = retry_after(resp.headers(), now.wall);
                if self.try_retry(
                    now,
                    hint,
                    Phase::Poll,
                    max,
                    format!("HTTP {}", status.as_u16()),
                ) {
                    return State::Poll(task);
                }
                return State::Finished(Err(TaskError::Server {
                    task: Some(task.task),
                    phase: Phase::Poll,
                    status: status.as_u16(),
                    attempts: self.failures,
                    raw: resp.into_body(),
                }));
            }
            Verdict::Final if status == http::StatusCode::NOT_FOUND && in_grace => {
                // Some clusters answer 404 for a moment right after a submit.
                self.cfg.budget.on_success();
                self.reset_failures();
                let next = self.after_pending_poll(now, Status::Pending, None, false);
                return self.poll_or_give_up(task, next);
            }
            Verdict::Final if status == http::StatusCode::NOT_FOUND => {
                return State::Finished(Err(TaskError::TaskNotFound {
                    task: task.task,
                    raw: resp.into_body(),
                }))
            }
            Verdict::Final => {
                return State::Finished(Err(final_error(Some(task.task), Phase::Poll, resp)))
            }
        }
        let accepted = status == http::StatusCode::ACCEPTED;
        let body = resp.into_body();
        let parsed = match PollResponse::parse(&body) {
            Ok(p) => p,
            // 202 while pending may come without a usable body.
            Err(_) if accepted => PollResponse {
                id: None,
                status: Status::Pending,
                result: None,
                progress: None,
                details: None,
                preview: None,
            },
            Err(e) => {
                let max = self.cfg.retry.max_consecutive_failures;
                if self.try_retry(now, None, Phase::Poll, max, e.to_string()) {
                    return State::Poll(task);
                }
                return State::Finished(Err(TaskError::MalformedResponse {
                    task: Some(task.task),
                    phase: Phase::Poll,
                    reason: e.to_string(),
                    raw: body,
                }));
            }
        };
        // A Ready without its sample is no success: it counts toward the failure cap.
        if !is_ready_without_sample(&parsed) {
            self.cfg.budget.on_success();
            self.reset_failures();
        }
        self.report.last_status = Some(parsed.status.as_str().to_owned());
        match parsed.status.clone() {
            Status::Ready => self.on_ready(now, task, parsed, body),
            Status::Pending | Status::Unknown(_) => {
                let next = self.after_pending_poll(now, parsed.status, parsed.progress, true);
                self.poll_or_give_up(task, next)
            }
            Status::TaskNotFound if in_grace => {
                let next = self.after_pending_poll(now, Status::Pending, None, false);
                self.poll_or_give_up(task, next)
            }
            terminal => {
                self.last_status = Some(terminal.clone());
                self.events.push_back(TaskEvent::Polled {
                    status: terminal.clone(),
                    progress: parsed.progress,
                    next_in: None,
                    hinted: false,
                });
                self.events.push_back(TaskEvent::Terminal(terminal.clone()));
                let t = task.task;
                let details = parsed.details;
                State::Finished(Err(match terminal {
                    Status::RequestModerated => TaskError::RequestModerated {
                        task: t,
                        details,
                        raw: body,
                    },
                    Status::ContentModerated => TaskError::ContentModerated {
                        task: t,
                        details,
                        raw: body,
                    },
                    Status::TaskNotFound => TaskError::TaskNotFound { task: t, raw: body },
                    status => TaskError::GenerationFailed {
                        task: t,
                        status,
                        details,
                        raw: body,
                    },
                }))
            }
        }
    }

    fn on_ready(
        &mut self,
        now: Now,
        task: SubmittedTask,
        parsed: PollResponse,
        body: Bytes,
    ) -> State {
        let result = parsed.result.unwrap_or_default();
        let Some(sample_url) = result.sample.clone() else {
            // A Ready without a sample is unusable; ask again rather than lose the image.
            let max = self.cfg.retry.max_consecutive_failures;
            if self.try_retry(
                now,
                None,
                Phase::Poll,
                max,
                "Ready without result.sample".into(),
            ) {
                return State::Poll(task);
            }
            return State::Finished(Err(TaskError::MalformedResponse {
                task: Some(task.task),
                phase: Phase::Poll,
                reason: format!(
                    "status Ready without result.sample in {} answers in a row",
                    self.failures
                ),
                raw: body,
            }));
        };
        let since_submit = now.instant.saturating_duration_since(self.submitted_at);
        self.report.time_to_ready = Some(since_submit);
        self.last_status = Some(Status::Ready);
        self.events.push_back(TaskEvent::Polled {
            status: Status::Ready,
            progress: parsed.progress,
            next_in: None,
            hinted: false,
        });
        self.events.push_back(TaskEvent::Terminal(Status::Ready));
        // The URL dies `lifetime` after end_time; without end_time, count from this first sight.
        let lifetime = self.cfg.result_url_lifetime.as_secs_f64();
        let seen = now.unix_secs() + lifetime;
        let expires_at = result
            .end_time
            .map_or(seen, |end| (end + lifetime).min(seen));
        if self.saw_submit {
            let submit_unix = Now {
                instant: now.instant,
                wall: self.submitted_wall,
            }
            .unix_secs();
            self.observation = Some(Box::new(TaskObservation {
                model: self.model.clone(),
                last_pending_after: self.last_pending_after,
                ready_seen_after: since_submit,
                server_ready_after: result
                    .end_time
                    .and_then(|end| Duration::try_from_secs_f64(end - submit_unix).ok()),
                server_duration: result
                    .duration
                    .and_then(|d| Duration::try_from_secs_f64(d).ok()),
                polls: self.report.polls,
            }));
        }
        let ready = ReadyTask {
            task: task.task,
            model: task.model,
            result,
            sample_url,
            expires_at,
        };
        if self.stop_after == StopAfter::Ready {
            return State::Finished(Ok(Finished::Ready(ready)));
        }
        self.next_send_at = now.instant;
        State::Download(ready)
    }

    fn on_download_answer(&mut self, now: Now, ready: ReadyTask, resp: Response<Bytes>) -> State {
        let status = resp.status();
        match classify(status) {
            Verdict::Success => self.on_downloaded(now, ready, resp),
            Verdict::RateLimited | Verdict::ServerFault => {
                let max = self.cfg.retry.max_consecutive_failures;
                let hint = retry_after(resp.headers(), now.wall);
                if self.try_retry(
                    now,
                    hint,
                    Phase::Download,
                    max,
                    format!("HTTP {}", status.as_u16()),
                ) {
                    return State::Download(ready);
                }
                State::Finished(Err(TaskError::Server {
                    task: Some(ready.task),
                    phase: Phase::Download,
                    status: status.as_u16(),
                    attempts: self.failures,
                    raw: resp.into_body(),
                }))
            }
            Verdict::Final => {
                // A signed URL that is refused near or past its expiry has expired; allow a
                // little clock skew between us and the server.
                const SKEW: f64 = 30.0;
                let refused = matches!(status.as_u16(), 403 | 404 | 410);
                if refused && now.unix_secs() >= ready.expires_at - SKEW || status.as_u16() == 410 {
                    State::Finished(Err(TaskError::ResultExpired {
                        task: ready.task,
                        expired_at: ready.expires_at,
                    }))
                } else {
                    State::Finished(Err(TaskError::DownloadRejected {
                        task: ready.task,
                        status: status.as_u16(),
                        raw: resp.into_body(),
                    }))
                }
            }
        }
    }

    /// A `200` to the download: the image if its body is one, else a retry (or, past the cap, a
    /// retryable failure that still names the task).
    fn on_downloaded(&mut self, now: Now, ready: ReadyTask, resp: Response<Bytes>) -> State {
        let (parts, body) = resp.into_parts();
        let checked = match parts.extensions.get::<DownloadedFile>() {
            // The transport checked the bytes before the file got its name.
            Some(f) if f.len == 0 => Err(BadImage::Empty),
            Some(f) => Ok((Image::File(f.clone()), f.format)),
            None => check_image(&body, body.len() as u64, declared_length(&parts.headers))
                .map(|format| (Image::Memory(body), Some(format))),
        };
        match checked {
            Ok((image, format)) => {
                if let (Some(got), Some(asked)) = (format, self.expected_format) {
                    if got != asked {
                        tracing::info!(id = %ready.task.id, %asked, %got, "the image is not in the requested format; kept as delivered");
                    }
                }
                State::Finished(Ok(Finished::Downloaded(TaskOutput { ready, image })))
            }
            Err(bad) => {
                let max = self.cfg.retry.max_consecutive_failures;
                if self.try_retry(now, None, Phase::Download, max, bad.to_string()) {
                    return State::Download(ready);
                }
                State::Finished(Err(TaskError::Transport {
                    task: Some(ready.task),
                    phase: Phase::Download,
                    attempts: self.failures,
                    source: TransportError::BadImage(bad),
                }))
            }
        }
    }

    // ---- scheduling -------------------------------------------------------------------------

    /// Records a not-yet-ready poll and schedules the next; `None` if the strategy gave up.
    fn after_pending_poll(
        &mut self,
        now: Now,
        status: Status,
        progress: Option<f64>,
        seen: bool,
    ) -> Option<Duration> {
        let since = now.instant.saturating_duration_since(self.submitted_at);
        self.last_pending_after = Some(since);
        self.last_status = Some(status.clone());
        self.last_progress = progress;
        let next = self.schedule_poll(now);
        if seen {
            self.events.push_back(TaskEvent::Polled {
                status,
                progress,
                next_in: next,
                hinted: false,
            });
        }
        next
    }

    /// After scheduling: keep polling, unless the strategy or the poll cap said stop.
    fn poll_or_give_up(&mut self, task: SubmittedTask, next: Option<Duration>) -> State {
        match next {
            Some(_) => State::Poll(task),
            None => State::Finished(Err(TaskError::GaveUp {
                task: task.task,
                polls: self.report.polls,
            })),
        }
    }

    /// Asks the strategy for the next poll; returns the wait, or `None` if it gave up.
    fn schedule_poll(&mut self, now: Now) -> Option<Duration> {
        let ctx = PollContext {
            model: &self.model,
            polls: self.report.polls,
            since_submit: now.instant.saturating_duration_since(self.submitted_at),
            last_status: self.last_status.as_ref(),
            progress: self.last_progress,
            contended: self.contended,
        };
        let delay = if self.report.polls >= self.cfg.max_polls {
            None
        } else {
            self.strategy.next_delay(&ctx, &mut self.rng)
        };
        match delay {
            Some(d) => {
                self.next_send_at = clamp_to(now.instant, d, self.deadline_at);
                Some(d)
            }
            None => None,
        }
    }

    fn rate_limited(
        &mut self,
        now: Now,
        resp: Response<Bytes>,
        phase: Phase,
        keep: State,
    ) -> State {
        self.report.rate_limited += 1;
        self.rate_limited += 1;
        if self.rate_limited > MAX_RATE_LIMITED {
            return State::Finished(Err(TaskError::RateLimited {
                task: self.task_ref_of(&keep),
                phase,
                attempts: self.rate_limited,
                raw: resp.into_body(),
            }));
        }
        let hint = retry_after(resp.headers(), now.wall);
        let unit = self.rng.random::<f64>();
        let wait = match hint {
            Some(h) => self.cfg.retry.hinted(h, unit),
            None => self.cfg.retry.backoff(self.rate_limited, unit),
        };
        self.next_send_at = clamp_to(now.instant, wait, self.deadline_at);
        self.events.push_back(TaskEvent::RateLimited {
            phase,
            retry_in: wait,
            hinted: hint.is_some(),
        });
        keep
    }

    /// Counts a failure and schedules a retry if the per-request cap and the shared budget allow.
    fn try_retry(
        &mut self,
        now: Now,
        hint: Option<Duration>,
        phase: Phase,
        max: u32,
        reason: String,
    ) -> bool {
        self.failures += 1;
        if self.failures > max {
            return false;
        }
        // An empty shared budget stops retried submits, but never abandons a task already paid
        // for: its polls and download go on at the slowest backoff, bounded by the deadline.
        let budgeted = self.cfg.budget.try_retry();
        if !budgeted && phase == Phase::Submit {
            return false;
        }
        self.report.retries += 1;
        let unit = self.rng.random::<f64>();
        let wait = match hint {
            Some(h) => self.cfg.retry.hinted(h, unit),
            None if budgeted => self.cfg.retry.backoff(self.failures, unit),
            None => self.cfg.retry.backoff(STARVED_ATTEMPT, unit),
        };
        self.next_send_at = clamp_to(now.instant, wait, self.deadline_at);
        self.events.push_back(TaskEvent::Retrying {
            phase,
            reason,
            retry_in: wait,
        });
        true
    }

    fn reset_failures(&mut self) {
        self.failures = 0;
        self.rate_limited = 0;
    }

    fn max_failures(&self, phase: Phase) -> u32 {
        match phase {
            Phase::Submit => self.cfg.retry.max_submit_failures,
            _ => self.cfg.retry.max_consecutive_failures,
        }
    }

    fn finish(&mut self, result: Result<Finished, TaskError>) {
        self.in_flight = None;
        self.state = State::Finished(result);
    }

    /// The task with a polling URL the key may go to: its own, or — when its host is not one of
    /// the configured API hosts (a proxy, a new BFL host, another spelling of the base) — the task
    /// polled by id at the configured API host. A paid task is never abandoned for its polling
    /// host, and the key never follows a foreign URL.
    fn admit_polling_url(&self, mut task: SubmittedTask) -> Result<SubmittedTask, TaskError> {
        let url = &task.task.polling_url;
        let allowed = url
            .parse::<Uri>()
            .is_ok_and(|uri| self.cfg.key_policy.allows(&uri));
        if allowed {
            return Ok(task);
        }
        if task.task.id.is_empty() {
            return Err(TaskError::MalformedResponse {
                task: Some(task.task.clone()),
                phase: Phase::Submit,
                reason: "a task without an id, on a polling host the key may not go to".into(),
                raw: Bytes::new(),
            });
        }
        tracing::warn!(
            id = ?task.task.id,
            polling_url = ?url,
            "the polling URL's host may not receive the key: polling the task by id at the API host"
        );
        task.task.polling_url = self.cfg.polling_url_by_id(&task.task.id);
        Ok(task)
    }

    fn deadline_error(&self) -> TaskError {
        let (task, phase) = match &self.state {
            State::Submit(_) => (None, Phase::Submit),
            State::Poll(t) => (Some(t.task.clone()), Phase::Poll),
            State::Download(r) => (Some(r.task.clone()), Phase::Download),
            State::Finished(_) => (self.task_ref(), Phase::Poll),
        };
        TaskError::DeadlineExceeded {
            task,
            phase,
            deadline: self.cfg.deadline,
            last_status: self.last_status.clone(),
        }
    }

    fn malformed(&self, phase: Phase, reason: &str) -> TaskError {
        TaskError::MalformedResponse {
            task: self.task_ref(),
            phase,
            reason: reason.into(),
            raw: Bytes::new(),
        }
    }

    fn task_ref_of(&self, state: &State) -> Option<TaskRef> {
        match state {
            State::Poll(t) => Some(t.task.clone()),
            State::Download(r) => Some(r.task.clone()),
            _ => None,
        }
    }
}

/// A `Ready` answer with no `result.sample` to download.
fn is_ready_without_sample(parsed: &PollResponse) -> bool {
    parsed.status == Status::Ready && parsed.result.as_ref().is_none_or(|r| r.sample.is_none())
}

fn clamp_to(now: Instant, wait: Duration, deadline: Instant) -> Instant {
    now.checked_add(wait).map_or(deadline, |t| t.min(deadline))
}

fn phase_of(kind: RequestKind) -> Phase {
    match kind {
        RequestKind::Submit => Phase::Submit,
        RequestKind::Download => Phase::Download,
        _ => Phase::Poll,
    }
}

fn validation(detail: String) -> TaskError {
    TaskError::Validation {
        detail: Some(detail),
        raw: Bytes::new(),
    }
}

/// A model id must be one plain path segment.
fn check_model_id(model: &str) -> Result<(), TaskError> {
    let ok = !model.is_empty()
        && model
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(validation(format!(
            "model id {model:?} is not a plain path segment (letters, digits, '-', '_', '.')"
        )))
    }
}

/// 400, 401, 402, 403, 422 and other final answers, with the server's detail.
fn final_error(task: Option<TaskRef>, phase: Phase, resp: Response<Bytes>) -> TaskError {
    let status = resp.status().as_u16();
    let raw = resp.into_body();
    let detail = ErrorBody::parse(&raw).summary();
    match status {
        401 | 403 => TaskError::Unauthorized {
            status,
            detail,
            raw,
        },
        402 => TaskError::InsufficientCredits { detail, raw },
        422 => TaskError::Validation { detail, raw },
        _ => TaskError::BadRequest {
            task,
            phase,
            status,
            detail,
            raw,
        },
    }
}
