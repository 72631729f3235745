//! One generation with a progress callback, for a status line or a progress bar — without
//! reaching for [`Client::run_hooked`], [`Hooks`] and a [`TaskObserver`].

use crate::api::{GenerationRequest, Status};
use crate::client::{downloaded, Client};
use crate::error::TaskError;
use crate::machine::{Job, TaskEvent};
use crate::observe::{Hooks, RecordError, TaskObserver};
use crate::task::TaskOutput;
use std::path::Path;
use std::sync::Mutex;

/// Where one generation stands, as its callback sees it after each step.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Progress {
    /// The task id, once the server accepted the task.
    pub task_id: Option<String>,
    /// The last status a poll saw.
    pub status: Option<Status>,
    /// The server's last progress report, 0.0 to 1.0 (BFL's answers carry one while pending).
    pub progress: Option<f64>,
    /// Polls so far.
    pub polls: u32,
    /// Requests retried so far (5xx, timeouts, 429s).
    pub retries: u32,
    /// Whether the task is terminal on the server (the download comes next, if it succeeded).
    pub terminal: bool,
}

impl Progress {
    /// Takes in one event of the task.
    pub fn update(&mut self, event: &TaskEvent) {
        match event {
            TaskEvent::Submitting => {}
            TaskEvent::Submitted(t) => self.task_id = Some(t.id.clone()),
            TaskEvent::RateLimited { .. } | TaskEvent::Retrying { .. } => self.retries += 1,
            TaskEvent::Polled {
                status, progress, ..
            } => {
                self.polls += 1;
                self.status = Some(status.clone());
                if progress.is_some() {
                    self.progress = *progress;
                }
            }
            TaskEvent::Terminal(status) => {
                self.status = Some(status.clone());
                self.terminal = true;
            }
        }
    }
}

impl Client {
    /// Submits, polls and downloads (to memory, or streamed to `dest`), calling `on_progress`
    /// after every step: the task accepted, each poll, each retry, the terminal status —
    /// without reaching for [`Client::run_hooked`], [`Hooks`] and a [`TaskObserver`].
    ///
    /// ```no_run
    /// # async fn demo(client: bfl_core::Client) -> Result<(), bfl_core::TaskError> {
    /// let req = bfl_core::GenerationRequest::new("flux-2-pro", "a red fox in snow");
    /// let out = client
    ///     .generate_with_progress(req, None, |p: &bfl_core::Progress| {
    ///         eprintln!("{} {:?} {:?}", p.polls, p.status, p.progress);
    ///     })
    ///     .await?;
    /// println!("{} bytes", out.image.len());
    /// # Ok(()) }
    /// ```
    pub async fn generate_with_progress(
        &self,
        req: GenerationRequest,
        dest: Option<&Path>,
        on_progress: impl FnMut(&Progress) + Send,
    ) -> Result<TaskOutput, TaskError> {
        let job = match dest {
            Some(path) => Job::generate(req).to_file(path),
            None => Job::generate(req),
        };
        let callback = Callback(Mutex::new((Progress::default(), on_progress)));
        let hooks = Hooks {
            halt: None,
            observer: &callback,
        };
        downloaded(self.run_hooked(job, self.next_task_seed(), hooks).await)
    }
}

/// The callback as the driver's observer: the progress so far, and the caller's function.
struct Callback<F>(Mutex<(Progress, F)>);

#[async_trait::async_trait]
impl<F: FnMut(&Progress) + Send> TaskObserver for Callback<F> {
    async fn on_event(&self, event: &TaskEvent) -> Result<(), RecordError> {
        if let Ok(mut state) = self.0.lock() {
            let (progress, on_progress) = &mut *state;
            progress.update(event);
            if !matches!(event, TaskEvent::Submitting) {
                on_progress(progress);
            }
        }
        Ok(())
    }
}
