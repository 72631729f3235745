//! What a [`TaskError`] says to a user: one sentence per kind, server text sanitized.

use super::{ErrorKind, TaskError};
use crate::api::Status;
use serde_json::Value;
use std::fmt;

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &*self.inner;
        let phase = c.phase;
        let detail = |fallback: &'static str| c.detail.as_deref().unwrap_or(fallback).to_owned();
        if let Some(said) = self.fmt_exchange(f) {
            return said;
        }
        match c.kind {
            ErrorKind::RequestModerated => f.write_str(
                "request moderated: the input was flagged before generation (not charged)",
            ),
            ErrorKind::ContentModerated => f.write_str(
                "content moderated: the image was flagged after generation (not charged)",
            ),
            ErrorKind::GenerationFailed => {
                let status = c.status.as_ref().map(Status::as_str).unwrap_or_default();
                let suffix = details_suffix(c.details.as_ref());
                write!(f, "generation failed with status {}{suffix}", shown(status))
            }
            ErrorKind::TaskNotFound => write!(
                f,
                "task {} not found: unknown id, or the task aged out",
                shown(self.task_id().unwrap_or_default())
            ),
            ErrorKind::ResultExpired => write!(
                f,
                "the result URL expired at unix time {:.0} before it was downloaded",
                c.expired_at.unwrap_or_default()
            ),
            ErrorKind::DeadlineExceeded => {
                let last = c.status.as_ref().map(Status::as_str).unwrap_or("none");
                let deadline = c.deadline.unwrap_or_default();
                write!(
                    f,
                    "deadline of {deadline:?} exceeded during {phase} (last status: {})",
                    shown(last)
                )
            }
            ErrorKind::GaveUp => write!(
                f,
                "gave up after {} polls (the strategy's attempt cap or time budget)",
                c.attempts
            ),
            ErrorKind::ForeignPollingUrl => write!(
                f,
                "refused to poll {}: its host is not an allowed API host, and the key must not go there",
                shown(c.task.as_ref().map(|t| t.polling_url.as_str()).unwrap_or_default())
            ),
            ErrorKind::NotSubmitted => write!(f, "not submitted: {}", detail("")),
            ErrorKind::Internal => write!(f, "internal error during {phase}: {}", detail("")),
            // An HTTP exchange's kind, said above.
            _ => Ok(()),
        }
    }
}

impl TaskError {
    /// What the kinds of a failed HTTP exchange (a refusal, a fault, a throttle) say; `None`
    /// for the other kinds.
    fn fmt_exchange(&self, f: &mut fmt::Formatter<'_>) -> Option<fmt::Result> {
        let c = &*self.inner;
        let phase = c.phase;
        let http = c.http_status.unwrap_or_default();
        let detail = |fallback: &'static str| c.detail.as_deref().unwrap_or(fallback).to_owned();
        Some(match c.kind {
            ErrorKind::RateLimited => {
                write!(f, "rate limited (429) {} times during {phase}", c.attempts)
            }
            ErrorKind::Unauthorized => {
                write!(
                    f,
                    "unauthorized ({http}): {}",
                    detail("the API key was refused")
                )
            }
            ErrorKind::InsufficientCredits => {
                write!(
                    f,
                    "insufficient credits (402): {}",
                    detail("top up the account")
                )
            }
            ErrorKind::Validation => {
                write!(f, "invalid request (422): {}", detail("validation failed"))
            }
            ErrorKind::BadRequest => write!(
                f,
                "request refused ({http}) during {phase}: {}",
                detail("no detail")
            ),
            ErrorKind::Server => write!(
                f,
                "server error {http} during {phase} after {} attempts",
                c.attempts
            ),
            ErrorKind::Transport => match &c.source {
                Some(source) => write!(
                    f,
                    "transport failure during {phase} after {} attempts: {source}",
                    c.attempts
                ),
                None => write!(f, "transport failure during {phase}"),
            },
            ErrorKind::MalformedResponse => {
                write!(f, "malformed answer during {phase}: {}", shown(&detail("")))
            }
            ErrorKind::DownloadRejected => {
                write!(f, "the delivery host refused the download with {http}")
            }
            _ => return None,
        })
    }
}

fn details_suffix(details: Option<&Value>) -> String {
    match details {
        Some(Value::Null) | None => String::new(),
        Some(v) => format!(": {}", shown(&v.to_string())),
    }
}

/// Server text in an error's words (see [`crate::server_text`]).
fn shown(text: &str) -> String {
    crate::sanitize::server_text(text)
}
