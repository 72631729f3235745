//! The outcome taxonomy: every way a task can end other than with its image.
//!
//! A [`TaskError`] is a kind ([`ErrorKind`]) and its context — the phase, the task (when it was
//! submitted), the status last seen, the server's raw payload and detail, the transport failure —
//! read through accessors, in the manner of `hyper::Error`. It answers the questions a caller
//! acts on: may the same thing succeed later ([`TaskError::is_retryable`]), must a whole batch
//! stop ([`TaskError::is_fatal_for_batch`]), is the caller's input at fault
//! ([`TaskError::is_input_error`]), and may the key have paid
//! ([`TaskError::may_have_been_charged`]).

mod display;
mod kind;

pub use kind::{ErrorKind, Phase};

use crate::api::Status;
use crate::task::SubmittedTask;
use crate::transport::TransportError;
use bytes::Bytes;
use serde_json::Value;
use std::time::Duration;

/// Why a task ended without its image. It names the task whenever the server accepted one — a
/// [`SubmittedTask`], which [`Job::resume`](crate::Job::resume) takes as it stands — so nothing
/// paid for is forgotten, and keeps the raw answer when there was one.
///
/// Read it by its [`kind`](TaskError::kind) and predicates, its context through accessors:
///
/// ```
/// use bfl_core::{ErrorKind, TaskError};
///
/// fn advice(e: &TaskError) -> String {
///     match e.kind() {
///         ErrorKind::Validation => format!("fix the request: {}", e.detail().unwrap_or("?")),
///         _ if e.is_fatal_for_batch() => "check the key and its credits".into(),
///         _ => match e.task() {
///             Some(t) if e.is_retryable() => format!("resume task {} later", t.id),
///             _ => e.to_string(),
///         },
///     }
/// }
///
/// let e = TaskError::internal(bfl_core::Phase::Poll, "a machine stopped early");
/// assert_eq!(e.kind(), ErrorKind::Internal);
/// assert_eq!(advice(&e), "internal error during poll: a machine stopped early");
/// ```
#[derive(Debug, Clone)]
pub struct TaskError {
    inner: Box<Context>,
}

/// What a failure knows besides its kind; each constructor fills what its kind has.
#[derive(Debug, Clone)]
struct Context {
    kind: ErrorKind,
    phase: Phase,
    task: Option<SubmittedTask>,
    /// The task status last seen (a failed generation's, or the one before a deadline).
    status: Option<Status>,
    http_status: Option<u16>,
    /// Answers of the failing kind in a row (polls made, for [`ErrorKind::GaveUp`]).
    attempts: u32,
    /// The server's words, or the engine's reason.
    detail: Option<String>,
    /// A poll answer's `details`.
    details: Option<Value>,
    raw: Option<Bytes>,
    source: Option<TransportError>,
    retry_after: Option<Duration>,
    deadline: Option<Duration>,
    expired_at: Option<f64>,
}

/// Constructors, one per way the engine ends a task.
impl TaskError {
    fn new(kind: ErrorKind, phase: Phase, task: Option<SubmittedTask>) -> TaskError {
        TaskError {
            inner: Box::new(Context {
                kind,
                phase,
                task,
                status: None,
                http_status: None,
                attempts: 0,
                detail: None,
                details: None,
                raw: None,
                source: None,
                retry_after: None,
                deadline: None,
                expired_at: None,
            }),
        }
    }

    fn with(mut self, fill: impl FnOnce(&mut Context)) -> TaskError {
        fill(&mut self.inner);
        self
    }

    /// A poll answer with a terminal status other than `Ready`: moderation, `Task not found`,
    /// or a failed generation.
    pub(crate) fn task_ended(
        task: SubmittedTask,
        status: Status,
        details: Option<Value>,
        raw: Bytes,
    ) -> TaskError {
        let kind = match status {
            Status::RequestModerated => ErrorKind::RequestModerated,
            Status::ContentModerated => ErrorKind::ContentModerated,
            Status::TaskNotFound => ErrorKind::TaskNotFound,
            _ => ErrorKind::GenerationFailed,
        };
        TaskError::new(kind, Phase::Poll, Some(task)).with(|c| {
            c.status = Some(status);
            c.details = details;
            c.raw = Some(raw);
        })
    }

