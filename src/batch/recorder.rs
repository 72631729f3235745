//! The batch's observer: every money record on disk before the engine goes on, the progress bar
//! kept current, and what a resume should do with each failure.

use crate::batch::journal::{Journal, Record};
use crate::progress::{Counters, Progress};
use bfl_core::transport::DownloadedFile;
use bfl_core::Finished;
use bfl_core::Phase;
use bfl_core::{BatchObserver, Image, RecordError, TaskError, TaskEvent, TaskOutcome};
use std::sync::Mutex;

/// What a resume does with a job that ended in an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnResume {
    /// Try again: poll it if it was submitted, else submit it. Includes a batch stopped for
    /// credits, a key, an interrupt or a full disk, which the user can fix before resuming.
    Retry,
    /// Leave it: the submit may have been accepted without a usable answer (see
    /// `TaskError::may_have_been_accepted`); only `--resubmit-ambiguous` pays again.
    Ambiguous,
    /// Leave it: it will not succeed as it is (moderated, failed, invalid…); `--retry-failed`
    /// submits the ones a new try can fix.
    Final,
}

impl OnResume {
    /// The decision for `e`.
    pub fn of(e: &TaskError) -> OnResume {
        if e.may_have_been_accepted() {
            OnResume::Ambiguous
        } else if e.is_retryable() || e.is_fatal_for_batch() {
            OnResume::Retry
        } else {
            OnResume::Final
        }
    }
}

/// Journals every step durably and keeps the progress bar current.
pub struct Recorder {
    /// The journal.
    pub journal: Journal,
    /// Live counts.
    pub counters: Counters,
    /// The bar.
    pub progress: Progress,
    /// Records that could not be written.
    pub journal_errors: Mutex<Vec<String>>,
}

impl Recorder {
    async fn write(&self, record: &Record) -> Result<(), RecordError> {
        self.journal.append(record).await.map_err(|e| {
            // The record itself is logged (it holds no secret) so that nothing is lost.
            tracing::error!(error = %e, ?record, "journal write failed");
            let message = format!("{e} (record: {record:?})");
            if let Ok(mut errors) = self.journal_errors.lock() {
                errors.push(message);
            }
            RecordError(e.to_string())
        })
    }
}

/// Where a finished job's image was streamed.
pub fn written_file(finished: &Finished) -> Option<&DownloadedFile> {
    match finished {
        Finished::Downloaded(out) => match &out.image {
            Image::File(f) => Some(f),
            Image::Memory(_) => None,
        },
        _ => None,
    }
}

#[async_trait::async_trait]
impl BatchObserver for Recorder {
    async fn on_event(&self, index: usize, event: &TaskEvent) -> Result<(), RecordError> {
        let recorded = match event {
            TaskEvent::Submitting => self.write(&Record::Submitting { index }).await,
            TaskEvent::RateLimited {
                phase: Phase::Submit,
                ..
            } => {
                Counters::bump(&self.counters.rate_limited);
                let reason = "rate limited (429): not taken".to_owned();
                self.write(&Record::Refused { index, reason }).await
            }
            TaskEvent::Submitted(t) => {
                let recorded = self
                    .write(&Record::Submitted {
                        index,
                        task: t.clone(),
                    })
                    .await;
                Counters::bump(&self.counters.submitted);
                recorded
            }
            TaskEvent::RateLimited { .. } => {
                Counters::bump(&self.counters.rate_limited);
                Ok(())
            }
            TaskEvent::Terminal(_) => {
                Counters::bump(&self.counters.terminal);
                Ok(())
            }
            _ => return Ok(()),
        };
        self.progress.update(&self.counters);
        recorded
    }

    async fn on_finished(&self, index: usize, outcome: &TaskOutcome) {
        match &outcome.result {
            Ok(finished) => {
                if let Some(file) = written_file(finished) {
                    let record = Record::Done {
                        index,
                        path: file.path.clone(),
                        bytes: file.len,
                    };
                    let _ = self.write(&record).await;
                }
                Counters::bump(&self.counters.done);
            }
            Err(e) => {
                let on_resume = OnResume::of(e);
                let record = Record::Failed {
                    index,
                    kind: e.kind(),
                    message: e.to_string(),
                    retry: on_resume == OnResume::Retry,
                    ambiguous: on_resume == OnResume::Ambiguous,
                };
                let _ = self.write(&record).await;
                Counters::bump(&self.counters.failed);
            }
        }
        self.progress.update(&self.counters);
    }
}
