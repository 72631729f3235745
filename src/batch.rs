//! `bfl batch`: a file of prompts to images, as fast as the key's active-task limit allows, with a
//! durable [`Journal`] so a crash never costs a paid image and a resume never pays twice.
//!
//! Each job's image goes to `OUT/NNNN-slug.EXT` as soon as it is `Ready`. On resume every job
//! continues from where the journal left it: done jobs are skipped, submitted ones are polled
//! again (never resubmitted), failures worth retrying are retried, and jobs in the ambiguous
//! window are reported, not resubmitted, unless [`BatchOptions::resubmit_ambiguous`] says so.

use crate::input::InputJob;
use crate::journal::{Header, ItemState, Journal, JournalError, Record, SubmittedRef};
use crate::progress::{Counters, Progress};
use crate::summary::{BatchSummary, ItemResult, ItemSummary};
use bfl_core::batch::BatchObserver;
use bfl_core::machine::{Start, StopAfter};
use bfl_core::task::Finished;
use bfl_core::transport::DownloadedFile;
use bfl_core::{Client, GenerationRequest, Image, Job, TaskError, TaskEvent, TaskOutcome, TaskRef};
use futures_util::StreamExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// How to run a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOptions {
    /// Where images go.
    pub out_dir: PathBuf,
    /// The journal (default `OUT/bfl-journal.jsonl`).
    pub journal: Option<PathBuf>,
    /// Continue the batch its journal records.
    pub resume: bool,
    /// On resume, submit again the jobs whose submit may have reached the server before a crash.
    pub resubmit_ambiguous: bool,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

impl BatchOptions {
    /// The journal's path.
    pub fn journal_path(&self) -> PathBuf {
        self.journal
            .clone()
            .unwrap_or_else(|| self.out_dir.join("bfl-journal.jsonl"))
    }
}

/// Why a batch could not run.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The journal cannot be created, read or trusted.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The output directory cannot be created.
    #[error("cannot create the output directory {path}: {source}")]
    OutputDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Runs (or resumes) a batch of `jobs` read from `input` (whose text has `fingerprint`).
pub async fn run(
    client: &Client,
    input: &str,
    fingerprint: &str,
    jobs: &[InputJob],
    opts: &BatchOptions,
) -> Result<BatchSummary, BatchError> {
    std::fs::create_dir_all(&opts.out_dir).map_err(|source| BatchError::OutputDir {
        path: opts.out_dir.clone(),
        source,
    })?;
    let header = Header {
        input: input.to_owned(),
        fingerprint: fingerprint.to_owned(),
        jobs: jobs.len(),
    };
    let path = opts.journal_path();
    let (journal, states) = if opts.resume && path.exists() {
        let (journal, replay) = Journal::open(&path, &header)?;
        if replay.torn_tail {
            tracing::warn!(journal = %path.display(), "cut off a torn last record (a crash mid-write)");
        }
        (journal, replay.states)
    } else {
        if opts.resume {
            tracing::info!(journal = %path.display(), "no journal yet: starting the batch");
        }
        (
            Journal::create(&path, &header)?,
            vec![ItemState::New; jobs.len()],
        )
    };

    let plan = plan(jobs, &states, &opts.out_dir, opts.resubmit_ambiguous);
    let recorder = Arc::new(Recorder {
        journal,
        counters: Counters::default(),
        progress: Progress::new(plan.to_run.len() as u64, opts.progress),
        journal_errors: Mutex::default(),
    });
    // Resumed tasks were submitted by an earlier run: they count as active until terminal.
    recorder
        .counters
        .submitted
        .fetch_add(plan.resumed as u64, std::sync::atomic::Ordering::Relaxed);

    let rt = client.runtime();
    let started = rt.now();
    let run_count = plan.to_run.len();
    let mut stream =
        client.batch_with(plan.to_run, Arc::clone(&recorder) as Arc<dyn BatchObserver>);
    let mut summary = BatchSummary {
        jobs: jobs.len(),
        run: run_count,
        out_dir: opts.out_dir.clone(),
        journal: path.clone(),
        ..BatchSummary::default()
    };
    let mut items = plan.settled;
    let mut time_to_result = Vec::new();
    let mut polls = 0u64;
    while let Some(item) = stream.next().await {
        let report = &item.outcome.report;
        summary.submits += u64::from(report.submits);
        polls += u64::from(report.polls);
        summary.rate_limited += u64::from(report.rate_limited);
        summary.retries += u64::from(report.retries);
        let result = match &item.outcome.result {
            Ok(finished) => {
                time_to_result.push(report.elapsed.as_secs_f64());
                summary.images_written += 1;
                ItemResult::Done {
                    path: written_file(finished)
                        .map(|f| f.path.clone())
                        .unwrap_or_default(),
                    earlier: false,
                }
            }
            Err(e) => {
                if e.is_fatal_for_batch() && summary.stopped.is_none() {
                    summary.stopped = Some(e.to_string());
                }
                failure(e)
            }
        };
        items.push(ItemSummary {
            index: item.index,
            line: jobs.get(item.index).map_or(0, |j| j.line),
            result,
        });
    }
    recorder.progress.finish();
    summary.makespan_s = rt.now().duration_since(started).as_secs_f64();
    summary.polls_per_job = if run_count == 0 {
        0.0
    } else {
        polls as f64 / run_count as f64
    };
    summary.mean_time_to_result_s = (!time_to_result.is_empty())
        .then(|| time_to_result.iter().sum::<f64>() / time_to_result.len() as f64);
    items.sort_by_key(|i| i.index);
    for item in &items {
        match &item.result {
            ItemResult::Done { earlier: true, .. } => summary.already_done += 1,
            ItemResult::Done { .. } => {}
            ItemResult::Failed { kind, .. } => {
                *summary.failed.entry(kind.clone()).or_default() += 1
            }
            ItemResult::Ambiguous => summary.ambiguous += 1,
        }
    }
    summary.items = items;
    summary.journal_errors = recorder
        .journal_errors
        .lock()
        .map(|e| e.clone())
        .unwrap_or_default();
    Ok(summary)
}