    /// A 404 to a poll after the grace period that follows a submit.
    pub(crate) fn task_not_found(task: SubmittedTask, raw: Bytes) -> TaskError {
        TaskError::new(ErrorKind::TaskNotFound, Phase::Poll, Some(task)).with(|c| {
            c.http_status = Some(404);
            c.raw = Some(raw);
        })
    }

    /// The result URL expired (at `expired_at`, unix seconds) before it was downloaded.
    pub(crate) fn result_expired(task: SubmittedTask, expired_at: f64) -> TaskError {
        TaskError::new(ErrorKind::ResultExpired, Phase::Download, Some(task))
            .with(|c| c.expired_at = Some(expired_at))
    }

    /// The delivery host refused the download with `status`, not an expiry.
    pub(crate) fn download_rejected(task: SubmittedTask, status: u16, raw: Bytes) -> TaskError {
        TaskError::new(ErrorKind::DownloadRejected, Phase::Download, Some(task)).with(|c| {
            c.http_status = Some(status);
            c.raw = Some(raw);
        })
    }

    /// The task's `deadline` passed during `phase`.
    pub(crate) fn deadline_exceeded(
        task: Option<SubmittedTask>,
        phase: Phase,
        deadline: Duration,
        last_status: Option<Status>,
    ) -> TaskError {
        TaskError::new(ErrorKind::DeadlineExceeded, phase, task).with(|c| {
            c.deadline = Some(deadline);
            c.status = last_status;
        })
    }

    /// The polling strategy gave up after `polls` polls.
    pub(crate) fn gave_up(task: SubmittedTask, polls: u32) -> TaskError {
        TaskError::new(ErrorKind::GaveUp, Phase::Poll, Some(task)).with(|c| c.attempts = polls)
    }

    /// `attempts` 429s in a row; the last said to wait `retry_after`.
    pub(crate) fn rate_limited(
        task: Option<SubmittedTask>,
        phase: Phase,
        attempts: u32,
        retry_after: Option<Duration>,
        raw: Bytes,
    ) -> TaskError {
        TaskError::new(ErrorKind::RateLimited, phase, task).with(|c| {
            c.http_status = Some(429);
            c.attempts = attempts;
            c.retry_after = retry_after;
            c.raw = Some(raw);
        })
    }

    /// `attempts` 5xx answers in a row, the last with `status`.
    pub(crate) fn server(
        task: Option<SubmittedTask>,
        phase: Phase,
        status: u16,
        attempts: u32,
        raw: Bytes,
    ) -> TaskError {
        TaskError::new(ErrorKind::Server, phase, task).with(|c| {
            c.http_status = Some(status);
            c.attempts = attempts;
            c.raw = Some(raw);
        })
    }

    /// A final refusal of the API (401, 402, 403, 422, 400…), with the server's detail; `kind`
    /// is the caller's reading of `status`.
    pub(crate) fn refused(
        kind: ErrorKind,
        task: Option<SubmittedTask>,
        phase: Phase,
        status: u16,
        detail: Option<String>,
        raw: Bytes,
    ) -> TaskError {
        TaskError::new(kind, phase, task).with(|c| {
            c.http_status = Some(status);
            c.detail = detail;
            c.raw = Some(raw);
        })
    }

    /// A request the engine refuses to send: it breaks the schema before any server sees it.
    pub(crate) fn invalid_input(detail: String) -> TaskError {
        TaskError::new(ErrorKind::Validation, Phase::Submit, None).with(|c| c.detail = Some(detail))
    }

    /// No HTTP answer after `attempts` tries; `source` is the last failure.
    pub(crate) fn transport(
        task: Option<SubmittedTask>,
        phase: Phase,
        attempts: u32,
        source: TransportError,
    ) -> TaskError {
        TaskError::new(ErrorKind::Transport, phase, task).with(|c| {
            c.attempts = attempts;
            c.source = Some(source);
        })
    }

    /// An answer that could not be read, and why.
    pub(crate) fn malformed(
        task: Option<SubmittedTask>,
        phase: Phase,
        reason: String,
        raw: Bytes,
    ) -> TaskError {
        TaskError::new(ErrorKind::MalformedResponse, phase, task).with(|c| {
            c.detail = Some(reason);
            c.raw = Some(raw);
        })
    }

    /// A task whose polling URL is outside the key policy: it exists (and is paid for) but is
    /// not polled from here.
    pub(crate) fn foreign_polling_url(task: SubmittedTask) -> TaskError {
        TaskError::new(ErrorKind::ForeignPollingUrl, Phase::Poll, Some(task))
    }

