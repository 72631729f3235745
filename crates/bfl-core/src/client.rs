//! The client: the only code with `.await` — a short loop that runs a [`TaskMachine`] over a
//! [`Transport`] and a [`Runtime`].

use crate::api::GenerationRequest;
use crate::auth::{ApiKey, InvalidKey, KeyPolicy};
use crate::budget::{BudgetConfig, Budgeted, InvalidBudget, RequestBudget};
use crate::error::{Phase, TaskError};
use crate::limiter::{ActiveLimiter, Slot};
use crate::machine::classify::{classify, Answer, Decision, Sent};
use crate::machine::retry::{RetryBudget, RetryPolicy};
use crate::machine::{Action, EngineConfig, Job, Start, StopAfter, TaskEvent, TaskMachine};
use crate::observe::Hooks;
use crate::observe::RecordError;
use crate::rt::{Now, Runtime};
use crate::strategy::{default_strategy, StrategyFactory};
use crate::task::{Finished, ReadyTask, SubmittedTask, TaskOutcome, TaskOutput};
use crate::transport::{RequestKind, Transmit, Transport};
use crate::webhook::{self, HintInbox, WebhookRouter, Webhooks};
use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument;

/// The default API base.
const DEFAULT_BASE_URL: &str = "https://api.bfl.ai";

/// Runs one machine to its end.
///
/// `slots`, when given, is the active-task limiter: a slot is taken before each submit (unless
/// `slot` already holds one) and held until the task is terminal; a 429 on submit gives it back
/// (shrinking the limit). Every event goes to `hooks.observer`, awaited: the submit is not sent
/// until its [`TaskEvent::Submitting`] is recorded, nor the first poll until
/// [`TaskEvent::Submitted`] is.
///
/// `hints`, when given, is the task's webhook inbox: a delivery cuts a wait short and reaches
/// the machine as a hint ([`TaskMachine::on_hint`]).
#[allow(clippy::manual_async_fn)] // an `async fn` keeps every argument twice in its future
pub(crate) fn drive_with_hints<'a>(
    machine: &'a mut TaskMachine,
    transport: &'a dyn Transport,
    runtime: &'a dyn Runtime,
    slots: Option<&'a Arc<ActiveLimiter>>,
    mut slot: Option<Slot>,
    hooks: Hooks<'a>,
    mut hints: Option<&'a mut HintInbox>,
) -> impl Future<Output = TaskOutcome> + Send + 'a {
    // An `async` block, not an `async fn`: that would keep every argument twice in the
    // future, and this future is part of every task's.
    async move {
        // A task's first request, and each after a wait, is built once the transport has room for
        // it: a burst queued behind the transport's bound then holds no requests.
        let mut await_room = true;
        loop {
            if await_room {
                transport.ready().await;
            }
            // While this task holds a slot others wait for, its detection lag delays them too.
            let contended = slot.is_some() && slots.is_some_and(|l| l.has_waiters());
            machine.set_contended(contended);
            // Only what the step needs is kept across its awaits, not the whole `Action`; the
            // request boxed, so a task that sleeps or waits keeps 16 bytes for it, not 512.
            let step = match machine.next_action(Now::of(runtime)) {
                Action::Send(transmit) => Ok(Box::new(transmit)),
                Action::Wait(until) => Err(until),
                Action::Done(outcome) => return outcome,
            };
            await_room = step.is_err();
            match step {
                Ok(transmit) => {
                    let is_submit = transmit.kind == RequestKind::Submit;
                    if is_submit && slot.is_none() {
                        if let Some(limiter) = slots {
                            slot = Some(limiter.acquire().await);
                        }
                    }
                    if is_submit && hooks.halt.is_some_and(|h| h.load(Ordering::Acquire)) {
                        return not_submitted(machine, HALTED.into());
                    }
                    // `Submitting` comes with the submit's `Send`: the caller sees it once a slot is
                    // held and just before the POST leaves, so a journal can mark the ambiguous window.
                    if let Err(e) = drain_events(machine, &mut slot, hooks).await {
                        if is_submit {
                            return not_submitted(
                                machine,
                                format!("not sent, as it could not be recorded: {e}"),
                            );
                        }
                    }
                    let Transmit {
                        request,
                        download_to,
                        ..
                    } = unbox(transmit);
                    let answer = match download_to {
                        Some(path) => transport.download_to(request, &path).await,
                        None => {
                            // The request moves into the transport's future before the await.
                            let sending = transport.send(request);
                            sending.await
                        }
                    };
                    let now = Now::of(runtime);
                    match answer {
                        Ok(resp) => machine.on_response(now, resp),
                        Err(err) => machine.on_transport_error(now, err),
                    }
                }
                Err(until) => match hints.as_deref_mut() {
                    Some(inbox) => webhook::wait_for_hint(machine, runtime, until, inbox).await,
                    None => runtime.sleep_until(until).await,
                },
            }
            // A failed record after the submit leaves a paid task: it is driven on regardless (the
            // halt flag, raised, keeps other tasks from paying).
            let _ = drain_events(machine, &mut slot, hooks).await;
        }
    }
}

