//! The sans-IO task machine: submit → poll → download, as decisions over time-stamped events.
//!
//! The machine never reads a clock, sleeps or sends. A driver feeds it what happened, stamped with
//! [`Now`], and asks it what to do next:
//!
//! ```text
//! loop {
//!     match machine.next_action(now) {
//!         Action::Send(t) => match transport.send(t.request).await {
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
//!
//! The rooms: [`TaskMachine`] here keeps where a task is (its state, moved from stage to stage);
//! `core` the rest of it (settings, strategy, counters, the scheduling of the next request);
//! `request` builds what goes on the wire; [`classify`] turns each answer into a
//! [`Decision`](classify::Decision) that `answer` acts on; [`retry`] holds the backoff policy and
//! the shared retry budget; [`Job`] says where a task starts and stops.

mod answer;
pub mod classify;
mod config;
mod core;
mod event;
mod job;
mod request;
pub mod retry;

pub use crate::rt::Now;
pub use config::{EngineConfig, DEFAULT_NOT_FOUND_GRACE};
pub use event::{Action, TaskEvent};
pub use job::{Job, Start, StopAfter};
pub use request::USER_AGENT;

use self::core::Core;
use crate::api::GenerationRequest;
use crate::error::{Phase, TaskError};
use crate::strategy::{PollStrategy, TaskObservation};
use crate::task::{Finished, ReadyTask, SubmittedTask, TaskOutcome, TaskReport};
use crate::transport::{RequestKind, Transmit, TransportError};
use bytes::Bytes;
use http::Response;
use std::sync::Arc;

/// The most hints of one task that may bring a poll forward.
const MAX_HINT_POLLS: u32 = 3;

/// Where a task is; each stage owns what its next request needs.
enum State {
    Submit(GenerationRequest),
    Poll(SubmittedTask),
    Download(ReadyTask),
    Finished(Result<Finished, TaskError>),
}

/// What an answer does to the state: nothing (the same request again, or the next poll), or a
/// move to another stage.
#[expect(
    clippy::large_enum_variant,
    reason = "returned once per answer and moved into place; a box would allocate per transition"
)]
enum Next {
    Stay,
    Go(State),
}

/// The task ends with `error`.
fn fail(error: TaskError) -> Next {
    Next::Go(State::Finished(Err(error)))
}

/// The task ends with what it was asked for.
fn done(finished: Finished) -> Next {
    Next::Go(State::Finished(Ok(finished)))
}

