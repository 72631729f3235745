//! Many jobs under the key's active-task limit, as a stream of results in completion order.
//!
//! Every job holds a slot of the client's [`ActiveLimiter`](crate::limiter::ActiveLimiter) from
//! its submit until it is terminal, and is downloaded as soon as it is `Ready` (the slot is already
//! free by then, so the next job starts while the image downloads). One job's failure never stops
//! the others; a failure that no job of the key can get past (401/403, 402) stops new submits at
//! once — jobs already submitted still run to the end, since they are paid for.

use crate::client::{task_seed, Client};
use crate::error::{ErrorKind, TaskError};
use crate::machine::{Job, TaskEvent};
use crate::observe::{Hooks, RecordError, TaskObserver};
use crate::task::TaskOutcome;
use futures_core::Stream;
use futures_util::StreamExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// One finished job of a batch.
#[derive(Debug, Clone)]
pub struct BatchItem {
    /// The job's position in the input.
    pub index: usize,
    /// How it ended, with its report.
    pub outcome: TaskOutcome,
}

/// Sees every job's events as they happen — the hook for a durable journal and progress bars.
///
/// Each call is awaited before the job goes on: [`TaskEvent::Submitting`] before its submit is
/// sent, [`TaskEvent::Submitted`] before its first poll. An implementation that returns once the
/// record is on disk guarantees that no submit leaves before its intent is durable and no paid task
/// is ever forgotten; one that fails stops the batch's new submits (see [`RecordError`]).
#[async_trait::async_trait]
pub trait BatchObserver: Send + Sync {
    /// An event of job `index`.
    async fn on_event(&self, index: usize, event: &TaskEvent) -> Result<(), RecordError>;
    /// Job `index` finished (also delivered as a stream item, after this returns).
    async fn on_finished(&self, _index: usize, _outcome: &TaskOutcome) {}
}

/// An observer that does nothing.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct NoObserver;

#[async_trait::async_trait]
impl BatchObserver for NoObserver {
    async fn on_event(&self, _index: usize, _event: &TaskEvent) -> Result<(), RecordError> {
        Ok(())
    }
}

/// Stops a batch's new submits from outside (an interrupt, a full disk): jobs not yet submitted
/// end `NotSubmitted` with the reason given; jobs already submitted run to the end, since they
/// are paid for. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct StopHandle {
    flag: Arc<AtomicBool>,
    reason: Arc<std::sync::Mutex<Option<String>>>,
}

impl StopHandle {
    /// A handle that has not stopped anything yet.
    pub fn new() -> StopHandle {
        StopHandle::default()
    }

    /// Stops new submits, for `reason` (the first reason given is kept).
    pub fn stop(&self, reason: impl Into<String>) {
        if let Ok(mut r) = self.reason.lock() {
            r.get_or_insert_with(|| reason.into());
        }
        self.flag.store(true, Ordering::Release);
    }

    /// Whether new submits are stopped.
    pub fn is_stopped(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Why, once stopped.
    pub fn reason(&self) -> Option<String> {
        self.reason.lock().ok().and_then(|r| r.clone())
    }
}

impl Client {
    /// Runs `jobs` as a batch; results arrive as jobs finish, each with its input index.
    ///
    /// Job `i` uses the seed `task_seed(client_seed, i)`, so a batch's schedule does not depend on
    /// which job finishes first. The iterator may borrow (the stream then lives as long as it
    /// does). The stream is a [`futures_core::Stream`]: `.next().await` comes from
    /// `futures::StreamExt` (or `futures_util::StreamExt`), and it must be pinned first.
    ///
    /// ```no_run
    /// use futures_util::StreamExt; // or `futures::StreamExt`
    /// use bfl_core::{GenerationRequest, Job};
    ///
    /// # async fn demo(client: bfl_core::Client) {
    /// let prompts = vec!["a red fox in snow".to_owned(), "a cat on a roof".to_owned()];
    /// let jobs = prompts
    ///     .iter()
    ///     .map(|p| Job::generate(GenerationRequest::new("flux-2-pro", p.as_str())));
    /// let mut results = std::pin::pin!(client.batch(jobs));
    /// while let Some(item) = results.next().await {
    ///     match item.outcome.result {
    ///         Ok(_) => println!("{}: done", prompts[item.index]),
    ///         Err(e) => eprintln!("{}: {e}", prompts[item.index]),
    ///     }
    /// }
    /// # }
    /// ```
    pub fn batch<'a, I>(&self, jobs: I) -> impl Stream<Item = BatchItem> + Send + 'a
    where
        I: IntoIterator<Item = Job>,
        I::IntoIter: Send + 'a,
    {
        self.batch_with(
            jobs.into_iter().enumerate(),
            Arc::new(NoObserver),
            StopHandle::new(),
        )
    }

    /// Like [`Client::batch`], with explicit indices (a resumed batch keeps its original ones),
    /// an observer, and a handle that stops new submits.
    pub fn batch_with<'a, I>(
        &self,
        jobs: I,
        observer: Arc<dyn BatchObserver>,
        stop: StopHandle,
    ) -> impl Stream<Item = BatchItem> + Send + 'a
    where
        I: IntoIterator<Item = (usize, Job)>,
        I::IntoIter: Send + 'a,
    {
        let client = self.clone();
        // Enough jobs in progress to keep every slot busy while finished ones download.
        let width = 2 * self.max_active_hint();
        futures_util::stream::iter(jobs)
            .map(move |(index, job)| {
                let client = client.clone();
                let observer = Arc::clone(&observer);
                let stop = stop.clone();
                async move {
                    let outcome = run_item(&client, index, job, &*observer, &stop).await;
                    observer.on_finished(index, &outcome).await;
                    BatchItem { index, outcome }
                }
            })
            .buffer_unordered(width.max(2))
    }
}

/// Job `index`'s events, for its observer.
struct ItemObserver<'a> {
    index: usize,
    inner: &'a dyn BatchObserver,
    stop: &'a StopHandle,
}

#[async_trait::async_trait]
impl TaskObserver for ItemObserver<'_> {
    async fn on_event(&self, event: &TaskEvent) -> Result<(), RecordError> {
        let recorded = self.inner.on_event(self.index, event).await;
        if let Err(e) = &recorded {
            self.stop
                .stop(format!("an event could not be recorded: {e}"));
        }
        recorded
    }
}

async fn run_item(
    client: &Client,
    index: usize,
    job: Job,
    observer: &dyn BatchObserver,
    stop: &StopHandle,
) -> TaskOutcome {
    let seed = task_seed(client.seed(), index as u64);
    let observer = ItemObserver {
        index,
        inner: observer,
        stop,
    };
    let hooks = Hooks {
        halt: Some(&stop.flag),
        observer: &observer,
    };
    let mut outcome = client.run_hooked(job, seed, hooks).await;
    if let Err(e) = &outcome.result {
        if (e.is_fatal_for_batch() || e.is_local_write_failure()) && !stop.is_stopped() {
            tracing::error!(error = %e, "stopping the batch: no further job can succeed");
            stop.stop(e.to_string());
        }
    }
    if let Err(e) = &mut outcome.result {
        if let (ErrorKind::NotSubmitted, Some(cause)) = (e.kind(), stop.reason()) {
            *e = TaskError::not_submitted(format!("the batch stopped after: {cause}"));
        }
    }
    outcome
}
