//! `bfl batch`: a file of prompts to images, as fast as the key's active-task limit allows, with a
//! durable [`Journal`] so a crash never costs a paid image and a resume never pays twice.
//!
//! Each job's image goes to `OUT/NNNN-slug.EXT` as soon as it is `Ready`. On resume every job
//! continues from where the journal left it: done jobs are skipped (or fetched again if the image
//! is gone), submitted ones are polled again (never resubmitted), failures worth retrying are
//! retried, and jobs in the ambiguous window are reported, not resubmitted, unless
//! [`BatchOptions::resubmit_ambiguous`] says so.
//!
//! Rooms: [`input`] (the prompts file), [`journal`] (the durable record), [`plan`] (what a run
//! does with each job), [`naming`] (file names), [`recorder`] (the journaling observer),
//! [`summary`] (what the run tells); this module runs the stream and answers interrupts.

pub mod input;
pub mod journal;
pub mod naming;
pub mod plan;
pub mod recorder;
pub mod summary;

pub use naming::{image_path, prompt_slug};

use crate::progress::{Counters, Progress};
use bfl_core::{BatchItem, BatchObserver, Client, StopHandle, TaskError};
use futures_util::StreamExt;
use input::InputJob;
use journal::{Header, ItemState, Journal, JournalError};
use recorder::{written_file, OnResume, Recorder};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use summary::{BatchSummary, ItemResult, ItemSummary, UnfinishedTask};

/// How to run a batch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchOptions {
    /// Where images go.
    pub out_dir: PathBuf,
    /// The journal (default `OUT/bfl-journal.jsonl`).
    pub journal: Option<PathBuf>,
    /// Continue the batch its journal records (an error if there is none).
    pub resume: bool,
    /// On resume, submit again the jobs whose submit may have reached the server before a crash.
    pub resubmit_ambiguous: bool,
    /// On resume, submit again the jobs that ended in a failure a new try may fix (pays again).
    pub retry_failed: bool,
    /// On resume, accept a journal written against another API base.
    pub allow_new_base: bool,
    /// Whether the client talks to the embedded simulator (whose tasks die with the process).
    pub sim: bool,
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
    /// The journal was written against another API base: its tasks live there.
    #[error("the journal {journal} was written against {was}, but this run uses {now}: resume with --base-url {was}, or pass --allow-new-base if both name the same server")]
    BaseChanged {
        /// The journal.
        journal: PathBuf,
        /// Its base.
        was: String,
        /// This run's base.
        now: String,
    },
}

/// Interrupts (Ctrl-C) as they arrive; `None` never interrupts.
pub type Interrupts = Option<tokio::sync::mpsc::UnboundedReceiver<()>>;

/// Runs (or resumes) a batch of `jobs` read from `input` (whose text has `fingerprint`).
///
/// The first interrupt stops new submits and lets the paid tasks in flight finish; the second
/// stops at once (every record already on disk) and lists each unfinished task.
pub async fn run(
    client: &Client,
    input: &str,
    fingerprint: &str,
    jobs: &[InputJob],
    opts: &BatchOptions,
    mut interrupts: Interrupts,
) -> Result<BatchSummary, BatchError> {
    std::fs::create_dir_all(&opts.out_dir).map_err(|source| BatchError::OutputDir {
        path: opts.out_dir.clone(),
        source,
    })?;
    let header = Header {
        input: input.to_owned(),
        fingerprint: fingerprint.to_owned(),
        jobs: jobs.len(),
        base_url: Some(client.config().base.to_string()),
        sim: opts.sim,
    };
    let path = opts.journal_path();
    let (journal, states, sim_restarted) = open_journal(&path, &header, opts)?;
    let plan = plan::plan(jobs, &states, opts);
    announce(&plan, sim_restarted);
    let recorder = Arc::new(Recorder {
        journal,
        counters: Counters::default(),
        progress: Progress::new(plan.to_run.len() as u64, opts.progress),
        journal_errors: Mutex::default(),
    });
    let mut summary = BatchSummary {
        jobs: jobs.len(),
        run: plan.to_run.len(),
        out_dir: opts.out_dir.clone(),
        journal: path.clone(),
        ..BatchSummary::default()
    };
    let rt = client.runtime();
    let started = rt.now();
    let stop = StopHandle::new();
    let observer = Arc::clone(&recorder) as Arc<dyn BatchObserver>;
    let mut stream = client.batch_with(plan.to_run, observer, stop.clone());
    let mut tally = Tally::default();
    let mut items = plan.settled;
    loop {
        tokio::select! {
            item = stream.next() => match item {
                Some(item) => items.push(tally.add(&mut summary, jobs, item)),
                None => break,
            },
            () = next_interrupt(&mut interrupts) => {
                if stop.is_stopped() && summary.interrupted {
                    break; // the second: at once
                }
                summary.interrupted = true;
                stop.stop("interrupted (Ctrl-C)");
                recorder.progress.println(format!(
                    "interrupted: no new submits; finishing the {} paid task(s) in flight \
                     (Ctrl-C again to stop at once; --resume picks up the rest)",
                    recorder.counters.active()
                ));
            }
        }
    }
    drop(stream);
    recorder.progress.finish();
    summary.makespan_s = rt.now().duration_since(started).as_secs_f64();
    tally.close(&mut summary);
    summary.stopped = stop.reason();
    summary.journal_errors = recorder
        .journal_errors
        .lock()
        .map(|e| e.clone())
        .unwrap_or_default();
    // Every record is on disk once the journal's writer stops; what it says is the truth.
    drop(recorder);
    summary.unfinished = unfinished(&path, &header, jobs, opts)?;
    summary.settle(items);
    Ok(summary)
}

