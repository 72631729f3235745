//! The durable journal of `bfl batch`: append-only JSON lines, each flushed to disk (`fsync`)
//! before the engine goes on.
//!
//! Why JSON lines and not SQLite: the journal is written in order and read once, on resume; an
//! append plus `fsync` is the whole durability story, a torn last line is the only possible damage
//! (and is cut off on open), a person can read it with `less`, and it costs no C dependency.
//!
//! The records that matter for money:
//! - `submitting` is written (and synced) just before a submit leaves, and `submitted` (id and
//!   polling URL) as soon as its answer arrives — before the first poll. A `submitting` with no
//!   `submitted` after it is the one **ambiguous** window: the POST may have reached the server.
//!   Resume reports it and never resubmits it silently.
//! - `done` and `failed` close a job; a failure worth retrying (deadline, transport, 5xx…) is
//!   retried on resume — by polling again if the task was submitted, never by paying twice.
//!
//! ```
//! use bfl::journal::{Header, ItemState, Journal, Record};
//! let dir = std::env::temp_dir().join(format!("bfl-journal-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("journal.jsonl");
//! let header = Header { input: "prompts.txt".into(), fingerprint: "f00d".into(), jobs: 2 };
//! let journal = Journal::create(&path, &header).unwrap();
//! journal.append(&Record::Submitting { index: 0 }).unwrap();
//! journal.append(&Record::Submitted {
//!     index: 0, id: "abc".into(), polling_url: "https://api.bfl.ai/v1/get_result?id=abc".into(),
//!     model: "flux-2-pro".into(),
//! }).unwrap();
//! journal.append(&Record::Submitting { index: 1 }).unwrap();
//! drop(journal);
//! let (_journal, replay) = Journal::open(&path, &header).unwrap();
//! assert!(matches!(replay.states[0], ItemState::Submitted(_)));
//! assert_eq!(replay.states[1], ItemState::Ambiguous);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The journal format's version.
pub const JOURNAL_VERSION: u32 = 1;

/// What a journal was written for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The input file, as given.
    pub input: String,
    /// The input's fingerprint ([`crate::input::fingerprint`]).
    pub fingerprint: String,
    /// The number of jobs in the input.
    pub jobs: usize,
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
    },
    /// A submit is about to leave.
    Submitting {
        /// The job.
        index: usize,
    },
    /// The server accepted the job: the task to poll, forever recoverable.
    Submitted {
        /// The job.
        index: usize,
        /// The task id.
        id: String,
        /// Where to poll it.
        polling_url: String,
        /// Its model.
        model: String,
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
        /// The failure's kind (`bfl_core::ErrorKind` name).
        kind: String,
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

/// A submitted task as the journal knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmittedRef {
    /// The task id.
    pub id: String,
    /// Where to poll it.
    pub polling_url: String,
    /// Its model.
    pub model: String,
}

/// Where a job stands after replaying the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemState {
    /// Never submitted.
    New,
    /// A submit left (or was about to) and its answer was never recorded.
    Ambiguous,
    /// Submitted; not finished.
    Submitted(SubmittedRef),
    /// The image is on disk.
    Done {
        /// The image file.
        path: PathBuf,
    },
    /// Ended without an image.
    Failed {
        /// The failure's kind.
        kind: String,
        /// The error, in words.
        message: String,
        /// Whether a resume should try again.
        retry: bool,
        /// The task, if it was submitted.
        submitted: Option<SubmittedRef>,
    },
}

/// What [`Journal::open`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// One state per job.
    pub states: Vec<ItemState>,
    /// Whether a torn last line (a crash mid-write) was cut off.
    pub torn_tail: bool,
}

/// Why the journal cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Reading or writing failed.
    #[error("journal {path}: {source}")]
    Io {
        /// The journal.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A new batch would overwrite a journal.
    #[error(
        "journal {0} already exists: pass --resume to continue that batch, or choose another --journal"
    )]
    Exists(PathBuf),
    /// A line in the middle cannot be read.
    #[error("journal {path}, line {line}: unreadable record ({reason}); not resuming from a damaged journal")]
    Corrupt {
        /// The journal.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What the parser said.
        reason: String,
    },
    /// The journal belongs to another input.
    #[error("journal {path} was written for {input} with {jobs} jobs (fingerprint {fingerprint}), not for this input: resume with the original file or use a new --journal")]
    Mismatch {
        /// The journal.
        path: PathBuf,
        /// The input it names.
        input: String,
        /// Its job count.
        jobs: usize,
        /// Its fingerprint.
        fingerprint: String,
    },
}

/// An open journal. Each record is on disk when [`Journal::append`] returns; appends that arrive
/// together share one `fsync` (group commit), so a burst of submits does not queue behind a
/// chain of syncs.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    /// The file, and how many records have been written to it.
    writer: Mutex<(File, u64)>,
    /// A second handle to sync through, and how many records are known to be on disk.
    syncer: Mutex<(File, u64)>,
}