    /// A job never submitted because the batch stopped, and why it stopped.
    pub(crate) fn not_submitted(reason: String) -> TaskError {
        TaskError::new(ErrorKind::NotSubmitted, Phase::Submit, None)
            .with(|c| c.detail = Some(reason))
    }

    /// Something the engine rules out happened during `phase` — a driver's machine stopping at
    /// another stage than the one its job asked for, say. Reported, not panicked; public so a
    /// driver built on [`crate::machine`] can do the same.
    pub fn internal(phase: Phase, what: impl Into<String>) -> TaskError {
        TaskError::new(ErrorKind::Internal, phase, None).with(|c| c.detail = Some(what.into()))
    }

    /// [`TaskError::internal`] for a value the engine never produces at this point.
    pub(crate) fn unexpected(phase: Phase, what: impl std::fmt::Debug) -> TaskError {
        TaskError::internal(phase, format!("unexpected {what:?}"))
    }
}

/// Accessors.
impl TaskError {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The step the task was in.
    pub fn phase(&self) -> Phase {
        self.inner.phase
    }

    /// The task, when the server accepted one: resume it with
    /// [`Job::resume`](crate::Job::resume), or report it.
    pub fn task(&self) -> Option<&SubmittedTask> {
        self.inner.task.as_ref()
    }

    /// The id of the task, when the server accepted one.
    pub fn task_id(&self) -> Option<&str> {
        self.task().map(|t| t.id.as_str())
    }

    /// The task status last seen: a failed generation's `Error`/`Failed`, a moderation, or the
    /// last status before a deadline.
    pub fn status(&self) -> Option<&Status> {
        self.inner.status.as_ref()
    }

    /// The HTTP status of the answer that ended the task, when an answer did.
    pub fn http_status(&self) -> Option<u16> {
        self.inner.http_status
    }

    /// Answers (or failures) of the same kind in a row when the task stopped; for
    /// [`ErrorKind::GaveUp`], the polls made.
    pub fn attempts(&self) -> u32 {
        self.inner.attempts
    }

    /// The server's detail (e.g. `body.width: …` for a 422), or the engine's reason for a
    /// malformed answer, a job not submitted or an internal error.
    pub fn detail(&self) -> Option<&str> {
        self.inner.detail.as_deref()
    }

    /// The `details` of a terminal poll answer (moderation reasons, a failure's cause).
    pub fn details(&self) -> Option<&Value> {
        self.inner.details.as_ref()
    }

    /// The server's raw answer, when there was one.
    pub fn raw(&self) -> Option<&Bytes> {
        self.inner.raw.as_ref()
    }

    /// The failure of the last request, for [`ErrorKind::Transport`] (also its
    /// [`source`](std::error::Error::source)).
    pub fn transport_error(&self) -> Option<&TransportError> {
        self.inner.source.as_ref()
    }

    /// How long the last 429 asked to wait, for [`ErrorKind::RateLimited`].
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// The deadline that passed, for [`ErrorKind::DeadlineExceeded`].
    pub fn deadline(&self) -> Option<Duration> {
        self.inner.deadline
    }

    /// When the result URL expired (unix seconds), for [`ErrorKind::ResultExpired`].
    pub fn expired_at(&self) -> Option<f64> {
        self.inner.expired_at
    }
}