/// Opens (on resume) or creates the journal; returns it, the jobs' states, and how many tasks a
/// restarted embedded simulator lost.
fn open_journal(
    path: &std::path::Path,
    header: &Header,
    opts: &BatchOptions,
) -> Result<(Journal, Vec<ItemState>, usize), BatchError> {
    if !opts.resume {
        let journal = Journal::create(path, header)?;
        return Ok((journal, vec![ItemState::New; header.jobs], 0));
    }
    let (journal, mut replay) = Journal::open(path, header)?;
    if replay.torn_tail {
        tracing::warn!(journal = %path.display(), "cut off a torn last record (a crash mid-write)");
    }
    let sim_restarted = if replay.header.sim && opts.sim {
        plan::forget_sim_tasks(&mut replay.states)
    } else {
        check_base(path, &replay.header, header, opts)?;
        0
    };
    Ok((journal, replay.states, sim_restarted))
}

/// A resume against another API base would poll tasks where they do not live.
fn check_base(
    path: &std::path::Path,
    written: &Header,
    now: &Header,
    opts: &BatchOptions,
) -> Result<(), BatchError> {
    let same = |a: &str, b: &str| a.trim_end_matches('/') == b.trim_end_matches('/');
    match (&written.base_url, &now.base_url) {
        (Some(was), Some(now)) if !same(was, now) && !opts.allow_new_base => {
            Err(BatchError::BaseChanged {
                journal: path.to_owned(),
                was: was.clone(),
                now: now.clone(),
            })
        }
        _ if written.sim != now.sim && !opts.allow_new_base => Err(BatchError::BaseChanged {
            journal: path.to_owned(),
            was: describe_base(written),
            now: describe_base(now),
        }),
        _ => Ok(()),
    }
}

fn describe_base(header: &Header) -> String {
    match (&header.base_url, header.sim) {
        (_, true) => "the embedded simulator (--sim)".into(),
        (Some(b), false) => b.clone(),
        (None, false) => "an unrecorded API base".into(),
    }
}

/// Tells the user, before anything runs, what this run does that they might not expect.
fn announce(plan: &plan::Plan, sim_restarted: usize) {
    if sim_restarted > 0 {
        eprintln!(
            "note: the embedded simulator keeps no task between runs: submitting again the {} \
             job(s) the last run had in flight (no money is at stake with --sim)",
            sim_restarted
        );
    }
    if plan.retried_failed > 0 {
        eprintln!(
            "note: --retry-failed submits {} failed job(s) again: each pays again",
            plan.retried_failed
        );
    }
    if plan.refetched > 0 {
        eprintln!(
            "note: {} image(s) written earlier are gone: fetching them again from their tasks \
             (no new charge)",
            plan.refetched
        );
    }
}

/// Resolves with the next interrupt; never, without a source.
async fn next_interrupt(interrupts: &mut Interrupts) {
    match interrupts {
        Some(rx) => {
            if rx.recv().await.is_none() {
                *interrupts = None;
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

/// The jobs the journal shows submitted and not finished, with the command that recovers each.
fn unfinished(
    path: &std::path::Path,
    header: &Header,
    jobs: &[InputJob],
    opts: &BatchOptions,
) -> Result<Vec<UnfinishedTask>, BatchError> {
    // The embedded simulator's tasks die with it: nothing is left to recover, nothing to read.
    if opts.sim {
        return Ok(Vec::new());
    }
    let replay = Journal::read(path, header)?;
    Ok(replay
        .states
        .iter()
        .enumerate()
        .filter_map(|(index, state)| match state {
            ItemState::Submitted(t) => Some(UnfinishedTask {
                index,
                line: jobs.get(index).map_or(0, |j| j.line),
                task: t.clone(),
                path: jobs
                    .get(index)
                    .map(|j| image_path(&opts.out_dir, index, j))
                    .unwrap_or_default(),
            }),
            _ => None,
        })
        .collect())
}

/// Running totals over the finished items.
#[derive(Debug, Default)]
struct Tally {
    time_to_result: Vec<f64>,
    polls: u64,
}

impl Tally {
    fn add(
        &mut self,
        summary: &mut BatchSummary,
        jobs: &[InputJob],
        item: BatchItem,
    ) -> ItemSummary {
        let report = &item.outcome.report;
        summary.submits += u64::from(report.submits);
        self.polls += u64::from(report.polls);
        summary.rate_limited += u64::from(report.rate_limited);
        summary.retries += u64::from(report.retries);
        let result = match &item.outcome.result {
            Ok(finished) => {
                self.time_to_result.push(report.elapsed.as_secs_f64());
                summary.images_written += 1;
                ItemResult::Done {
                    path: written_file(finished)
                        .map(|f| f.path.clone())
                        .unwrap_or_default(),
                    earlier: false,
                }
            }
            Err(e) => failure(e),
        };
        ItemSummary {
            index: item.index,
            line: jobs.get(item.index).map_or(0, |j| j.line),
            result,
        }
    }

    fn close(&self, summary: &mut BatchSummary) {
        summary.polls_per_job = if summary.run == 0 {
            0.0
        } else {
            self.polls as f64 / summary.run as f64
        };
        let n = self.time_to_result.len();
        summary.mean_time_to_result_s =
            (n > 0).then(|| self.time_to_result.iter().sum::<f64>() / n as f64);
    }
}

/// How a job that ended in `e` appears in the summary.
fn failure(e: &TaskError) -> ItemResult {
    match OnResume::of(e) {
        OnResume::Ambiguous => ItemResult::Ambiguous,
        on_resume => ItemResult::Failed {
            kind: e.kind().into(),
            message: e.to_string(),
            id: e.task_id().map(str::to_owned),
            retry: on_resume == OnResume::Retry,
        },
    }
}