impl Journal {
    /// Starts a new journal (refuses to overwrite one).
    pub fn create(path: &Path, header: &Header) -> Result<Journal, JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => JournalError::Exists(path.to_owned()),
                _ => io(e),
            })?;
        let journal = Journal::over(path, file).map_err(io)?;
        journal.append(&Record::Batch {
            version: JOURNAL_VERSION,
            input: header.input.clone(),
            fingerprint: header.fingerprint.clone(),
            jobs: header.jobs,
        })?;
        sync_parent_dir(path);
        Ok(journal)
    }

    /// Opens an existing journal for `header`'s input and replays it.
    pub fn open(path: &Path, header: &Header) -> Result<(Journal, Replay), JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        let (records, valid_len, torn_tail) = read_records(&mut file, path)?;
        match records.first() {
            Some(Record::Batch {
                input,
                fingerprint,
                jobs,
                ..
            }) if *fingerprint != header.fingerprint || *jobs != header.jobs => {
                return Err(JournalError::Mismatch {
                    path: path.to_owned(),
                    input: input.clone(),
                    jobs: *jobs,
                    fingerprint: fingerprint.clone(),
                })
            }
            Some(Record::Batch { .. }) => {}
            _ => {
                return Err(JournalError::Corrupt {
                    path: path.to_owned(),
                    line: 1,
                    reason: "the first record is not the batch header".into(),
                })
            }
        }
        if torn_tail {
            file.set_len(valid_len).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        file.seek(SeekFrom::End(0)).map_err(io)?;
        let states = replay(&records, header.jobs);
        Ok((
            Journal::over(path, file).map_err(io)?,
            Replay { states, torn_tail },
        ))
    }

    fn over(path: &Path, file: File) -> std::io::Result<Journal> {
        Ok(Journal {
            path: path.to_owned(),
            syncer: Mutex::new((file.try_clone()?, 0)),
            writer: Mutex::new((file, 0)),
        })
    }

    /// Appends one record; returns once it is on disk.
    pub fn append(&self, record: &Record) -> Result<(), JournalError> {
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        let mut line = serde_json::to_vec(record).map_err(|e| io(e.into()))?;
        line.push(b'\n');
        // A poisoned lock only means another writer panicked; the file itself is still fine.
        let seq = {
            let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            w.0.write_all(&line).map_err(io)?;
            w.1 += 1;
            w.1
        };
        let mut synced = self.syncer.lock().unwrap_or_else(|p| p.into_inner());
        if synced.1 >= seq {
            return Ok(()); // a sync that started after our write covered it
        }
        // Everything written by now is covered by the sync about to start.
        let covered = self.writer.lock().unwrap_or_else(|p| p.into_inner()).1;
        synced.0.sync_data().map_err(io)?;
        synced.1 = covered;
        Ok(())
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads every complete record; returns them, the byte length they span, and whether a torn
/// last line follows them.
fn read_records(file: &mut File, path: &Path) -> Result<(Vec<Record>, u64, bool), JournalError> {
    let io = |source| JournalError::Io {
        path: path.to_owned(),
        source,
    };
    let mut reader = BufReader::new(&mut *file);
    let mut records = Vec::new();
    let mut valid_len = 0u64;
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(io)?;
        if n == 0 {
            return Ok((records, valid_len, false));
        }
        line_no += 1;
        if !buf.ends_with(b"\n") {
            // Only the last line can be torn by a crash: cut it off and go on.
            return Ok((records, valid_len, true));
        }
        let record = serde_json::from_slice::<Record>(&buf).map_err(|e| JournalError::Corrupt {
            path: path.to_owned(),
            line: line_no,
            reason: e.to_string(),
        })?;
        records.push(record);
        valid_len += n as u64;
    }
}

/// Folds the records into one state per job.
fn replay(records: &[Record], jobs: usize) -> Vec<ItemState> {
    let mut states = vec![ItemState::New; jobs];
    for record in records {
        let index = match record {
            Record::Batch { .. } => continue,
            Record::Submitting { index }
            | Record::Submitted { index, .. }
            | Record::Done { index, .. }
            | Record::Failed { index, .. } => *index,
        };
        if let Some(state) = states.get_mut(index) {
            *state = apply(state, record);
        }
    }
    states
}

/// A job's state after one of its records.
fn apply(state: &ItemState, record: &Record) -> ItemState {
    let submitted = match state {
        ItemState::Submitted(task) => Some(task.clone()),
        ItemState::Failed { submitted, .. } => submitted.clone(),
        _ => None,
    };
    match record {
        Record::Batch { .. } => state.clone(),
        // A retried submit of a job that was never accepted reopens the ambiguous window.
        Record::Submitting { .. } => match submitted {
            Some(task) => ItemState::Submitted(task),
            None => ItemState::Ambiguous,
        },
        Record::Submitted {
            id,
            polling_url,
            model,
            ..
        } => ItemState::Submitted(SubmittedRef {
            id: id.clone(),
            polling_url: polling_url.clone(),
            model: model.clone(),
        }),
        Record::Done { path, .. } => ItemState::Done { path: path.clone() },
        Record::Failed {
            ambiguous: true, ..
        } if submitted.is_none() => ItemState::Ambiguous,
        Record::Failed {
            kind,
            message,
            retry,
            ..
        } => ItemState::Failed {
            kind: kind.clone(),
            message: message.clone(),
            retry: *retry,
            submitted,
        },
    }
}