/// The value of `boxed`, its box freed now (`*boxed` on a binding frees it only when the
/// binding goes out of scope: in a future, when the future ends).
#[allow(clippy::boxed_local)] // the point: the box is taken, and freed, here
fn unbox<T>(boxed: Box<T>) -> T {
    *boxed
}

/// Why a halted batch sends no more submits.
const HALTED: &str = "the batch was stopped before this job was submitted";

fn not_submitted(machine: &TaskMachine, reason: String) -> TaskOutcome {
    TaskOutcome {
        result: Err(TaskError::not_submitted(reason)),
        report: machine.report().clone(),
    }
}

/// Hands the machine's pending events to the observer, in order and awaited, keeping the
/// active-task slot in step. Every event is delivered; the first record failure is returned (and
/// raises the halt flag).
///
/// (An `async` block rather than an `async fn`, which would keep its arguments twice, and one
/// event at a time: its future is part of every task's.)
#[allow(clippy::manual_async_fn)] // an `async fn` keeps every argument twice in its future
fn drain_events<'a>(
    machine: &'a mut TaskMachine,
    slot: &'a mut Option<Slot>,
    hooks: Hooks<'a>,
) -> impl Future<Output = Result<(), RecordError>> + 'a {
    async move {
        let mut first_failure = None;
        // Not `while let`: its scrutinee would be kept across the await beside `event`.
        #[allow(clippy::while_let_loop)]
        loop {
            let Some(event) = machine.poll_event() else {
                break;
            };
            note_event(&event, slot);
            if let Err(e) = hooks.observer.on_event(&event).await {
                tracing::error!(error = %e, "an event could not be recorded: no further submits");
                if let Some(h) = hooks.halt {
                    h.store(true, Ordering::Release);
                }
                first_failure.get_or_insert(e);
            }
        }
        first_failure.map_or(Ok(()), Err)
    }
}

/// Traces `event` and keeps the active-task slot in step with it.
fn note_event(event: &TaskEvent, slot: &mut Option<Slot>) {
    trace_event(event);
    match event {
        TaskEvent::Submitted(t) => {
            tracing::Span::current().record("id", t.id.as_str());
            if let Some(s) = slot.as_ref() {
                s.accepted();
            }
        }
        TaskEvent::RateLimited {
            phase: Phase::Submit,
            ..
        } => {
            if let Some(s) = slot.take() {
                s.rate_limited();
            }
        }
        TaskEvent::Terminal(_) => *slot = None,
        _ => {}
    }
}

fn trace_event(event: &TaskEvent) {
    match event {
        TaskEvent::Submitting => tracing::debug!("submitting"),
        TaskEvent::Submitted(t) => tracing::info!(id = %t.id, cost = ?t.cost, "submitted"),
        TaskEvent::RateLimited {
            phase,
            retry_in,
            hinted,
        } => tracing::warn!(%phase, ?retry_in, hinted, "rate limited (429)"),
        TaskEvent::Retrying {
            phase,
            reason,
            retry_in,
        } => tracing::warn!(%phase, %reason, ?retry_in, "retrying"),
        TaskEvent::Polled {
            status,
            progress,
            next_in,
        } => tracing::debug!(%status, ?progress, ?next_in, "polled"),
        TaskEvent::Terminal(status) => tracing::info!(%status, "terminal"),
    }
}