impl std::error::Error for TaskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// What a caller acts on.
impl TaskError {
    /// Whether trying the same work again later may succeed ("retry later"), as opposed to
    /// "never retry" (moderation, a failed generation, an expired URL) or "fix your input".
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }

    /// Whether the server may have accepted — and will charge for — a task this error cannot
    /// name: a submit whose answer never arrived (a timeout or a dropped connection after the
    /// request left) or could not be read. Submitting the same request again may pay twice.
    /// A refused connection sent nothing, and a 5xx is the API saying the submit failed.
    pub fn may_have_been_accepted(&self) -> bool {
        if self.task().is_some() || self.phase() != Phase::Submit {
            return false;
        }
        match self.kind() {
            ErrorKind::Transport => !matches!(
                self.transport_error(),
                Some(TransportError::Connect(_)) | None
            ),
            ErrorKind::MalformedResponse => true,
            _ => false,
        }
    }

    /// Whether the image could not be written locally (a full disk, a lost directory): the task
    /// is paid and `Ready` — poll it again once the disk is fixed — and no other job of a batch
    /// should pay for an image it cannot write either.
    pub fn is_local_write_failure(&self) -> bool {
        self.kind() == ErrorKind::Transport
            && self.phase() == Phase::Download
            && matches!(self.transport_error(), Some(TransportError::Io(_)))
    }

    /// Whether the key may have been charged for this task: it was accepted (its id is known) and
    /// not moderated (BFL charges no moderated task), or its submit may have been accepted without
    /// an answer ([`TaskError::may_have_been_accepted`]). `false` means the server definitely did
    /// not take the job.
    pub fn may_have_been_charged(&self) -> bool {
        match self.kind() {
            ErrorKind::RequestModerated | ErrorKind::ContentModerated => false,
            _ => self.task().is_some() || self.may_have_been_accepted(),
        }
    }

    /// Whether no other task of the same key can succeed either (401/403, 402): a batch stops
    /// submitting at once.
    pub fn is_fatal_for_batch(&self) -> bool {
        self.kind().is_fatal_for_batch()
    }

    /// Whether the request itself must change (400, 422, request moderation).
    pub fn is_input_error(&self) -> bool {
        self.kind().is_input_error()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> SubmittedTask {
        SubmittedTask::known_as("t1", "https://api.bfl.ai/v1/get_result?id=t1")
    }

    #[test]
    fn only_a_submit_that_may_have_arrived_is_ambiguous() {
        let submit_failure = |source| TaskError::transport(None, Phase::Submit, 1, source);
        let timeout = TransportError::Timeout(std::time::Duration::from_secs(30));
        assert!(submit_failure(timeout.clone()).may_have_been_accepted());
        assert!(!submit_failure(TransportError::Connect("refused".into())).may_have_been_accepted());
        let named = TaskError::transport(Some(t()), Phase::Poll, 3, timeout);
        assert!(!named.may_have_been_accepted());
        let unreadable =
            TaskError::malformed(None, Phase::Submit, "truncated".into(), Bytes::new());
        assert!(unreadable.may_have_been_accepted());
        let impossible = TaskError::internal(Phase::Submit, "a machine stopped early");
        assert!(!impossible.may_have_been_accepted() && !impossible.may_have_been_charged());
        assert_eq!(impossible.kind(), ErrorKind::Internal);
    }

    #[test]
    fn predicates_split_retry_later_never_and_fix_input() {
        let later = TaskError::server(Some(t()), Phase::Poll, 503, 4, Bytes::new());
        assert!(later.is_retryable() && !later.is_fatal_for_batch());
        assert_eq!(
            later.to_string(),
            "server error 503 during poll after 4 attempts"
        );
        let never = TaskError::task_ended(t(), Status::ContentModerated, None, Bytes::new());
        assert!(!never.is_retryable() && !never.is_input_error());
        assert!(!never.may_have_been_charged());
        let input = TaskError::refused(
            ErrorKind::Validation,
            None,
            Phase::Submit,
            422,
            Some("body.width: too small".into()),
            Bytes::new(),
        );
        assert!(input.is_input_error() && !input.is_retryable());
        assert_eq!(
            input.to_string(),
            "invalid request (422): body.width: too small"
        );
        let fatal = TaskError::refused(
            ErrorKind::InsufficientCredits,
            None,
            Phase::Submit,
            402,
            None,
            Bytes::new(),
        );
        assert!(fatal.is_fatal_for_batch());
        assert_eq!(
            fatal.to_string(),
            "insufficient credits (402): top up the account"
        );
        assert_eq!(never.task(), Some(&t()));
        assert_eq!(fatal.kind().as_str(), "insufficient_credits");
    }

    #[test]
    fn a_transport_failure_is_the_source_and_a_foreign_url_names_its_task() {
        use std::error::Error as _;
        let timeout = TransportError::Timeout(Duration::from_secs(30));
        let e = TaskError::transport(None, Phase::Submit, 2, timeout.clone());
        assert_eq!(e.transport_error(), Some(&timeout));
        assert_eq!(e.source().map(|s| s.to_string()), Some(timeout.to_string()));
        let foreign = TaskError::foreign_polling_url(t());
        assert_eq!(foreign.task_id(), Some("t1"));
        assert!(foreign
            .to_string()
            .starts_with("refused to poll https://api.bfl.ai/v1/get_result?id=t1: "));
    }
}
