//! The durable journal of `bfl batch`: append-only JSON lines, each on disk (`fsync`) before the
//! engine goes on.
//!
//! Why JSON lines and not SQLite: the journal is written in order and read once, on resume; an
//! append plus `fsync` is the whole durability story, a torn last line is the only possible damage
//! (and is cut off on open), a person can read it with `less`, and it costs no C dependency.
//!
//! The records that matter for money:
//! - `submitting` is on disk **before** a submit leaves (the driver awaits it), and `submitted`
//!   (id and polling URL) as soon as its answer arrives — before the first poll. A `submitting`
//!   with no answer after it is the one **ambiguous** window: the POST may have reached the
//!   server. Resume reports it and never resubmits it silently.
//! - `refused` records a definite "no" (a 429, a refusal): the job was not taken, nothing was
//!   paid, and a resume simply submits it — it is never counted as "maybe".
//! - `done` and `failed` close a job; a failure worth retrying (deadline, transport, 5xx…) is
//!   retried on resume — by polling again if the task was submitted, never by paying twice.
//!
//! Every append goes through one writer thread ([`writer`]) that group-commits concurrent records
//! and keeps disk space reserved ahead of them, so a full disk stops new submits while every paid
//! task can still be recorded.
//!
//! ```
//! use bfl::batch::journal::{Header, ItemState, Journal, Record};
//! let dir = std::env::temp_dir().join(format!("bfl-journal-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("journal.jsonl");
//! let header = Header { input: "prompts.txt".into(), fingerprint: "f00d".into(), jobs: 2, ..Header::default() };
//! let journal = Journal::create(&path, &header).unwrap();
//! journal.append_blocking(&Record::Submitting { index: 0 }).unwrap();
//! let task = bfl_core::SubmittedTask::known_as("abc", "https://api.bfl.ai/v1/get_result?id=abc");
//! journal.append_blocking(&Record::Submitted { index: 0, task }).unwrap();
//! journal.append_blocking(&Record::Submitting { index: 1 }).unwrap();
//! drop(journal);
//! let (_journal, replay) = Journal::open(&path, &header).unwrap();
//! assert!(matches!(replay.states[0], ItemState::Submitted(_)));
//! assert_eq!(replay.states[1], ItemState::Ambiguous);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

mod record;
pub mod writer;

use record::{header_of, replay, Untrusted};
pub use record::{Header, ItemState, Record, JOURNAL_VERSION};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use writer::{WriteRefusal, Writer};

/// What [`Journal::open`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    /// The header the journal was written with.
    pub header: Header,
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
    /// `--resume` found no journal.
    #[error("no journal at {0}: nothing to resume (check --out / --journal; without --resume a new batch starts)")]
    Missing(PathBuf),
    /// A line cannot be read or trusted.
    #[error(
        "journal {path}, line {line}: {reason}; not resuming from a journal that cannot be trusted"
    )]
    Corrupt {
        /// The journal.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What is wrong.
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
    /// The disk is nearly full: no new spending is recorded (tasks already paid still are).
    #[error("journal {0}: the disk is nearly full, so no new submit is recorded or sent (free some space, then resume)")]
    LowSpace(PathBuf),
    /// A write failed; the journal was cut back to its last whole record.
    #[error("journal {path}: a write failed ({reason}); no new submit is sent")]
    WriteFailed {
        /// The journal.
        path: PathBuf,
        /// The cause.
        reason: String,
    },
    /// The writer has stopped.
    #[error("journal {0}: closed")]
    Closed(PathBuf),
}

