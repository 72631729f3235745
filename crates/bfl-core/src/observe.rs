//! What a caller attaches to a task's run: an observer the driver **awaits** on every event, so a
//! journal can make a submit's intent durable before the POST leaves and the task id durable
//! before the first poll.

use crate::machine::TaskEvent;
use std::sync::atomic::AtomicBool;

/// An observer could not record an event (for a journal: the disk is full, or the write failed).
///
/// On [`TaskEvent::Submitting`] the driver then does not send the submit: the task ends
/// [`ErrorKind::NotSubmitted`](crate::ErrorKind::NotSubmitted) and the halt flag is raised, so no
/// other task of a batch pays for work that could not be recorded. On any later event the task is
/// already paid for: the driver goes on (abandoning it would lose the image) and still raises the
/// halt flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RecordError(pub String);

/// Sees every [`TaskEvent`] of a task, in order; the driver awaits each call before it goes on.
///
/// [`TaskEvent::Submitting`] arrives once a slot is held and just before the submit is sent;
/// [`TaskEvent::Submitted`] before the first poll. An implementation that returns only once the
/// event is on disk guarantees that no paid task is ever forgotten.
#[async_trait::async_trait]
pub trait TaskObserver: Send + Sync {
    /// Records one event.
    async fn on_event(&self, event: &TaskEvent) -> Result<(), RecordError>;
}

/// An observer that records nothing.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct NoObserver;

#[async_trait::async_trait]
impl TaskObserver for NoObserver {
    async fn on_event(&self, _event: &TaskEvent) -> Result<(), RecordError> {
        Ok(())
    }
}

/// What a caller may attach to a task's run.
#[derive(Clone, Copy)]
pub struct Hooks<'a> {
    /// When set (by another task's 402/403, a failed journal write, an interrupt), submits are
    /// not sent: the task ends `NotSubmitted`. The driver raises it itself when a record fails.
    pub halt: Option<&'a AtomicBool>,
    /// Sees every event, awaited.
    pub observer: &'a dyn TaskObserver,
}

impl Hooks<'_> {
    /// No halt flag, no observer.
    pub fn none() -> Hooks<'static> {
        Hooks {
            halt: None,
            observer: &NoObserver,
        }
    }
}

impl std::fmt::Debug for Hooks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks").field("halt", &self.halt).finish()
    }
}
