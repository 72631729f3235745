//! The outcome taxonomy: every way a task can end other than with its image.
//!
//! Each error keeps the server's raw payload (where there was one) and answers three questions:
//! may the same thing succeed later ([`TaskError::is_retryable`]), must a whole batch stop
//! ([`TaskError::is_fatal_for_batch`]), and is the caller's input at fault
//! ([`TaskError::is_input_error`]).

use crate::api::Status;
use crate::transport::TransportError;
use bytes::Bytes;
use serde_json::Value;
use std::time::Duration;

/// A submitted task: enough to poll it again later (`Client::resume`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TaskRef {
    /// The task id.
    pub id: String,
    /// The URL to poll, verbatim from the submit answer.
    pub polling_url: String,
}

/// Which step a task was in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Submitting the request.
    Submit,
    /// Polling the task.
    Poll,
    /// Downloading the result.
    Download,
    /// Asking for the key's credits.
    Credits,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Submit => "submit",
            Phase::Poll => "poll",
            Phase::Download => "download",
            Phase::Credits => "credits",
        })
    }
}

/// A short, stable name for each kind of failure (for summaries, journals and exit codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input was moderated.
    RequestModerated,
    /// The output was moderated.
    ContentModerated,
    /// The generation failed on the server.
    GenerationFailed,
    /// The server does not know the task.
    TaskNotFound,
    /// The result URL expired before the download.
    ResultExpired,
    /// The task's deadline passed.
    DeadlineExceeded,
    /// The polling strategy ran out of attempts.
    GaveUp,
    /// 429s did not stop before the task gave up.
    RateLimited,
    /// 401/403: bad or missing key.
    Unauthorized,
    /// 402: no credits left.
    InsufficientCredits,
    /// 422: the request broke the schema.
    Validation,
    /// 400 or another final 4xx.
    BadRequest,
    /// 5xx that retries did not get past.
    Server,
    /// No HTTP answer (timeout, connection failure…).
    Transport,
    /// An answer that could not be read.
    MalformedResponse,
    /// A polling URL on a host outside the key policy.
    ForeignPollingUrl,
    /// The delivery host refused the download for a reason other than expiry.
    DownloadRejected,
    /// A batch job that was never submitted because the batch stopped.
    NotSubmitted,
}

