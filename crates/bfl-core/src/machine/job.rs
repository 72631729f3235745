//! Where a task starts and where it stops.

use crate::api::GenerationRequest;
use crate::task::{ReadyTask, SubmittedTask};
use std::path::PathBuf;

/// Where a task starts.
#[derive(Debug, Clone)]
pub enum Start {
    /// Submit a new generation.
    Submit(GenerationRequest),
    /// Poll an already submitted task (resume); its model id picks the strategy and the
    /// active-task limit.
    Poll(SubmittedTask),
    /// Download a ready task's result.
    Download(ReadyTask),
}

/// Where a task stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StopAfter {
    /// Once submitted.
    Submitted,
    /// Once `Ready`.
    Ready,
    /// Once downloaded.
    Downloaded,
}

/// One task's work: where it starts, where it stops, where its image goes.
#[derive(Debug, Clone)]
pub struct Job {
    /// The starting point.
    pub start: Start,
    /// The stopping point.
    pub stop_after: StopAfter,
    /// Stream the image to this file instead of memory.
    pub download_to: Option<PathBuf>,
}

impl Job {
    /// Submit, poll and download to memory.
    pub fn generate(req: GenerationRequest) -> Job {
        Job {
            start: Start::Submit(req),
            stop_after: StopAfter::Downloaded,
            download_to: None,
        }
    }
    /// Picks up a task submitted earlier: poll it (never submitting again), then download it to
    /// memory (or to a file, with [`Job::to_file`]).
    pub fn resume(task: SubmittedTask) -> Job {
        Job {
            start: Start::Poll(task),
            stop_after: StopAfter::Downloaded,
            download_to: None,
        }
    }
    /// Streams the image to `path`.
    pub fn to_file(mut self, path: impl Into<PathBuf>) -> Job {
        self.download_to = Some(path.into());
        self
    }
    /// The model id of the job.
    pub fn model(&self) -> &str {
        match &self.start {
            Start::Submit(r) => r.model(),
            Start::Poll(task) => &task.model,
            Start::Download(r) => &r.task.model,
        }
    }
}
