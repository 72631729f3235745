//! The closing summary of a batch: what was written, what failed and why, and what it cost.

use bfl_core::{ErrorKind, SubmittedTask};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;

/// Why a job has no image: its task's [`ErrorKind`], or an image gone with no task to fetch it
/// from. Shown and serialized by its snake_case name, and ordered by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The task ended in an error of this kind.
    Task(ErrorKind),
    /// The image an earlier run wrote is gone, and its task is unknown (a version-1 journal).
    ImageMissing,
}

impl FailureKind {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Task(kind) => kind.as_str(),
            FailureKind::ImageMissing => "image_missing",
        }
    }

    /// Whether it stops every job of the key (a refused key, no credits).
    pub fn is_fatal_for_batch(self) -> bool {
        matches!(self, FailureKind::Task(kind) if kind.is_fatal_for_batch())
    }
}

impl From<ErrorKind> for FailureKind {
    fn from(kind: ErrorKind) -> FailureKind {
        FailureKind::Task(kind)
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FailureKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// By name, so the summary lists kinds alphabetically.
impl Ord for FailureKind {
    fn cmp(&self, other: &FailureKind) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for FailureKind {
    fn partial_cmp(&self, other: &FailureKind) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// How one job of the input ended (in this run or an earlier one).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ItemResult {
    /// The image is on disk.
    Done {
        /// The image file.
        path: PathBuf,
        /// Whether an earlier run wrote it.
        earlier: bool,
    },
    /// It ended without an image.
    Failed {
        /// The failure's kind.
        kind: FailureKind,
        /// The error, in words.
        message: String,
        /// The task id, if it was submitted.
        id: Option<String>,
        /// Whether a resume will try again.
        retry: bool,
    },
    /// A submit may have reached the server with no usable answer (a crash just after it left,
    /// a timeout, an unreadable answer): not resubmitted (pass `--resubmit-ambiguous` to pay
    /// again).
    Ambiguous,
}

/// One job in the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemSummary {
    /// The job's position in the input (0-based).
    pub index: usize,
    /// Its line in the input file (1-based).
    pub line: usize,
    /// How it ended.
    #[serde(flatten)]
    pub result: ItemResult,
}

/// The figures of a batch run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BatchSummary {
    /// Jobs in the input.
    pub jobs: usize,
    /// Jobs run this time.
    pub run: usize,
    /// Images written this time.
    pub images_written: usize,
    /// Images an earlier run wrote.
    pub already_done: usize,
    /// Failures by kind.
    pub failed: BTreeMap<FailureKind, usize>,
    /// Jobs in the ambiguous window (see [`ItemResult::Ambiguous`]).
    pub ambiguous: usize,
    /// Submit requests sent (429s and retries included).
    pub submits: u64,
    /// Poll requests per job run.
    pub polls_per_job: f64,
    /// 429 answers.
    pub rate_limited: u64,
    /// Retried requests.
    pub retries: u64,
    /// Mean time from a job's start to its image on disk, seconds.
    pub mean_time_to_result_s: Option<f64>,
    /// Wall time of the whole run, seconds.
    pub makespan_s: f64,
    /// Whether the batch stopped early on an answer no job can get past (402, 403).
    pub stopped: Option<String>,
    /// Records the journal could not write (the run is then not crash-safe).
    pub journal_errors: Vec<String>,
    /// Where the images are.
    pub out_dir: PathBuf,
    /// The journal.
    pub journal: PathBuf,
    /// Whether an interrupt (Ctrl-C) stopped the run.
    pub interrupted: bool,
    /// Tasks submitted (paid) and not finished when the run stopped, each recoverable.
    pub unfinished: Vec<UnfinishedTask>,
    /// Per job.
    pub items: Vec<ItemSummary>,
}

/// A paid task a stopped run left unfinished, and how to get its image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnfinishedTask {
    /// The job's position in the input (0-based).
    pub index: usize,
    /// Its line in the input file (1-based).
    pub line: usize,
    /// The task (`id`, `polling_url`, `model`, `cost`, flat), as the journal has it.
    #[serde(flatten)]
    pub task: SubmittedTask,
    /// Where its image goes.
    pub path: PathBuf,
}

impl UnfinishedTask {
    /// The command that fetches this one task's image.
    pub fn resume_command(&self) -> String {
        crate::shell::resume_command(&self.task, &self.path.display().to_string())
    }
}

impl BatchSummary {
    /// Sorts the per-job results in, counting them by how they ended.
    pub fn settle(&mut self, mut items: Vec<ItemSummary>) {
        items.sort_by_key(|i| i.index);
        for item in &items {
            match &item.result {
                ItemResult::Done { earlier: true, .. } => self.already_done += 1,
                ItemResult::Done { .. } => {}
                ItemResult::Failed { kind, .. } => *self.failed.entry(*kind).or_default() += 1,
                ItemResult::Ambiguous => self.ambiguous += 1,
            }
        }
        self.items = items;
    }

    /// Jobs neither done nor failed: not reached before the run stopped.
    pub fn not_run(&self) -> usize {
        self.jobs.saturating_sub(self.items.len())
    }

    /// Jobs the server refused before taking them (never submitted for good, so not charged)
    /// that a resume submits again.
    pub fn refused_unpaid(&self) -> usize {
        self.items
            .iter()
            .filter(|i| {
                matches!(
                    i.result,
                    ItemResult::Failed {
                        retry: true,
                        id: None,
                        ..
                    }
                )
            })
            .count()
    }

    /// Jobs that ended without an image (ambiguous ones included).
    pub fn failures(&self) -> usize {
        self.failed.values().sum::<usize>() + self.ambiguous
    }

