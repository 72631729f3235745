//! What a task produces at each stage, and the report that comes with it.

use crate::api::GenerationResult;
use crate::error::TaskError;
use crate::transport::DownloadedFile;
use bytes::Bytes;
use std::time::Duration;

/// A task the server accepted — what the machine polls, errors name, a journal stores and a
/// resume starts from ([`Job::resume`](crate::Job::resume)). Serialized flat:
/// `{"id", "polling_url", "model", "cost"?}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SubmittedTask {
    /// The task id.
    pub id: String,
    /// The URL to poll: the submit answer's, or the API host's by id when that one's host may
    /// not receive the key.
    pub polling_url: String,
    /// The model id (empty when unknown, e.g. a task id given by hand).
    #[serde(default)]
    pub model: String,
    /// The cost the server quoted, in credits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
}

impl SubmittedTask {
    /// A task known only by id and polling URL (its model unknown).
    pub fn known_as(id: impl Into<String>, polling_url: impl Into<String>) -> SubmittedTask {
        SubmittedTask {
            id: id.into(),
            polling_url: polling_url.into(),
            model: String::new(),
            cost: None,
        }
    }
}

/// A task that reached `Ready`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadyTask {
    /// The task (id, polling URL, model, quoted cost).
    pub task: SubmittedTask,
    /// The server's result (prompt used, seed, times).
    pub result: GenerationResult,
    /// The signed URL of the image.
    pub sample_url: String,
    /// When the sample URL expires, unix seconds.
    pub expires_at: f64,
}

/// The downloaded image.
#[derive(Debug, Clone, PartialEq)]
pub enum Image {
    /// In memory.
    Memory(Bytes),
    /// Streamed to a file.
    File(DownloadedFile),
}

impl Image {
    /// The image size in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Image::Memory(b) => b.len() as u64,
            Image::File(f) => f.len,
        }
    }
    /// Whether the image is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A generated and downloaded image.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskOutput {
    /// The ready task it came from.
    pub ready: ReadyTask,
    /// The image.
    pub image: Image,
}

/// How far a task got when its machine finished successfully.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Finished {
    /// Stopped after the submit (`Client::submit`).
    Submitted(SubmittedTask),
    /// Stopped at `Ready` (`Client::poll`).
    Ready(ReadyTask),
    /// Downloaded (`Client::generate`, `Client::download`).
    Downloaded(TaskOutput),
}

/// What one task cost and how it went; comes with every outcome, success or not.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TaskReport {
    /// The model id.
    pub model: String,
    /// The polling strategy's name.
    pub strategy: String,
    /// Submit requests sent (429s and retries included).
    pub submits: u32,
    /// Poll requests sent.
    pub polls: u32,
    /// Download requests sent.
    pub downloads: u32,
    /// 429 answers received.
    pub rate_limited: u32,
    /// Requests that were retries of a failed one (5xx, transport, malformed).
    pub retries: u32,
    /// From the submit's answer to the first poll answer that said `Ready`.
    pub time_to_ready: Option<Duration>,
    /// From the machine's start to its end.
    pub elapsed: Duration,
    /// The last status a poll saw.
    pub last_status: Option<String>,
    /// Verified webhook deliveries claiming the task over (each at most one confirming poll).
    pub hints: u32,
}

impl TaskReport {
    /// All requests sent.
    pub fn requests(&self) -> u32 {
        self.submits + self.polls + self.downloads
    }
}

/// A finished task: how far it got (or why it stopped) and its report.
#[derive(Debug, Clone)]
pub struct TaskOutcome {
    /// The result.
    pub result: Result<Finished, TaskError>,
    /// The report.
    pub report: TaskReport,
}