/// One task's decisions. See the module docs for the driving contract.
pub struct TaskMachine {
    state: State,
    core: Core,
}

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
        let mut core = Core::new(cfg, &job, strategy, strategy_name, seed, now);
        let state = match job.start {
            Start::Submit(req) => match request::check_model_id(req.model()) {
                Ok(()) => State::Submit(req),
                Err(e) => State::Finished(Err(e)),
            },
            Start::Poll(task) => match request::admit_polling_url(&core.cfg, task) {
                Ok(task) => core.polling(now, task),
                Err(e) => State::Finished(Err(e)),
            },
            Start::Download(ready) => State::Download(ready),
        };
        TaskMachine { state, core }
    }

    /// Tells the machine whether other jobs wait for an active slot (the driver knows, from the
    /// limiter); strategies see it in [`PollContext::contended`](crate::strategy::PollContext).
    pub fn set_contended(&mut self, contended: bool) {
        self.core.set_contended(contended);
    }

    /// What to do now.
    pub fn next_action(&mut self, now: Now) -> Action {
        let core = &mut self.core;
        if let State::Finished(result) = &self.state {
            let mut report = core.report.clone();
            report.elapsed = now.instant.saturating_duration_since(core.started);
            return Action::Done(TaskOutcome {
                result: result.clone(),
                report,
            });
        }
        if core.in_flight.is_some() {
            // The driver asked early; the answer is still owed.
            return Action::Wait(core.deadline_at);
        }
        if now.instant >= core.deadline_at {
            let err = self.deadline_error();
            self.finish(Err(err));
            return self.next_action(now);
        }
        if now.instant < core.next_send_at {
            return Action::Wait(core.next_send_at.min(core.deadline_at));
        }
        // A finished state answers `Done` on the next call.
        let Some(req) = self.request(now) else {
            return self.next_action(now);
        };
        match req {
            Ok(transmit) => {
                self.core.in_flight = Some(transmit.kind);
                Action::Send(transmit)
            }
            Err(e) => {
                self.finish(Err(e));
                self.next_action(now)
            }
        }
    }

    /// The request of the current stage (counted in the report); none once finished.
    fn request(&mut self, now: Now) -> Option<Result<Transmit, TaskError>> {
        let core = &mut self.core;
        let timeout = Some(core.deadline_at.saturating_duration_since(now.instant));
        let (kind, request) = match &self.state {
            State::Submit(req) => {
                core.events.push_back(TaskEvent::Submitting);
                core.report.submits += 1;
                (
                    RequestKind::Submit,
                    request::submit(&core.cfg, req, timeout),
                )
            }
            State::Poll(task) => {
                core.report.polls += 1;
                let req = request::poll(&core.cfg, task, timeout);
                (RequestKind::Poll, req)
            }
            State::Download(ready) if now.unix_secs() >= ready.expires_at => {
                return Some(Err(TaskError::result_expired(
                    ready.task.clone(),
                    ready.expires_at,
                )))
            }
            State::Download(ready) => {
                core.report.downloads += 1;
                let req = request::download(&ready.task, &ready.sample_url, timeout);
                (RequestKind::Download, req)
            }
            State::Finished(_) => return None,
        };
        let download_to = match kind {
            RequestKind::Download => core.download_to.clone(),
            _ => None,
        };
        Some(request.map(|request| Transmit {
            kind,
            request,
            download_to,
        }))
    }

    /// Feeds the answer to the request in flight.
    pub fn on_response(&mut self, now: Now, resp: Response<Bytes>) {
        if self.core.in_flight.take().is_none() {
            return;
        }
        let core = &mut self.core;
        // A server that echoes the key cannot put it in any error, log or journal built from
        // its answer. (Result bytes from the delivery host are not searched.)
        let resp = match &self.state {
            State::Download(_) => resp,
            _ => resp.map(|body| crate::sanitize::redact_key(body, core.cfg.key.expose())),
        };
        let next = match &self.state {
            State::Submit(_) => core.on_submit_answer(now, resp),
            State::Poll(task) => core.on_poll_answer(now, task, resp),
            State::Download(ready) => core.on_download_answer(now, ready, resp),
            State::Finished(_) => Next::Stay,
        };
        if let Next::Go(state) = next {
            self.state = state;
        }
    }

    /// Feeds the failure of the request in flight.
    pub fn on_transport_error(&mut self, now: Now, err: TransportError) {
        let Some(kind) = self.core.in_flight.take() else {
            return;
        };
        let phase = match kind {
            RequestKind::Submit => Phase::Submit,
            RequestKind::Download => Phase::Download,
            _ => Phase::Poll,
        };
        // A submit that may have reached the server is not sent again: that could pay twice.
        let may_retry = err.is_retryable()
            && (phase != Phase::Submit || matches!(err, TransportError::Connect(_)));
        if !may_retry || !self.core.try_retry(now, None, phase, err.to_string()) {
            let task = self.task().cloned();
            let attempts = self.core.failures.max(1);
            self.finish(Err(TaskError::transport(task, phase, attempts, err)));
        }
    }

    /// Feeds a verified webhook delivery. A terminal claim makes the next poll go out now (one
    /// confirming poll; at most three per task); other claims are ignored. Nothing else changes,
    /// so a forged, stale or repeated hint can cost at most a few polls and never end the task.
    /// Ignored outside the poll phase.
    pub fn on_hint(&mut self, now: Now, hint: &crate::webhook::Hint) {
        if !hint.status.is_terminal() {
            return;
        }
        let core = &mut self.core;
        core.report.hints += 1;
        let polling = matches!(self.state, State::Poll(_)) && core.in_flight.is_none();
        if polling && core.report.hints <= MAX_HINT_POLLS {
            core.next_send_at = core.next_send_at.min(now.instant);
        }
    }

    /// The next event, if any. Drain after every `on_*` call.
    pub fn poll_event(&mut self) -> Option<TaskEvent> {
        self.core.events.pop_front()
    }

    /// The report so far.
    pub fn report(&self) -> &TaskReport {
        &self.core.report
    }

    /// Timings a learning strategy can use, once the task reached `Ready` (only for tasks whose
    /// submit this machine saw).
    pub fn observation(&self) -> Option<&TaskObservation> {
        self.core.observation.as_deref()
    }

    /// The task, once the server accepted it.
    pub fn task(&self) -> Option<&SubmittedTask> {
        match &self.state {
            State::Poll(t) => Some(t),
            State::Download(r) => Some(&r.task),
            State::Finished(Ok(Finished::Submitted(t))) => Some(t),
            State::Finished(Ok(Finished::Ready(r))) => Some(&r.task),
            State::Finished(Ok(Finished::Downloaded(o))) => Some(&o.ready.task),
            State::Finished(Err(e)) => e.task(),
            State::Submit(_) => None,
        }
    }

    fn finish(&mut self, result: Result<Finished, TaskError>) {
        self.core.in_flight = None;
        self.state = State::Finished(result);
    }

    fn deadline_error(&self) -> TaskError {
        let phase = match &self.state {
            State::Submit(_) => Phase::Submit,
            State::Download(_) => Phase::Download,
            State::Poll(_) | State::Finished(_) => Phase::Poll,
        };
        TaskError::deadline_exceeded(
            self.task().cloned(),
            phase,
            self.core.cfg.deadline,
            self.core.last_status.clone(),
        )
    }
}