/// Why a client could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No API key was given.
    #[error("no API key: set BFL_API_KEY (or pass a key to the builder)")]
    MissingKey,
    /// The key is unusable.
    #[error(transparent)]
    InvalidKey(#[from] InvalidKey),
    /// The base URL does not parse or is not http(s) (shown with any `user:password@` masked).
    #[error("invalid base URL {0:?}: expected e.g. https://api.bfl.ai")]
    InvalidBaseUrl(String),
    /// The base URL carries `user:password@`, which nothing sends and logs would show (the
    /// URL is kept with them masked).
    #[error("the base URL {0} carries a user name or password: bfl sends neither (the key goes in the x-key header), and it would reach logs; remove it")]
    CredentialsInBaseUrl(String),
    /// No transport was given.
    #[error("no transport: use bfl_hyper::HyperTransport, bfl_sim::SimTransport or your own")]
    MissingTransport,
    /// No runtime was given.
    #[error(
        "no runtime: use bfl_hyper::TokioRuntime, the simulator's virtual runtime or your own"
    )]
    MissingRuntime,
    /// The request budget's settings are out of range.
    #[error(transparent)]
    InvalidBudget(#[from] InvalidBudget),
}

/// Builds a [`Client`].
#[derive(Debug, Default)]
pub struct ClientBuilder {
    key: Option<String>,
    base_url: Option<String>,
    transport: Option<Arc<dyn Transport>>,
    runtime: Option<Arc<dyn Runtime>>,
    strategy: Option<Arc<dyn StrategyFactory>>,
    deadline: Option<Duration>,
    seed: u64,
    allowed_key_hosts: Vec<String>,
    retry: Option<RetryPolicy>,
    retry_budget: Option<u32>,
    max_active: Option<usize>,
    not_found_grace: Option<Duration>,
    result_url_lifetime: Option<Duration>,
    webhooks: Option<Webhooks>,
    request_budget: Option<BudgetConfig>,
}

impl ClientBuilder {
    /// The API key.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }
    /// The API base (default `https://api.bfl.ai`; a trailing `/v1` is fine).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }
    /// The transport.
    pub fn transport(mut self, t: Arc<dyn Transport>) -> Self {
        self.transport = Some(t);
        self
    }
    /// The runtime.
    pub fn runtime(mut self, rt: Arc<dyn Runtime>) -> Self {
        self.runtime = Some(rt);
        self
    }
    /// The polling strategy (default: [`default_strategy`]).
    pub fn strategy(mut self, s: Arc<dyn StrategyFactory>) -> Self {
        self.strategy = Some(s);
        self
    }
    /// The most one task may take to be accepted, and again from its acceptance to its image
    /// (default 10 minutes each: a paid task is never cut short by the time its submit took).
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = Some(d);
        self
    }
    /// The seed of every random choice (default 0): same seed, same schedule.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Lets the key go to one more `host[:port]` (e.g. a regional polling host).
    pub fn allow_key_host(mut self, authority: impl Into<String>) -> Self {
        self.allowed_key_hosts.push(authority.into());
        self
    }
    /// Waits between tries.
    pub fn retry_policy(mut self, p: RetryPolicy) -> Self {
        self.retry = Some(p);
        self
    }
    /// The shared retry budget's capacity in tokens (default 500; a retry costs 5).
    pub fn retry_budget(mut self, tokens: u32) -> Self {
        self.retry_budget = Some(tokens);
        self
    }
    /// The most tasks in flight per limit class. Default: the limit BFL documents for the model
    /// (24; 6 for `flux-kontext-max`), never exceeded. A larger value starts there and learns the
    /// real limit from 429s.
    pub fn max_active(mut self, n: usize) -> Self {
        self.max_active = Some(n);
        self
    }
    /// How long after a submit a not-found answer counts as "not visible yet" (default 5 s).
    pub fn not_found_grace(mut self, d: Duration) -> Self {
        self.not_found_grace = Some(d);
        self
    }

    /// How long a result URL lives after the generation's `end_time` (default 10 minutes, as on
    /// BFL's API; a simulator may use less).
    pub fn result_url_lifetime(mut self, d: Duration) -> Self {
        self.result_url_lifetime = Some(d);
        self
    }

    /// Asks the API to POST each task's outcome to `public_url` (the root at which `router`'s
    /// receiver is reachable, e.g. `bfl_hyper::WebhookReceiver`); each task gets a fresh secret,
    /// treats a verified delivery as a hint to confirm with one poll, and meanwhile polls on a
    /// sparse fallback schedule ([`webhook::Fallback`]). Opt a job out with
    /// [`Client::polling_only`].
    pub fn webhooks(mut self, router: WebhookRouter, public_url: impl AsRef<str>) -> Self {
        self.webhooks = Some(Webhooks::new(router, public_url.as_ref()));
        self
    }

    /// The polling schedule of tasks that expect a webhook (after [`ClientBuilder::webhooks`]).
    pub fn webhook_fallback(mut self, fallback: Arc<dyn StrategyFactory>) -> Self {
        self.webhooks = self.webhooks.map(|w| w.with_fallback(fallback));
        self
    }

    /// Caps the requests the client sends with its key, across all its tasks: e.g. `48.0`
    /// (2 a second per active slot of a 24-task key), or a [`BudgetConfig`] with a burst. Off
    /// by default. See [`crate::budget`] for what counts and which request goes first.
    pub fn request_budget(mut self, budget: impl Into<BudgetConfig>) -> Self {
        self.request_budget = Some(budget.into());
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client, BuildError> {
        let key = ApiKey::new(self.key.ok_or(BuildError::MissingKey)?)?;
        let base_str = self.base_url.unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        if let Some(masked) = crate::sanitize::mask_userinfo(&base_str) {
            return Err(BuildError::CredentialsInBaseUrl(masked));
        }
        let base: http::Uri = base_str
            .parse()
            .ok()
            .filter(|u: &http::Uri| {
                matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some()
            })
            .ok_or_else(|| BuildError::InvalidBaseUrl(base_str.clone()))?;
        let mut config = EngineConfig::new(base, key);
        let mut policy = KeyPolicy::for_base(&config.base);
        for host in self.allowed_key_hosts {
            policy = policy.allow(host);
        }
        config.key_policy = policy;
        if let Some(d) = self.deadline {
            config.deadline = d;
        }
        if let Some(r) = self.retry {
            config.retry = r;
        }
        if let Some(b) = self.retry_budget {
            config.budget = Arc::new(RetryBudget::new(b));
        }
        if let Some(g) = self.not_found_grace {
            config.not_found_grace = g;
        }
        if let Some(l) = self.result_url_lifetime {
            config.result_url_lifetime = l;
        }
        let mut transport = self.transport.ok_or(BuildError::MissingTransport)?;
        let runtime = self.runtime.ok_or(BuildError::MissingRuntime)?;
        let request_budget = match self.request_budget {
            Some(c) => Some(Arc::new(RequestBudget::new(c)?)),
            None => None,
        };
        if let Some(budget) = &request_budget {
            tracing::info!(
                per_second = budget.config().rate(),
                burst = budget.config().burst_size(),
                "request budget"
            );
            let policy = config.key_policy.clone();
            let budgeted =
                Budgeted::new(transport, Arc::clone(budget), Arc::clone(&runtime), policy);
            transport = Arc::new(budgeted);
        }
        Ok(Client {
            inner: Arc::new(Inner {
                config: Arc::new(config),
                transport,
                runtime,
                request_budget,
                strategy: self.strategy.unwrap_or_else(default_strategy),
                seed: self.seed,
                next_task: AtomicU64::new(0),
                max_active: self.max_active,
                limiters: Mutex::new(HashMap::new()),
                webhooks: self.webhooks,
            }),
            use_webhooks: true,
        })
    }
}