impl ErrorKind {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::RequestModerated => "request_moderated",
            ErrorKind::ContentModerated => "content_moderated",
            ErrorKind::GenerationFailed => "generation_failed",
            ErrorKind::TaskNotFound => "task_not_found",
            ErrorKind::ResultExpired => "result_expired",
            ErrorKind::DeadlineExceeded => "deadline_exceeded",
            ErrorKind::GaveUp => "gave_up",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::InsufficientCredits => "insufficient_credits",
            ErrorKind::Validation => "validation",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Server => "server",
            ErrorKind::Transport => "transport",
            ErrorKind::MalformedResponse => "malformed_response",
            ErrorKind::ForeignPollingUrl => "foreign_polling_url",
            ErrorKind::DownloadRejected => "download_rejected",
            ErrorKind::NotSubmitted => "not_submitted",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a task ended without its image. Every variant carries the task (when it was submitted) so
/// nothing paid for is forgotten, and the raw answer (when there was one).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// `Request Moderated`: the input was flagged before generation (not charged).
    #[error("request moderated: the input was flagged before generation (not charged)")]
    RequestModerated {
        /// The task.
        task: TaskRef,
        /// The server's `details`.
        details: Option<Value>,
        /// The poll answer.
        raw: Bytes,
    },
    /// `Content Moderated`: the output was flagged after generation (not charged).
    #[error("content moderated: the image was flagged after generation (not charged)")]
    ContentModerated {
        /// The task.
        task: TaskRef,
        /// The server's `details`.
        details: Option<Value>,
        /// The poll answer.
        raw: Bytes,
    },
    /// `Error` or `Failed`: the generation failed.
    #[error("generation failed with status {}{}", shown(.status.as_str()), details_suffix(.details))]
    GenerationFailed {
        /// The task.
        task: TaskRef,
        /// `Error` or `Failed`.
        status: Status,
        /// The server's `details`.
        details: Option<Value>,
        /// The poll answer.
        raw: Bytes,
    },
    /// `Task not found` (or HTTP 404) after the grace period that follows a submit.
    #[error("task {} not found: unknown id, or the task aged out", shown(&.task.id))]
    TaskNotFound {
        /// The task.
        task: TaskRef,
        /// The poll answer.
        raw: Bytes,
    },
    /// The result URL expired before it was downloaded.
    #[error("the result URL expired at unix time {expired_at:.0} before it was downloaded")]
    ResultExpired {
        /// The task.
        task: TaskRef,
        /// When the URL expired, unix seconds.
        expired_at: f64,
    },
    /// The task's deadline passed.
    #[error("deadline of {deadline:?} exceeded during {phase} (last status: {})", shown(last_status.as_ref().map(Status::as_str).unwrap_or("none")))]
    DeadlineExceeded {
        /// The task, if it was submitted.
        task: Option<TaskRef>,
        /// Where it was.
        phase: Phase,
        /// The deadline.
        deadline: Duration,
        /// The last status seen.
        last_status: Option<Status>,
    },
    /// The polling strategy gave up (its attempt cap or time budget).
    #[error("gave up after {polls} polls (the strategy's attempt cap or time budget)")]
    GaveUp {
        /// The task.
        task: TaskRef,
        /// Polls made.
        polls: u32,
    },
    /// 429 answers outlasted the retry budget.
    #[error("rate limited (429) {attempts} times during {phase}")]
    RateLimited {
        /// The task, if it was submitted.
        task: Option<TaskRef>,
        /// Where it was.
        phase: Phase,
        /// 429s received.
        attempts: u32,
        /// The last answer.
        raw: Bytes,
    },
    /// 401 or 403: the key is missing or invalid.
    #[error("unauthorized ({status}): {}", detail.as_deref().unwrap_or("the API key was refused"))]
    Unauthorized {
        /// The task, if it was submitted (a key revoked while it ran).
        task: Option<TaskRef>,
        /// The HTTP status.
        status: u16,
        /// The server's detail.
        detail: Option<String>,
        /// The answer.
        raw: Bytes,
    },
    /// 402: the key has no credits left.
    #[error("insufficient credits (402): {}", detail.as_deref().unwrap_or("top up the account"))]
    InsufficientCredits {
        /// The task, if it was submitted.
        task: Option<TaskRef>,
        /// The server's detail.
        detail: Option<String>,
        /// The answer.
        raw: Bytes,
    },
    /// 422: the request broke the model's schema.
    #[error("invalid request (422): {}", detail.as_deref().unwrap_or("validation failed"))]
    Validation {
        /// The task, if it was submitted.
        task: Option<TaskRef>,
        /// The server's detail, e.g. `body.width: …`.
        detail: Option<String>,
        /// The answer.
        raw: Bytes,
    },
    /// 400 or another final 4xx.
    #[error("request refused ({status}) during {phase}: {}", detail.as_deref().unwrap_or("no detail"))]
    BadRequest {
        /// The task, if it was submitted.
        task: Option<TaskRef>,
        /// Where it was.
        phase: Phase,
        /// The HTTP status.
        status: u16,
        /// The server's detail.
        detail: Option<String>,
        /// The answer.
        raw: Bytes,
    },
    /// 5xx answers that retries did not get past.
    #[error("server error {status} during {phase} after {attempts} attempts")]
    Server {
        /// The task, if it was submitted.
        task: Option<TaskRef>,
        /// Where it was.
        phase: Phase,
        /// The last HTTP status.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// The last answer.
        raw: Bytes,
    },
    /// No HTTP answer, after retries.
    #[error("transport failure during {phase} after {attempts} attempts: {source}")]
    Transport {
        /// The task, if it was submitted.
        task: Option<TaskRef>,
        /// Where it was.
        phase: Phase,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        source: TransportError,
    },
    /// An answer that could not be read (malformed or truncated JSON, a missing field).
    #[error("malformed answer during {phase}: {}", shown(.reason))]
    MalformedResponse {
        /// The task, if it was submitted.
        task: Option<TaskRef>,
        /// Where it was.
        phase: Phase,
        /// What was wrong.
        reason: String,
        /// The answer.
        raw: Bytes,
    },
    /// The submit answer named a polling URL outside the key policy; it was not contacted.
    #[error(
        "refused to poll {}: its host is not an allowed API host, and the key must not go there", shown(.url)
    )]
    ForeignPollingUrl {
        /// The task id.
        id: String,
        /// The refused URL.
        url: String,
    },
    /// The delivery host refused the download (not an expiry).
    #[error("the delivery host refused the download with {status}")]
    DownloadRejected {
        /// The task.
        task: TaskRef,
        /// The HTTP status.
        status: u16,
        /// The answer.
        raw: Bytes,
    },
    /// A batch job that was never submitted (nothing was paid) because the batch stopped.
    #[error("not submitted: {reason}")]
    NotSubmitted {
        /// Why the batch stopped.
        reason: String,
    },
}