/// An open journal. Each record is on disk when its append completes; appends that arrive
/// together share one `fsync` (group commit, on the journal's own thread).
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    writer: Writer,
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
        let journal = Journal::over(path, file, 0)?;
        journal.append_blocking(&Record::header(header))?;
        sync_parent_dir(path);
        Ok(journal)
    }

    /// Opens an existing journal for `header`'s input and replays it. The header's base URL and
    /// simulator flag are not compared here: [`Replay::header`] has the journal's own.
    pub fn open(path: &Path, header: &Header) -> Result<(Journal, Replay), JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = open_existing(path, OpenOptions::new().read(true).append(true))?;
        let (replay, valid_len) = load(&mut file, path, header)?;
        if replay.torn_tail {
            file.set_len(valid_len).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        file.seek(SeekFrom::End(0)).map_err(io)?;
        Ok((Journal::over(path, file, valid_len)?, replay))
    }

    /// Replays a journal without opening it for writing (no writer, no reservation, a torn
    /// tail left as it is): what a finished run reads back to name its unfinished tasks.
    pub fn read(path: &Path, header: &Header) -> Result<Replay, JournalError> {
        let mut file = open_existing(path, OpenOptions::new().read(true))?;
        Ok(load(&mut file, path, header)?.0)
    }

    fn over(path: &Path, file: File, len: u64) -> Result<Journal, JournalError> {
        let writer = Writer::start(file, len).map_err(|source| JournalError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(Journal {
            path: path.to_owned(),
            writer,
        })
    }

    /// Appends one record; completes once it is on disk (or refused: see [`JournalError`]).
    pub async fn append(&self, record: &Record) -> Result<(), JournalError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(record, Box::new(move |r| drop(tx.send(r))));
        let refusal = rx.await.unwrap_or(Err(WriteRefusal::Closed));
        refusal.map_err(|r| self.refused(r))
    }

    /// [`Journal::append`] for synchronous code (not on an async runtime's thread).
    pub fn append_blocking(&self, record: &Record) -> Result<(), JournalError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.send(record, Box::new(move |r| drop(tx.send(r))));
        let refusal = rx.recv().unwrap_or(Err(WriteRefusal::Closed));
        refusal.map_err(|r| self.refused(r))
    }

    fn send(&self, record: &Record, reply: Box<dyn FnOnce(Result<(), WriteRefusal>) + Send>) {
        match serde_json::to_vec(record) {
            Ok(mut line) => {
                line.push(b'\n');
                self.writer.append(line, record.is_new_spending(), reply);
            }
            Err(e) => reply(Err(WriteRefusal::Failed(e.to_string()))),
        }
    }

    fn refused(&self, refusal: WriteRefusal) -> JournalError {
        match refusal {
            WriteRefusal::LowSpace => JournalError::LowSpace(self.path.clone()),
            WriteRefusal::Failed(reason) => JournalError::WriteFailed {
                path: self.path.clone(),
                reason,
            },
            WriteRefusal::Closed => JournalError::Closed(self.path.clone()),
        }
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Opens a journal that must exist (its absence is [`JournalError::Missing`]).
fn open_existing(path: &Path, options: &OpenOptions) -> Result<File, JournalError> {
    options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => JournalError::Missing(path.to_owned()),
        _ => JournalError::Io {
            path: path.to_owned(),
            source: e,
        },
    })
}