/// What to run, and what is already settled.
struct Plan {
    to_run: Vec<(usize, Job)>,
    settled: Vec<ItemSummary>,
    /// Jobs submitted by an earlier run, polled again now.
    resumed: usize,
}

fn plan(jobs: &[InputJob], states: &[ItemState], out_dir: &Path, resubmit_ambiguous: bool) -> Plan {
    let mut plan = Plan {
        to_run: Vec::new(),
        settled: Vec::new(),
        resumed: 0,
    };
    for (index, job) in jobs.iter().enumerate() {
        let dest = image_path(out_dir, index, job);
        let submit = || Job::generate(job.request.clone()).to_file(dest.clone());
        let poll = |t: &SubmittedRef| Job {
            start: Start::Poll {
                task: TaskRef {
                    id: t.id.clone(),
                    polling_url: t.polling_url.clone(),
                },
                model: t.model.clone(),
            },
            stop_after: StopAfter::Downloaded,
            download_to: Some(dest.clone()),
        };
        let settled = |result| ItemSummary {
            index,
            line: job.line,
            result,
        };
        match states.get(index).unwrap_or(&ItemState::New) {
            ItemState::New => plan.to_run.push((index, submit())),
            ItemState::Ambiguous if resubmit_ambiguous => plan.to_run.push((index, submit())),
            ItemState::Ambiguous => plan.settled.push(settled(ItemResult::Ambiguous)),
            ItemState::Submitted(t)
            | ItemState::Failed {
                retry: true,
                submitted: Some(t),
                ..
            } => {
                plan.resumed += 1;
                plan.to_run.push((index, poll(t)));
            }
            ItemState::Failed {
                retry: true,
                submitted: None,
                ..
            } => plan.to_run.push((index, submit())),
            ItemState::Done { path } => plan.settled.push(settled(ItemResult::Done {
                path: path.clone(),
                earlier: true,
            })),
            ItemState::Failed {
                kind,
                message,
                submitted,
                ..
            } => plan.settled.push(settled(ItemResult::Failed {
                kind: kind.clone(),
                message: message.clone(),
                id: submitted.as_ref().map(|t| t.id.clone()),
                retry: false,
            })),
        }
    }
    plan
}

/// `OUT/NNNN-slug.EXT`: sorted like the input, readable, and unique per job.
pub fn image_path(out_dir: &Path, index: usize, job: &InputJob) -> PathBuf {
    let slug = prompt_slug(&job.request);
    let ext = job.request.effective_output_format().extension();
    let name = if slug.is_empty() {
        format!("{:04}.{ext}", index + 1)
    } else {
        format!("{:04}-{slug}.{ext}", index + 1)
    };
    out_dir.join(name)
}

