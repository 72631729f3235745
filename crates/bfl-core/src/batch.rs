//! Many jobs under the key's active-task limit, as a stream of results in completion order.
//!
//! Every job holds a slot of the client's [`ActiveLimiter`](crate::limiter::ActiveLimiter) from
//! its submit until it is terminal, and is downloaded as soon as it is `Ready` (the slot is already
//! free by then, so the next job starts while the image downloads). One job's failure never stops
//! the others; a failure that no job of the key can get past (401/403, 402) stops new submits at
//! once — jobs already submitted still run to the end, since they are paid for.

use crate::client::{task_seed, Client, Hooks};
use crate::error::TaskError;
use crate::machine::{Job, TaskEvent};
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
/// Called on the task's own thread before its next request goes out: in particular,
/// [`TaskEvent::Submitted`] arrives before the first poll, so an implementation that writes it to
/// disk and flushes before returning guarantees that no paid task is ever forgotten.
pub trait BatchObserver: Send + Sync {
    /// An event of job `index`.
    fn on_event(&self, index: usize, event: &TaskEvent);
    /// Job `index` finished (also delivered as a stream item).
    fn on_finished(&self, _index: usize, _outcome: &TaskOutcome) {}
}

/// An observer that does nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl BatchObserver for NoObserver {
    fn on_event(&self, _index: usize, _event: &TaskEvent) {}
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
        self.batch_with(jobs.into_iter().enumerate(), Arc::new(NoObserver))
    }

    /// Like [`Client::batch`], with explicit indices (a resumed batch keeps its original ones)
    /// and an observer.
    pub fn batch_with<'a, I>(
        &self,
        jobs: I,
        observer: Arc<dyn BatchObserver>,
    ) -> impl Stream<Item = BatchItem> + Send + 'a
    where
        I: IntoIterator<Item = (usize, Job)>,
        I::IntoIter: Send + 'a,
    {
        let client = self.clone();
        let halted: Arc<std::sync::Mutex<Option<Arc<TaskError>>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        // Enough jobs in progress to keep every slot busy while finished ones download.
        let width = 2 * self.max_active_hint();
        futures_util::stream::iter(jobs)
            .map(move |(index, job)| {
                let client = client.clone();
                let observer = Arc::clone(&observer);
                let halted = Arc::clone(&halted);
                let stop = Arc::clone(&stop);
                async move {
                    let outcome = run_item(&client, index, job, &*observer, &halted, &stop).await;
                    observer.on_finished(index, &outcome);
                    BatchItem { index, outcome }
                }
            })
            .buffer_unordered(width.max(2))
    }
}

async fn run_item(
    client: &Client,
    index: usize,
    job: Job,
    observer: &dyn BatchObserver,
    halted: &std::sync::Mutex<Option<Arc<TaskError>>>,
    stop: &AtomicBool,
) -> TaskOutcome {
    let seed = task_seed(client.seed(), index as u64);
    let mut on_event = |e: &TaskEvent| observer.on_event(index, e);
    let hooks = Hooks {
        halt: Some(stop),
        on_event: &mut on_event,
    };
    let mut outcome = client.run_hooked(job, seed, hooks).await;
    if let Err(TaskError::NotSubmitted { reason }) = &mut outcome.result {
        if let Some(cause) = halted.lock().ok().and_then(|h| h.clone()) {
            *reason = format!("the batch stopped after: {cause}");
        }
    }
    if let Err(e) = &outcome.result {
        if e.is_fatal_for_batch() && !stop.swap(true, Ordering::AcqRel) {
            tracing::error!(error = %e, "stopping the batch: no further job can succeed");
            if let Ok(mut h) = halted.lock() {
                *h = Some(Arc::new(e.clone()));
            }
        }
    }
    outcome
}
