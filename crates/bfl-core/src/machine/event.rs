//! What the machine tells its driver: the next [`Action`], and [`TaskEvent`]s to act on.

use crate::api::Status;
use crate::error::Phase;
use crate::task::{SubmittedTask, TaskOutcome};
use crate::transport::Transmit;
use std::time::{Duration, Instant};

/// What the driver must do next. Every answer ends in a wait or a request, so a driver cannot
/// forget to come back.
#[derive(Debug)]
pub enum Action {
    /// Send this request (to a file, when it says so), then feed back the answer.
    Send(Transmit),
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
    },
    /// The task is terminal on the server: its active slot is free.
    Terminal(Status),
}