/// A file-name fragment from a request's prompt: lowercase letters and digits (of any script, so
/// `東京の夜` stays a name), other runs as one `-`, at most 40 characters; empty without a prompt.
pub fn prompt_slug(req: &GenerationRequest) -> String {
    let prompt = req
        .body()
        .get("prompt")
        .and_then(|p| p.as_str())
        .unwrap_or("");
    let mut slug = String::new();
    for c in prompt.chars() {
        if slug.chars().count() >= 40 {
            break;
        }
        if c.is_alphanumeric() {
            slug.extend(c.to_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

/// Where a finished job's image was streamed.
fn written_file(finished: &Finished) -> Option<&DownloadedFile> {
    match finished {
        Finished::Downloaded(out) => match &out.image {
            Image::File(f) => Some(f),
            Image::Memory(_) => None,
        },
        _ => None,
    }
}

/// What a resume does with a job that ended in an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnResume {
    /// Try again: poll it if it was submitted, else submit it. Includes a batch stopped for
    /// credits or a key, which the user can fix before resuming.
    Retry,
    /// Leave it: the submit may have been accepted without a usable answer (see
    /// `TaskError::may_have_been_accepted`); only `--resubmit-ambiguous` pays again.
    Ambiguous,
    /// Leave it: it will not succeed (moderated, failed, invalid…).
    Final,
}

impl OnResume {
    fn of(e: &TaskError) -> OnResume {
        if e.may_have_been_accepted() {
            OnResume::Ambiguous
        } else if e.is_retryable() || e.is_fatal_for_batch() {
            OnResume::Retry
        } else {
            OnResume::Final
        }
    }
}

/// How a job that ended in `e` appears in the summary.
fn failure(e: &TaskError) -> ItemResult {
    match OnResume::of(e) {
        OnResume::Ambiguous => ItemResult::Ambiguous,
        on_resume => ItemResult::Failed {
            kind: e.kind().to_string(),
            message: e.to_string(),
            id: e.task_id().map(str::to_owned),
            retry: on_resume == OnResume::Retry,
        },
    }
}

/// The batch observer: journals every step durably and keeps the progress bar current.
struct Recorder {
    journal: Journal,
    counters: Counters,
    progress: Progress,
    journal_errors: Mutex<Vec<String>>,
}

impl Recorder {
    fn write(&self, record: &Record) {
        if let Err(e) = self.journal.append(record) {
            // The batch goes on (stopping would abandon paid tasks in flight); the summary says
            // the run was not crash-safe, and the record itself is logged so nothing is lost.
            tracing::error!(error = %e, ?record, "journal write failed");
            if let Ok(mut errors) = self.journal_errors.lock() {
                errors.push(format!("{e} (record: {record:?})"));
            }
        }
    }
}

impl BatchObserver for Recorder {
    fn on_event(&self, index: usize, event: &TaskEvent) {
        match event {
            TaskEvent::Submitting => self.write(&Record::Submitting { index }),
            TaskEvent::Submitted(t) => {
                self.write(&Record::Submitted {
                    index,
                    id: t.task.id.clone(),
                    polling_url: t.task.polling_url.clone(),
                    model: t.model.clone(),
                });
                Counters::bump(&self.counters.submitted);
            }
            TaskEvent::RateLimited { .. } => Counters::bump(&self.counters.rate_limited),
            TaskEvent::Terminal(_) => Counters::bump(&self.counters.terminal),
            _ => return,
        }
        self.progress.update(&self.counters);
    }

    fn on_finished(&self, index: usize, outcome: &TaskOutcome) {
        match &outcome.result {
            Ok(finished) => {
                if let Some(file) = written_file(finished) {
                    self.write(&Record::Done {
                        index,
                        path: file.path.clone(),
                        bytes: file.len,
                    });
                }
                Counters::bump(&self.counters.done);
            }
            Err(e) => {
                self.write(&Record::Failed {
                    index,
                    kind: e.kind().to_string(),
                    message: e.to_string(),
                    retry: OnResume::of(e) == OnResume::Retry,
                    ambiguous: OnResume::of(e) == OnResume::Ambiguous,
                });
                Counters::bump(&self.counters.failed);
            }
        }
        self.progress.update(&self.counters);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_sort_like_the_input_and_read_like_the_prompt() {
        let job = |body: &str| InputJob {
            line: 1,
            request: crate::input::parse_jobs(body, &crate::input::Defaults::new("flux-2-pro"))
                .unwrap()
                .remove(0)
                .request,
        };
        let fox = job("  A red FOX, in snow!  ");
        assert_eq!(prompt_slug(&fox.request), "a-red-fox-in-snow");
        assert_eq!(prompt_slug(&job("東京の夜, Été").request), "東京の夜-été");
        assert_eq!(
            image_path(Path::new("out"), 6, &fox),
            Path::new("out/0007-a-red-fox-in-snow.jpeg")
        );
        let unnamed = job(r#"{"model": "flux-pro-1.1", "output_format": "png"}"#);
        assert_eq!(prompt_slug(&unnamed.request), "");
        assert_eq!(
            image_path(Path::new("o"), 0, &unnamed),
            Path::new("o/0001.png")
        );
    }
}