/// Reads and checks the records against `header`; returns the replay and the byte length of
/// the whole records.
fn load(file: &mut File, path: &Path, header: &Header) -> Result<(Replay, u64), JournalError> {
    let (records, valid_len, torn_tail) = read_records(file, path)?;
    let untrusted = |u: Untrusted| JournalError::Corrupt {
        path: path.to_owned(),
        line: u.line,
        reason: u.reason,
    };
    let written = header_of(&records).map_err(untrusted)?;
    if written.fingerprint != header.fingerprint || written.jobs != header.jobs {
        return Err(JournalError::Mismatch {
            path: path.to_owned(),
            input: written.input,
            jobs: written.jobs,
            fingerprint: written.fingerprint,
        });
    }
    let states = replay(&records, header.jobs).map_err(untrusted)?;
    let replay = Replay {
        header: written,
        states,
        torn_tail,
    };
    Ok((replay, valid_len))
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
            reason: format!("unreadable record ({e})"),
        })?;
        records.push(record);
        valid_len += n as u64;
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
    use bfl_core::{ErrorKind, SubmittedTask};
    use std::io::Write;

    fn lines(path: &Path, lines: &[&str]) {
        let mut f = OpenOptions::new().append(true).open(path).unwrap();
        for l in lines {
            writeln!(f, "{l}").unwrap();
        }
    }

    #[test]
    fn a_refusal_is_a_definite_no_so_a_crash_while_waiting_out_a_429_is_not_ambiguous() {
        let path = temp("refused");
        let j = Journal::create(&path, &header()).unwrap();
        for r in [
            Record::Submitting { index: 0 },
            Record::Refused {
                index: 0,
                reason: "429".into(),
            },
            Record::Submitting { index: 1 },
            Record::Refused {
                index: 1,
                reason: "429".into(),
            },
            Record::Submitting { index: 1 },
        ] {
            j.append_blocking(&r).unwrap();
        }
        drop(j);
        let (_, replay) = Journal::open(&path, &header()).unwrap();
        assert_eq!(replay.states[0], ItemState::New);
        assert_eq!(
            replay.states[1],
            ItemState::Ambiguous,
            "the retry's POST may be out"
        );
    }

    #[test]
    fn journals_that_cannot_be_trusted_are_refused_with_the_line() {
        let cases = [
            (
                r#"{"event":"batch","version":99,"input":"in.txt","fingerprint":"abc","jobs":4}"#,
                "",
                1,
                "version 99",
            ),
            (
                r#"{"event":"batch","version":2,"input":"in.txt","fingerprint":"abc","jobs":4}"#,
                r#"{"event":"done","index":99999,"path":"x","bytes":1}"#,
                2,
                "job 99999 of a 4-job batch",
            ),
            (
                r#"{"event":"batch","version":2,"input":"in.txt","fingerprint":"abc","jobs":4}"#,
                r#"{"event":"batch","version":2,"input":"in.txt","fingerprint":"abc","jobs":4}"#,
                2,
                "second batch header",
            ),
        ];
        for (n, (first, second, line, words)) in cases.into_iter().enumerate() {
            let path = temp(&format!("untrusted-{n}"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "").unwrap();
            lines(&path, &[first]);
            if !second.is_empty() {
                lines(&path, &[second]);
            }
            match Journal::open(&path, &header()) {
                Err(e @ JournalError::Corrupt { line: l, .. }) => {
                    assert_eq!(l, line, "{e}");
                    assert!(e.to_string().contains(words), "{e}");
                }
                other => panic!("case {n}: {other:?}"),
            }
        }
        assert!(matches!(
            Journal::open(&temp("none"), &header()),
            Err(JournalError::Missing(_))
        ));
    }

    fn header() -> Header {
        Header {
            input: "in.txt".into(),
            fingerprint: "abc".into(),
            jobs: 4,
            ..Header::default()
        }
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("bfl-journal-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("j.jsonl")
    }

    fn task(id: &str) -> SubmittedTask {
        SubmittedTask {
            model: "flux-2-pro".into(),
            ..SubmittedTask::known_as(id, format!("http://127.0.0.1:1/v1/get_result?id={id}"))
        }
    }

    fn submitted(index: usize, id: &str) -> Record {
        Record::Submitted {
            index,
            task: task(id),
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
                kind: ErrorKind::DeadlineExceeded,
                message: "late".into(),
                retry: true,
                ambiguous: false,
            },
            Record::Submitting { index: 3 },
            Record::Failed {
                index: 3,
                kind: ErrorKind::Transport,
                message: "timed out".into(),
                retry: false,
                ambiguous: true,
            },
        ] {
            j.append_blocking(&r).unwrap();
        }
        drop(j);
        let (_, replay) = Journal::open(&path, &header()).unwrap();
        assert!(!replay.torn_tail);
        assert_eq!(
            replay.states[0],
            ItemState::Done {
                path: "out/0.jpg".into(),
                task: Some(task("a")),
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

    /// Lines as the journal wrote them while kinds were strings (bfl at bb42c85), frozen.
    const WRITTEN_WITH_STRING_KINDS: [&str; 12] = [
        r#"{"event":"batch","version":2,"input":"in.txt","fingerprint":"abc","jobs":4,"base_url":"http://127.0.0.1:1/"}"#,
        r#"{"event":"submitting","index":0}"#,
        r#"{"event":"submitted","index":0,"id":"a","polling_url":"http://127.0.0.1:1/v1/get_result?id=a","model":"flux-2-pro","cost":0.03}"#,
        r#"{"event":"failed","index":0,"kind":"deadline_exceeded","message":"deadline of 600 s exceeded during poll","retry":true}"#,
        r#"{"event":"submitting","index":1}"#,
        r#"{"event":"failed","index":1,"kind":"transport","message":"timed out after 30 s","retry":false,"ambiguous":true}"#,
        r#"{"event":"submitting","index":2}"#,
        r#"{"event":"refused","index":2,"reason":"rate limited (429): not taken"}"#,
        r#"{"event":"submitting","index":2}"#,
        r#"{"event":"submitted","index":2,"id":"c","polling_url":"http://127.0.0.1:1/v1/get_result?id=c","model":"flux-2-pro"}"#,
        r#"{"event":"failed","index":2,"kind":"content_moderated","message":"content moderated","retry":false}"#,
        r#"{"event":"failed","index":3,"kind":"insufficient_credits","message":"insufficient credits (402): top up the account","retry":true}"#,
    ];

    #[test]
    fn a_journal_written_with_string_kinds_reads_back_as_kinds_and_is_written_the_same() {
        let path = temp("string-kinds");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, WRITTEN_WITH_STRING_KINDS.join("\n") + "\n").unwrap();
        let (_, replay) = Journal::open(&path, &header()).unwrap();
        let failed = |kind, retry, submitted| ItemState::Failed {
            kind,
            message: match kind {
                ErrorKind::DeadlineExceeded => "deadline of 600 s exceeded during poll",
                ErrorKind::ContentModerated => "content moderated",
                _ => "insufficient credits (402): top up the account",
            }
            .into(),
            retry,
            submitted,
        };
        let a = SubmittedTask {
            cost: Some(0.03),
            ..task("a")
        };
        assert_eq!(
            replay.states,
            [
                failed(ErrorKind::DeadlineExceeded, true, Some(a)),
                ItemState::Ambiguous,
                failed(ErrorKind::ContentModerated, false, Some(task("c"))),
                failed(ErrorKind::InsufficientCredits, true, None),
            ]
        );
        // Today's records spell every line the same way.
        for line in &WRITTEN_WITH_STRING_KINDS {
            let record: Record = serde_json::from_str(line).unwrap();
            assert_eq!(&serde_json::to_string(&record).unwrap(), line);
        }
    }

    #[test]
    fn a_torn_last_line_is_cut_off_and_appends_go_on_cleanly() {
        let path = temp("torn");
        let j = Journal::create(&path, &header()).unwrap();
        j.append_blocking(&submitted(0, "a")).unwrap();
        drop(j);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"event":"submitted","index":1,"id":"#)
            .unwrap();
        drop(f);
        let (j, replay) = Journal::open(&path, &header()).unwrap();
        assert!(replay.torn_tail);
        assert_eq!(replay.states[1], ItemState::New);
        j.append_blocking(&submitted(1, "b")).unwrap();
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
                        j.append_blocking(&Record::Submitting { index }).unwrap();
                        j.append_blocking(&submitted(index, &format!("task-{index}")))
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
