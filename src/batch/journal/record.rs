//! The journal's lines, and how a resume folds them into one state per job — refusing a journal
//! it cannot trust (an unknown version, a second header, a record for a job the batch lacks).

use bfl_core::{ErrorKind, SubmittedTask};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The journal format's version (1: round-1 journals, read as they are).
pub const JOURNAL_VERSION: u32 = 2;

/// What a journal was written for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// The input file, as given.
    pub input: String,
    /// The input's fingerprint ([`crate::batch::input::fingerprint`]).
    pub fingerprint: String,
    /// The number of jobs in the input.
    pub jobs: usize,
    /// The API base the batch submits to (`None` in version-1 journals).
    pub base_url: Option<String>,
    /// Whether the batch ran against the embedded simulator, whose tasks die with the process.
    pub sim: bool,
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Record {
    /// The first line.
    Batch {
        /// [`JOURNAL_VERSION`].
        version: u32,
        /// The input file.
        input: String,
        /// The input's fingerprint.
        fingerprint: String,
        /// The number of jobs.
        jobs: usize,
        /// The API base.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base_url: Option<String>,
        /// Whether the batch ran against the embedded simulator.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        sim: bool,
    },
    /// A submit is about to leave (written, and on disk, before it does).
    Submitting {
        /// The job.
        index: usize,
    },
    /// The server definitely did not take the submit (a 429, a refusal): nothing was paid, and
    /// the job is not yet submitted.
    Refused {
        /// The job.
        index: usize,
        /// Why, in words.
        reason: String,
    },
    /// The server accepted the job: the task to poll, forever recoverable (`id`, `polling_url`,
    /// `model` and the quoted `cost`, flat on the line).
    Submitted {
        /// The job.
        index: usize,
        /// The task.
        #[serde(flatten)]
        task: SubmittedTask,
    },
    /// The image is on disk.
    Done {
        /// The job.
        index: usize,
        /// The image file.
        path: PathBuf,
        /// Its size.
        bytes: u64,
    },
    /// The job ended without an image.
    Failed {
        /// The job.
        index: usize,
        /// The failure's kind, by its snake_case name (as since the first journal version).
        kind: ErrorKind,
        /// The error, in words.
        message: String,
        /// Whether a resume should try again.
        retry: bool,
        /// Whether the submit may have reached the server without its answer (a timeout, an
        /// unreadable answer): the job is then ambiguous, like a crash in that window.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        ambiguous: bool,
    },
}

impl Record {
    /// The header line of `header`.
    pub fn header(header: &Header) -> Record {
        Record::Batch {
            version: JOURNAL_VERSION,
            input: header.input.clone(),
            fingerprint: header.fingerprint.clone(),
            jobs: header.jobs,
            base_url: header.base_url.clone(),
            sim: header.sim,
        }
    }

    /// The job a record is about (none for the header).
    pub fn index(&self) -> Option<usize> {
        match self {
            Record::Batch { .. } => None,
            Record::Submitting { index }
            | Record::Refused { index, .. }
            | Record::Submitted { index, .. }
            | Record::Done { index, .. }
            | Record::Failed { index, .. } => Some(*index),
        }
    }

    /// Whether the record announces new spending (a submit about to leave): the one record a
    /// journal short of disk space refuses, so nothing is paid that it could not record.
    pub fn is_new_spending(&self) -> bool {
        matches!(self, Record::Submitting { .. })
    }
}

/// Where a job stands after replaying the journal.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemState {
    /// Never submitted (or every submit was refused).
    New,
    /// A submit left (or was about to) and its answer was never recorded.
    Ambiguous,
    /// Submitted; poll it.
    Submitted(SubmittedTask),
    /// The image was written.
    Done {
        /// The image file.
        path: PathBuf,
        /// The task, to fetch again if the file is gone (none in version-1 journals' replays
        /// of jobs whose `submitted` line was lost).
        task: Option<SubmittedTask>,
    },
    /// Ended without an image.
    Failed {
        /// The failure's kind.
        kind: ErrorKind,
        /// The error, in words.
        message: String,
        /// Whether a resume should try again.
        retry: bool,
        /// The task, if it was submitted.
        submitted: Option<SubmittedTask>,
    },
}

impl ItemState {
    /// The task this job was submitted as, if any.
    pub fn submitted(&self) -> Option<&SubmittedTask> {
        match self {
            ItemState::Submitted(t) => Some(t),
            ItemState::Done { task, .. } => task.as_ref(),
            ItemState::Failed { submitted, .. } => submitted.as_ref(),
            ItemState::New | ItemState::Ambiguous => None,
        }
    }
}

/// Why records cannot be trusted: the 1-based line and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Untrusted {
    /// The line.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// The header a journal's first record declares.
pub(super) fn header_of(records: &[Record]) -> Result<Header, Untrusted> {
    let untrusted = |reason: String| Untrusted { line: 1, reason };
    match records.first() {
        Some(Record::Batch {
            version,
            input,
            fingerprint,
            jobs,
            base_url,
            sim,
        }) => {
            if !(1..=JOURNAL_VERSION).contains(version) {
                return Err(untrusted(format!(
                    "journal version {version}, but this bfl reads versions 1 to {JOURNAL_VERSION}"
                )));
            }
            Ok(Header {
                input: input.clone(),
                fingerprint: fingerprint.clone(),
                jobs: *jobs,
                base_url: base_url.clone(),
                sim: *sim,
            })
        }
        _ => Err(untrusted("the first record is not the batch header".into())),
    }
}

/// Folds the records (header first) into one state per job.
pub(super) fn replay(records: &[Record], jobs: usize) -> Result<Vec<ItemState>, Untrusted> {
    let mut states = vec![ItemState::New; jobs];
    for (n, record) in records.iter().enumerate().skip(1) {
        let line = n + 1;
        let Some(index) = record.index() else {
            return Err(Untrusted {
                line,
                reason: "a second batch header".into(),
            });
        };
        let Some(state) = states.get_mut(index) else {
            return Err(Untrusted {
                line,
                reason: format!("a record for job {index} of a {jobs}-job batch"),
            });
        };
        *state = apply(state, record);
    }
    Ok(states)
}

/// A job's state after one of its records.
fn apply(state: &ItemState, record: &Record) -> ItemState {
    let submitted = state.submitted().cloned();
    match record {
        Record::Batch { .. } => state.clone(),
        // A submit retried after a definite refusal reopens the ambiguous window; once a task
        // is known, nothing can make it ambiguous again.
        Record::Submitting { .. } => match submitted {
            Some(task) => ItemState::Submitted(task),
            None => ItemState::Ambiguous,
        },
        Record::Refused { .. } => match submitted {
            Some(task) => ItemState::Submitted(task),
            None => ItemState::New,
        },
        Record::Submitted { task, .. } => ItemState::Submitted(task.clone()),
        Record::Done { path, .. } => ItemState::Done {
            path: path.clone(),
            task: submitted,
        },
        Record::Failed {
            ambiguous: true, ..
        } if submitted.is_none() => ItemState::Ambiguous,
        Record::Failed {
            kind,
            message,
            retry,
            ..
        } => ItemState::Failed {
            kind: *kind,
            message: message.clone(),
            retry: *retry,
            submitted,
        },
    }
}