    /// One line per distinct failure, naming the input lines it hit: twelve jobs refused for one
    /// bad key are one line, not twelve.
    pub fn failure_lines(&self) -> Vec<String> {
        // Groups in the order of their first job; the map finds a failure's group.
        let mut groups: Vec<(FailureKind, &str, Vec<usize>)> = Vec::new();
        let mut index: HashMap<(FailureKind, &str), usize> = HashMap::new();
        for item in &self.items {
            let ItemResult::Failed { kind, message, .. } = &item.result else {
                continue;
            };
            let key = (*kind, message.as_str());
            let at = *index.entry(key).or_insert_with(|| {
                groups.push((key.0, key.1, Vec::new()));
                groups.len() - 1
            });
            groups[at].2.push(item.line);
        }
        groups
            .into_iter()
            .map(|(kind, message, lines)| {
                // "unauthorized: unauthorized (403): …" says its kind once.
                let text = if message.starts_with(&kind.as_str().replace('_', " ")) {
                    message.to_owned()
                } else {
                    format!("{kind}: {message}")
                };
                format!("{}: {text}", lines_phrase(&lines))
            })
            .collect()
    }
}

/// `line 4`, or `lines 1, 2, 3 … 12 (12 jobs)`.
fn lines_phrase(lines: &[usize]) -> String {
    match lines {
        [one] => format!("line {one}"),
        _ => {
            let shown: Vec<String> = lines.iter().take(3).map(usize::to_string).collect();
            let last = match lines.len() {
                0..=3 => String::new(),
                4 => format!(", {}", lines[3]),
                _ => format!(" … {}", lines[lines.len() - 1]),
            };
            format!("lines {}{last} ({} jobs)", shown.join(", "), lines.len())
        }
    }
}

impl fmt::Display for BatchSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} of {} images written ({} this run, {} earlier) in {:.1} s",
            self.images_written + self.already_done,
            self.jobs,
            self.images_written,
            self.already_done,
            self.makespan_s
        )?;
        writeln!(
            f,
            "images in {}; journal {}",
            self.out_dir.display(),
            self.journal.display()
        )?;
        if let Some(t) = self.mean_time_to_result_s {
            writeln!(f, "mean time to result: {t:.2} s")?;
        }
        writeln!(
            f,
            "requests: {} submits, {:.2} polls per job, {} 429s, {} retries",
            self.submits, self.polls_per_job, self.rate_limited, self.retries
        )?;
        for (kind, n) in &self.failed {
            writeln!(f, "failed: {n} × {kind}")?;
        }
        if self.ambiguous > 0 {
            writeln!(
                f,
                "ambiguous: {} job(s) may have been submitted without a usable answer; not resubmitted \
                 (check your BFL dashboard, or resume with --resubmit-ambiguous to pay again)",
                self.ambiguous
            )?;
        }
        if let Some(reason) = &self.stopped {
            writeln!(f, "stopped early: {reason}")?;
        }
        if !self.unfinished.is_empty() {
            writeln!(
                f,
                "{} paid task(s) not finished; `bfl batch … --resume` picks them up, or one by one:",
                self.unfinished.len()
            )?;
            for t in &self.unfinished {
                writeln!(f, "  line {}: {}", t.line, t.resume_command())?;
            }
        }
        let unpaid = self.not_run() + self.refused_unpaid();
        if self.stopped.is_some() && unpaid > 0 {
            writeln!(
                f,
                "{unpaid} job(s) not taken (nothing charged for them): fix the cause above, then run \
                 the same command with --resume; the {} image(s) on disk are not paid again",
                self.images_written + self.already_done
            )?;
        }
        for e in &self.journal_errors {
            writeln!(f, "journal error: {e}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(line: usize, kind: ErrorKind, message: &str) -> ItemSummary {
        ItemSummary {
            index: line - 1,
            line,
            result: ItemResult::Failed {
                kind: kind.into(),
                message: message.into(),
                id: None,
                retry: false,
            },
        }
    }

    #[test]
    fn the_same_failure_of_many_jobs_is_one_line() {
        let refused = "unauthorized (403): Invalid API key";
        let mut items: Vec<_> = (1..=12)
            .map(|l| failed(l, ErrorKind::Unauthorized, refused))
            .collect();
        items.push(failed(
            13,
            ErrorKind::Validation,
            "invalid request (422): body.width: too small",
        ));
        let summary = BatchSummary {
            items,
            ..BatchSummary::default()
        };
        assert_eq!(
            summary.failure_lines(),
            [
                "lines 1, 2, 3 … 12 (12 jobs): unauthorized (403): Invalid API key",
                "line 13: validation: invalid request (422): body.width: too small",
            ]
        );
    }

    #[test]
    fn failure_groups_keep_the_order_of_their_first_job() {
        let (a, b) = ("server (500): boom", "connection reset");
        let items = vec![
            failed(1, ErrorKind::Server, a),
            failed(2, ErrorKind::Transport, b),
            failed(3, ErrorKind::Server, a),
            failed(4, ErrorKind::Validation, "validation (422): width"),
            failed(5, ErrorKind::Transport, b),
            // The same kind with another message is another group.
            failed(6, ErrorKind::Server, "server (502): bad gateway"),
            failed(7, ErrorKind::Server, a),
        ];
        let summary = BatchSummary {
            items,
            ..BatchSummary::default()
        };
        assert_eq!(
            summary.failure_lines(),
            [
                "lines 1, 3, 7 (3 jobs): server (500): boom",
                "lines 2, 5 (2 jobs): transport: connection reset",
                "line 4: validation (422): width",
                "line 6: server (502): bad gateway",
            ]
        );
    }
}