fn details_suffix(details: &Option<Value>) -> String {
    match details {
        Some(Value::Null) | None => String::new(),
        Some(v) => format!(": {}", shown(&v.to_string())),
    }
}

/// Server text in an error's words (see [`crate::sanitize`]).
fn shown(text: &str) -> String {
    crate::sanitize::server_text(text)
}

impl TaskError {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            TaskError::RequestModerated { .. } => ErrorKind::RequestModerated,
            TaskError::ContentModerated { .. } => ErrorKind::ContentModerated,
            TaskError::GenerationFailed { .. } => ErrorKind::GenerationFailed,
            TaskError::TaskNotFound { .. } => ErrorKind::TaskNotFound,
            TaskError::ResultExpired { .. } => ErrorKind::ResultExpired,
            TaskError::DeadlineExceeded { .. } => ErrorKind::DeadlineExceeded,
            TaskError::GaveUp { .. } => ErrorKind::GaveUp,
            TaskError::RateLimited { .. } => ErrorKind::RateLimited,
            TaskError::Unauthorized { .. } => ErrorKind::Unauthorized,
            TaskError::InsufficientCredits { .. } => ErrorKind::InsufficientCredits,
            TaskError::Validation { .. } => ErrorKind::Validation,
            TaskError::BadRequest { .. } => ErrorKind::BadRequest,
            TaskError::Server { .. } => ErrorKind::Server,
            TaskError::Transport { .. } => ErrorKind::Transport,
            TaskError::MalformedResponse { .. } => ErrorKind::MalformedResponse,
            TaskError::ForeignPollingUrl { .. } => ErrorKind::ForeignPollingUrl,
            TaskError::DownloadRejected { .. } => ErrorKind::DownloadRejected,
            TaskError::NotSubmitted { .. } => ErrorKind::NotSubmitted,
        }
    }

    /// Whether trying the same work again later may succeed ("retry later"), as opposed to
    /// "never retry" (moderation, a failed generation, an expired URL) or "fix your input".
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::DeadlineExceeded
                | ErrorKind::GaveUp
                | ErrorKind::RateLimited
                | ErrorKind::Server
                | ErrorKind::Transport
                | ErrorKind::NotSubmitted
        )
    }

    /// Whether the server may have accepted — and will charge for — a task this error cannot
    /// name: a submit whose answer never arrived (a timeout or a dropped connection after the
    /// request left) or could not be read. Submitting the same request again may pay twice.
    /// A refused connection sent nothing, and a 5xx is the API saying the submit failed.
    pub fn may_have_been_accepted(&self) -> bool {
        match self {
            TaskError::Transport {
                task: None,
                phase: Phase::Submit,
                source,
                ..
            } => !matches!(source, TransportError::Connect(_)),
            TaskError::MalformedResponse {
                task: None,
                phase: Phase::Submit,
                ..
            } => true,
            _ => false,
        }
    }

    /// Whether the image could not be written locally (a full disk, a lost directory): the task
    /// is paid and `Ready` — poll it again once the disk is fixed — and no other job of a batch
    /// should pay for an image it cannot write either.
    pub fn is_local_write_failure(&self) -> bool {
        matches!(
            self,
            TaskError::Transport {
                phase: Phase::Download,
                source: TransportError::Io(_),
                ..
            }
        )
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
        matches!(
            self.kind(),
            ErrorKind::Unauthorized | ErrorKind::InsufficientCredits
        )
    }

    /// Whether the request itself must change (400, 422, request moderation).
    pub fn is_input_error(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Validation | ErrorKind::BadRequest | ErrorKind::RequestModerated
        )
    }

    /// The task, when it was submitted (so it can be resumed or reported).
    pub fn task(&self) -> Option<&TaskRef> {
        match self {
            TaskError::RequestModerated { task, .. }
            | TaskError::ContentModerated { task, .. }
            | TaskError::GenerationFailed { task, .. }
            | TaskError::TaskNotFound { task, .. }
            | TaskError::ResultExpired { task, .. }
            | TaskError::GaveUp { task, .. }
            | TaskError::DownloadRejected { task, .. } => Some(task),
            TaskError::DeadlineExceeded { task, .. }
            | TaskError::RateLimited { task, .. }
            | TaskError::BadRequest { task, .. }
            | TaskError::Server { task, .. }
            | TaskError::Transport { task, .. }
            | TaskError::MalformedResponse { task, .. }
            | TaskError::Unauthorized { task, .. }
            | TaskError::InsufficientCredits { task, .. }
            | TaskError::Validation { task, .. } => task.as_ref(),
            TaskError::ForeignPollingUrl { .. } | TaskError::NotSubmitted { .. } => None,
        }
    }

    /// The id of the task, when the server accepted one — including a task whose polling URL
    /// was refused (it exists and is paid for, but cannot be polled from here).
    pub fn task_id(&self) -> Option<&str> {
        match self {
            TaskError::ForeignPollingUrl { id, .. } => Some(id),
            _ => self.task().map(|t| t.id.as_str()),
        }
    }

    /// The server's raw answer, when there was one.
    pub fn raw(&self) -> Option<&Bytes> {
        match self {
            TaskError::RequestModerated { raw, .. }
            | TaskError::ContentModerated { raw, .. }
            | TaskError::GenerationFailed { raw, .. }
            | TaskError::TaskNotFound { raw, .. }
            | TaskError::RateLimited { raw, .. }
            | TaskError::Unauthorized { raw, .. }
            | TaskError::InsufficientCredits { raw, .. }
            | TaskError::Validation { raw, .. }
            | TaskError::BadRequest { raw, .. }
            | TaskError::Server { raw, .. }
            | TaskError::MalformedResponse { raw, .. }
            | TaskError::DownloadRejected { raw, .. } => Some(raw),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> TaskRef {
        TaskRef {
            id: "t1".into(),
            polling_url: "https://api.bfl.ai/v1/get_result?id=t1".into(),
        }
    }

    #[test]
    fn only_a_submit_that_may_have_arrived_is_ambiguous() {
        let submit_failure = |source| TaskError::Transport {
            task: None,
            phase: Phase::Submit,
            attempts: 1,
            source,
        };
        let timeout = TransportError::Timeout(std::time::Duration::from_secs(30));
        assert!(submit_failure(timeout.clone()).may_have_been_accepted());
        assert!(!submit_failure(TransportError::Connect("refused".into())).may_have_been_accepted());
        let named = TaskError::Transport {
            task: Some(t()),
            phase: Phase::Poll,
            attempts: 3,
            source: timeout,
        };
        assert!(!named.may_have_been_accepted());
        let unreadable = TaskError::MalformedResponse {
            task: None,
            phase: Phase::Submit,
            reason: "truncated".into(),
            raw: Bytes::new(),
        };
        assert!(unreadable.may_have_been_accepted());
    }

    #[test]
    fn predicates_split_retry_later_never_and_fix_input() {
        let later = TaskError::Server {
            task: Some(t()),
            phase: Phase::Poll,
            status: 503,
            attempts: 4,
            raw: Bytes::new(),
        };
        assert!(later.is_retryable() && !later.is_fatal_for_batch());
        let never = TaskError::ContentModerated {
            task: t(),
            details: None,
            raw: Bytes::new(),
        };
        assert!(!never.is_retryable() && !never.is_input_error());
        let input = TaskError::Validation {
            task: None,
            detail: Some("body.width: too small".into()),
            raw: Bytes::new(),
        };
        assert!(input.is_input_error() && !input.is_retryable());
        assert!(input.to_string().contains("body.width: too small"));
        let fatal = TaskError::InsufficientCredits {
            task: None,
            detail: None,
            raw: Bytes::new(),
        };
        assert!(fatal.is_fatal_for_batch());
        assert_eq!(never.task(), Some(&t()));
        assert_eq!(fatal.kind().as_str(), "insufficient_credits");
    }
}