struct Inner {
    config: Arc<EngineConfig>,
    transport: Arc<dyn Transport>,
    runtime: Arc<dyn Runtime>,
    strategy: Arc<dyn StrategyFactory>,
    seed: u64,
    next_task: AtomicU64,
    max_active: Option<usize>,
    limiters: Mutex<HashMap<usize, Arc<ActiveLimiter>>>,
    webhooks: Option<Webhooks>,
    request_budget: Option<Arc<RequestBudget>>,
}

/// A BFL API client. Cheap to clone; share it between tasks.
///
/// ```
/// # use bfl_core::{Client, GenerationRequest};
/// # async fn demo(client: Client) -> Result<(), bfl_core::TaskError> {
/// let out = client
///     .generate(GenerationRequest::new("flux-2-pro", "a red fox in snow").seed(7))
///     .await?;
/// println!("{} bytes from {}", out.image.len(), out.ready.task.id);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    use_webhooks: bool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.inner.config.base.to_string())
            .field("key", &self.inner.config.key)
            .field("strategy", &self.inner.strategy.name())
            .finish()
    }
}

impl Client {
    /// A builder.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The same client (limiters, strategy, seed sequence shared) with webhooks off: the per-job
    /// opt-out, e.g. `client.polling_only().generate(req)`.
    pub fn polling_only(&self) -> Client {
        Client {
            inner: Arc::clone(&self.inner),
            use_webhooks: false,
        }
    }

    /// The webhook settings, when this client uses them.
    pub fn webhooks(&self) -> Option<&Webhooks> {
        self.inner.webhooks.as_ref().filter(|_| self.use_webhooks)
    }

