//! What a task machine keeps beside its [`State`](super::State): settings, strategy, clocks,
//! counters, events and report — and the scheduling of the next request.

use super::job::{Job, StopAfter};
use super::EngineConfig;
use crate::api::{OutputFormat, Status};
use crate::error::Phase;
use crate::event_queue::EventQueue;
use crate::rt::Now;
use crate::strategy::{PollContext, PollStrategy, TaskObservation};
use crate::task::TaskReport;
use crate::transport::RequestKind;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::event::TaskEvent;

/// The attempt number whose backoff a paid task waits when the shared retry budget is empty
/// (far enough along that it is the policy's cap).
const STARVED_ATTEMPT: u32 = 32;

/// The largest number of consecutive 429s one request may meet before the task gives up.
const MAX_RATE_LIMITED: u32 = 64;

/// Everything of a task but where it is.
pub(super) struct Core {
    pub(super) cfg: Arc<EngineConfig>,
    strategy: Box<dyn PollStrategy>,
    rng: rand::rngs::SmallRng,
    pub(super) stop_after: StopAfter,
    pub(super) download_to: Option<PathBuf>,
    pub(super) started: Instant,
    pub(super) deadline_at: Instant,
    /// The next request may go out at this moment.
    pub(super) next_send_at: Instant,
    pub(super) in_flight: Option<RequestKind>,
    pub(super) events: EventQueue,
    pub(super) report: TaskReport,
    /// Consecutive failures of the current request (5xx, transport, malformed).
    pub(super) failures: u32,
    /// Consecutive 429s of the current request.
    pub(super) rate_limited: u32,
    /// When the submit was answered; for resumed tasks, when the machine started.
    pub(super) submitted_at: Instant,
    pub(super) submitted_wall: SystemTime,
    /// Whether this machine saw the submit (its timings teach a learning strategy).
    pub(super) saw_submit: bool,
    pub(super) last_status: Option<Status>,
    last_progress: Option<f64>,
    pub(super) last_pending_after: Option<Duration>,
    contended: bool,
    /// Boxed: set only once the task is ready, it would otherwise take 96 bytes of every task.
    pub(super) observation: Option<Box<TaskObservation>>,
    /// The format the submitted request asked for (or its model's default), to note a difference.
    pub(super) expected_format: Option<OutputFormat>,
}

impl Core {
    pub(super) fn new(
        cfg: Arc<EngineConfig>,
        job: &Job,
        strategy: Box<dyn PollStrategy>,
        strategy_name: String,
        seed: u64,
        now: Now,
    ) -> Core {
        let expected_format = match &job.start {
            super::Start::Submit(req) => Some(req.effective_output_format()),
            _ => None,
        };
        Core {
            strategy,
            rng: rand::rngs::SmallRng::seed_from_u64(seed),
            stop_after: job.stop_after,
            download_to: job.download_to.clone(),
            report: TaskReport {
                model: job.model().to_owned(),
                strategy: strategy_name,
                ..TaskReport::default()
            },
            started: now.instant,
            deadline_at: now.instant + cfg.deadline,
            next_send_at: now.instant,
            in_flight: None,
            events: EventQueue::new(),
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
            expected_format,
            cfg,
        }
    }

    pub(super) fn set_contended(&mut self, contended: bool) {
        self.contended = contended;
    }

    /// Records a not-yet-ready poll and schedules the next; `None` if the strategy gave up.
    pub(super) fn after_pending_poll(
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
            });
        }
        next
    }

    /// Notes the status the server last said in the report (kept, not copied again, while it
    /// stays the same: most polls say `Pending` after `Pending`).
    pub(super) fn note_status(&mut self, status: &str) {
        match &mut self.report.last_status {
            Some(said) if said == status => {}
            slot => *slot = Some(status.to_owned()),
        }
    }

    /// Asks the strategy for the next poll; returns the wait, or `None` if it gave up.
    pub(super) fn schedule_poll(&mut self, now: Now) -> Option<Duration> {
        let ctx = PollContext {
            model: &self.report.model,
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
        let d = delay?;
        self.next_send_at = clamp_to(now.instant, d, self.deadline_at);
        Some(d)
    }

    /// Counts a 429 and schedules the next try; false once the task should give up.
    pub(super) fn throttled(&mut self, now: Now, phase: Phase, hint: Option<Duration>) -> bool {
        self.report.rate_limited += 1;
        self.rate_limited += 1;
        if self.rate_limited > MAX_RATE_LIMITED {
            return false;
        }
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
        true
    }

    /// Counts a failure and schedules a retry if the per-request cap and the shared budget allow.
    pub(super) fn try_retry(
        &mut self,
        now: Now,
        hint: Option<Duration>,
        phase: Phase,
        reason: String,
    ) -> bool {
        self.failures += 1;
        if self.failures > self.max_failures(phase) {
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

    /// A usable answer: the shared budget gets a token back, the failure counts start over.
    pub(super) fn answered(&mut self) {
        self.cfg.budget.on_success();
        self.failures = 0;
        self.rate_limited = 0;
    }

    fn max_failures(&self, phase: Phase) -> u32 {
        match phase {
            Phase::Submit => self.cfg.retry.max_submit_failures,
            _ => self.cfg.retry.max_consecutive_failures,
        }
    }
}

fn clamp_to(now: Instant, wait: Duration, deadline: Instant) -> Instant {
    now.checked_add(wait).map_or(deadline, |t| t.min(deadline))
}