/// Makes a new file's directory entry durable (best effort: not every platform can open a
/// directory).
fn sync_parent_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            input: "in.txt".into(),
            fingerprint: "abc".into(),
            jobs: 4,
        }
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("bfl-journal-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("j.jsonl")
    }

    fn submitted(index: usize, id: &str) -> Record {
        Record::Submitted {
            index,
            id: id.into(),
            polling_url: format!("http://127.0.0.1:1/v1/get_result?id={id}"),
            model: "flux-2-pro".into(),
        }
    }

    #[test]
    fn replay_tells_new_ambiguous_submitted_done_and_failed_apart() {
        let path = temp("states");
        let j = Journal::create(&path, &header()).unwrap();
        for r in [
            Record::Submitting { index: 0 },
            submitted(0, "a"),
            Record::Done {
                index: 0,
                path: "out/0.jpg".into(),
                bytes: 10,
            },
            Record::Submitting { index: 1 },
            Record::Submitting { index: 2 },
            submitted(2, "c"),
            Record::Failed {
                index: 2,
                kind: "deadline_exceeded".into(),
                message: "late".into(),
                retry: true,
                ambiguous: false,
            },
            Record::Submitting { index: 3 },
            Record::Failed {
                index: 3,
                kind: "transport".into(),
                message: "timed out".into(),
                retry: false,
                ambiguous: true,
            },
        ] {
            j.append(&r).unwrap();
        }
        drop(j);
        let (_, replay) = Journal::open(&path, &header()).unwrap();
        assert!(!replay.torn_tail);
        assert_eq!(
            replay.states[0],
            ItemState::Done {
                path: "out/0.jpg".into()
            }
        );
        assert_eq!(replay.states[1], ItemState::Ambiguous);
        match &replay.states[2] {
            ItemState::Failed {
                retry, submitted, ..
            } => {
                assert!(retry);
                assert_eq!(submitted.as_ref().unwrap().id, "c");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(replay.states[3], ItemState::Ambiguous);
    }

    #[test]
    fn a_torn_last_line_is_cut_off_and_appends_go_on_cleanly() {
        let path = temp("torn");
        let j = Journal::create(&path, &header()).unwrap();
        j.append(&submitted(0, "a")).unwrap();
        drop(j);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"event":"submitted","index":1,"id":"#)
            .unwrap();
        drop(f);
        let (j, replay) = Journal::open(&path, &header()).unwrap();
        assert!(replay.torn_tail);
        assert_eq!(replay.states[1], ItemState::New);
        j.append(&submitted(1, "b")).unwrap();
        drop(j);
        let (_, replay) = Journal::open(&path, &header()).unwrap();
        assert!(!replay.torn_tail);
        assert!(matches!(&replay.states[1], ItemState::Submitted(t) if t.id == "b"));
    }

    #[test]
    fn concurrent_appends_all_land_whole() {
        let path = temp("concurrent");
        let header = Header {
            jobs: 400,
            ..header()
        };
        let j = Journal::create(&path, &header).unwrap();
        std::thread::scope(|scope| {
            for t in 0..16 {
                let j = &j;
                scope.spawn(move || {
                    for k in 0..25 {
                        let index = t * 25 + k;
                        j.append(&Record::Submitting { index }).unwrap();
                        j.append(&submitted(index, &format!("task-{index}")))
                            .unwrap();
                    }
                });
            }
        });
        drop(j);
        let (_, replay) = Journal::open(&path, &header).unwrap();
        assert!(!replay.torn_tail);
        for (index, state) in replay.states.iter().enumerate() {
            assert!(
                matches!(state, ItemState::Submitted(t) if t.id == format!("task-{index}")),
                "{index}: {state:?}"
            );
        }
    }

    #[test]
    fn refuses_to_overwrite_a_damaged_or_foreign_journal() {
        let path = temp("refuse");
        drop(Journal::create(&path, &header()).unwrap());
        assert!(matches!(
            Journal::create(&path, &header()),
            Err(JournalError::Exists(_))
        ));
        let other = Header {
            fingerprint: "zzz".into(),
            ..header()
        };
        assert!(matches!(
            Journal::open(&path, &other),
            Err(JournalError::Mismatch { .. })
        ));
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"garbage\n{}\n").unwrap();
        drop(f);
        assert!(matches!(
            Journal::open(&path, &header()),
            Err(JournalError::Corrupt { line: 2, .. })
        ));
    }
}