    /// The engine settings.
    pub fn config(&self) -> &Arc<EngineConfig> {
        &self.inner.config
    }

    /// The strategy factory.
    pub fn strategy(&self) -> &Arc<dyn StrategyFactory> {
        &self.inner.strategy
    }

    /// The runtime.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.inner.runtime
    }

    /// The limiter for `model`'s limit class (one per documented limit: 24 or 6).
    pub(crate) fn limiter(&self, model: &str) -> Arc<ActiveLimiter> {
        let known = crate::api::known_active_limit(model);
        let mut map = self
            .inner
            .limiters
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        Arc::clone(
            map.entry(known)
                .or_insert_with(|| match self.inner.max_active {
                    // Above the documented limit, start at it and probe upward (slow start).
                    Some(n) => ActiveLimiter::with_ceiling(n.min(known), n),
                    None => ActiveLimiter::new(known),
                }),
        )
    }

    /// The request budget, when one was set ([`ClientBuilder::request_budget`]).
    pub fn request_budget(&self) -> Option<&Arc<RequestBudget>> {
        self.inner.request_budget.as_ref()
    }

    /// The client's seed.
    pub fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// The most tasks a limit class may have in flight (for sizing batches).
    pub fn max_active_hint(&self) -> usize {
        self.inner
            .max_active
            .unwrap_or(crate::api::DEFAULT_ACTIVE_LIMIT)
    }

    /// Runs a job to its end with a seed of its own and hooks.
    pub fn run_hooked<'a>(
        &'a self,
        job: Job,
        seed: u64,
        hooks: Hooks<'a>,
    ) -> impl std::future::Future<Output = TaskOutcome> + Send + 'a {
        let inner = &self.inner;
        let model = job.model().to_owned();
        // A resumed task is as active on the server as a new one: it holds its slot too, so a
        // resume never submits beside tasks still running.
        let limiter = match job.start {
            Start::Submit(_) | Start::Poll(_) => Some(self.limiter(&model)),
            Start::Download(_) => None,
        };
        let resumed = matches!(job.start, Start::Poll(_));
        let (job, inbox) = webhook::attach(self.webhooks(), job);
        let factory = match (&inbox, self.webhooks()) {
            (Some(_), Some(w)) => w.fallback(),
            _ => &inner.strategy,
        };
        let (strategy, strategy_name) = (factory.new_task(&model), factory.name());
        let span = tracing::info_span!("task", model = %model, id = tracing::field::Empty);
        // Boxed until the machine takes them: the task's future (most of its memory while it
        // polls) keeps a pointer rather than a copy of the job beside the machine. (A future
        // keeps room for what it captured as long as it lives.)
        let parts = Box::new((job, strategy, strategy_name, seed, hooks));
        let mut inbox = inbox.map(Box::new);
        async move {
            // The task's deadline starts once it holds a slot: waiting for one, behind the rest
            // of a batch, is not the task taking long.
            let slot = match &limiter {
                Some(l) => {
                    let slot = l.acquire().await;
                    if resumed {
                        slot.accepted(); // the server holds it already
                    }
                    Some(slot)
                }
                None => None,
            };
            // Moved out of the capture, so the box is freed here, not when the task ends.
            let (job, strategy, strategy_name, seed, hooks) = unbox(parts);
            let mut machine = TaskMachine::new(
                Arc::clone(&inner.config),
                job,
                strategy,
                strategy_name,
                seed,
                Now::of(&*inner.runtime),
            );
            let outcome = drive_with_hints(
                &mut machine,
                &*inner.transport,
                &*inner.runtime,
                limiter.as_ref(),
                slot,
                hooks,
                inbox.as_deref_mut(),
            )
            .await;
            if let Some(obs) = machine.observation() {
                inner.strategy.observe(obs);
            }
            match &outcome.result {
                Ok(_) => tracing::info!(polls = outcome.report.polls, "done"),
                Err(e) => tracing::warn!(kind = %e.kind(), error = %e, "failed"),
            }
            outcome
        }
        .instrument(span)
    }

    /// Runs a job to its end (the next seed of the client's sequence).
    pub fn run(&self, job: Job) -> impl std::future::Future<Output = TaskOutcome> + Send + '_ {
        self.run_hooked(job, self.next_task_seed(), Hooks::none())
    }

    /// The seed of the next task of the client's sequence (what [`Client::run`] gives a job):
    /// for [`Client::run_hooked`], so a hooked job's schedule is the one it would have had.
    pub fn next_task_seed(&self) -> u64 {
        let n = self.inner.next_task.fetch_add(1, Ordering::Relaxed);
        task_seed(self.inner.seed, n)
    }

    /// Submits a generation; returns once the server accepted it.
    pub async fn submit(&self, req: GenerationRequest) -> Result<SubmittedTask, TaskError> {
        let job = Job {
            start: Start::Submit(req),
            stop_after: StopAfter::Submitted,
            download_to: None,
        };
        match self.run(job).await.result? {
            Finished::Submitted(t) => Ok(t),
            other => Err(TaskError::unexpected(Phase::Submit, other)),
        }
    }

    /// Polls a submitted task until it is `Ready` (or fails).
    pub async fn poll(&self, task: &SubmittedTask) -> Result<ReadyTask, TaskError> {
        let job = Job {
            start: Start::Poll(task.clone()),
            stop_after: StopAfter::Ready,
            download_to: None,
        };
        match self.run(job).await.result? {
            Finished::Ready(r) => Ok(r),
            other => Err(TaskError::unexpected(Phase::Poll, other)),
        }
    }

    /// Downloads a ready task's image, to memory or streamed to `dest`.
    pub async fn download(
        &self,
        ready: &ReadyTask,
        dest: Option<&Path>,
    ) -> Result<TaskOutput, TaskError> {
        let job = Job {
            start: Start::Download(ready.clone()),
            stop_after: StopAfter::Downloaded,
            download_to: dest.map(Path::to_path_buf),
        };
        downloaded(self.run(job).await)
    }

    /// Submits, polls and downloads to memory.
    pub async fn generate(&self, req: GenerationRequest) -> Result<TaskOutput, TaskError> {
        downloaded(self.run(Job::generate(req)).await)
    }

    /// Submits, polls and streams the image to `dest`.
    pub async fn generate_to_file(
        &self,
        req: GenerationRequest,
        dest: &Path,
    ) -> Result<TaskOutput, TaskError> {
        downloaded(self.run(Job::generate(req).to_file(dest)).await)
    }

    /// Picks up a task submitted earlier (by id and polling URL): polls it and downloads it.
    pub async fn resume(
        &self,
        id: impl Into<String>,
        polling_url: impl Into<String>,
    ) -> Result<TaskOutput, TaskError> {
        downloaded(
            self.run(Job::resume(SubmittedTask::known_as(id, polling_url)))
                .await,
        )
    }

    /// Like [`Client::resume`], streaming the image to `dest`.
    pub async fn resume_to_file(
        &self,
        id: impl Into<String>,
        polling_url: impl Into<String>,
        dest: &Path,
    ) -> Result<TaskOutput, TaskError> {
        let job = Job::resume(SubmittedTask::known_as(id, polling_url)).to_file(dest);
        downloaded(self.run(job).await)
    }

    /// The key's remaining credits.
    pub async fn credits(&self) -> Result<f64, TaskError> {
        let cfg = &self.inner.config;
        let req = cfg.api_get(
            "credits",
            RequestKind::Credits,
            Some(Duration::from_secs(30)),
        );
        let resp = self
            .inner
            .transport
            .send(req)
            .await
            .map_err(|source| TaskError::transport(None, Phase::Credits, 1, source))?;
        let resp = resp.map(|body| crate::sanitize::redact_key(body, cfg.key.expose()));
        // One try: a caller asking for credits decides for itself whether to ask again.
        match classify(Sent::Credits, resp, Now::of(&*self.inner.runtime)) {
            Decision::Proceed(Answer::Credits(credits)) => Ok(credits),
            Decision::Retry(retry) => Err(retry.into_error(None, Phase::Credits, 1)),
            Decision::Forbid(e) => Err(e),
            Decision::Proceed(other) => Err(TaskError::unexpected(Phase::Credits, other)),
        }
    }
}

/// The seed of task `n` of a client seeded with `seed` (SplitMix64: distinct, well-mixed streams).
pub(crate) fn task_seed(seed: u64, n: u64) -> u64 {
    use crate::stats::{splitmix64, GOLDEN_GAMMA};
    splitmix64(seed.wrapping_add(n.wrapping_add(1).wrapping_mul(GOLDEN_GAMMA)))
}

pub(crate) fn downloaded(outcome: TaskOutcome) -> Result<TaskOutput, TaskError> {
    match outcome.result? {
        Finished::Downloaded(o) => Ok(o),
        other => Err(TaskError::unexpected(Phase::Download, other)),
    }
}
