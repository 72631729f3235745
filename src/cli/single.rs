//! One task to one file, as `generate` and `resume` run it: the destination checked before
//! anything is paid, the task watched to its end or to the first Ctrl-C (then its id and the
//! command that gets its image are printed), and what was written reported.

use super::output::{emit, shown};
use super::{Global, EXIT_INTERRUPTED};
use bfl_core::{RecordError, SubmittedTask, TaskEvent, TaskObserver, TaskOutput};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// How a watched run ended.
pub(super) enum Watched {
    /// On its own.
    Finished(Box<Result<TaskOutput, bfl_core::TaskError>>),
    /// By Ctrl-C, with what was seen of the task by then.
    Interrupted(Box<Watch>),
}

/// Runs `job` to its end or to the first Ctrl-C, watching for its task id.
pub(super) async fn watched(client: &bfl_core::Client, job: bfl_core::Job) -> Watched {
    watched_with(client, job, Watch::default()).await
}

/// [`watched`] with a watch of one's own (one that shows a status line).
pub(super) async fn watched_with(
    client: &bfl_core::Client,
    job: bfl_core::Job,
    watch: Watch,
) -> Watched {
    let hooks = bfl_core::Hooks {
        halt: None,
        observer: &watch,
    };
    let seed = client.next_task_seed();
    let mut interrupts = super::interrupts();
    tokio::select! {
        outcome = client.run_hooked(job, seed, hooks) => Watched::Finished(Box::new(match outcome.result {
            Ok(bfl_core::Finished::Downloaded(o)) => Ok(o),
            Ok(other) => Err(bfl_core::TaskError::internal(
                bfl_core::Phase::Download,
                format!("the task stopped at {other:?}"),
            )),
            Err(e) => Err(e),
        })),
        Some(()) = interrupts.recv() => Watched::Interrupted(Box::new(watch)),
    }
}

/// What a task's events showed: whether its submit left, and its id once accepted; and, when
/// asked, a status line of where the task stands.
#[derive(Debug, Default)]
pub(super) struct Watch {
    submitting: AtomicBool,
    submitted: Mutex<Option<SubmittedTask>>,
    status: Option<Mutex<(bfl_core::Progress, crate::progress::TaskStatus)>>,
}

impl Watch {
    /// A watch with a status line: `Some(true)` a spinner (a terminal), `Some(false)` plain
    /// lines, `None` none.
    pub(super) fn showing(bar: Option<bool>) -> Watch {
        Watch {
            status: bar.map(|bar| {
                Mutex::new((
                    bfl_core::Progress::default(),
                    crate::progress::TaskStatus::new(bar),
                ))
            }),
            ..Watch::default()
        }
    }

    fn show(&self, event: &TaskEvent) {
        let Some(Ok(mut status)) = self.status.as_ref().map(Mutex::lock) else {
            return;
        };
        let (progress, line) = &mut *status;
        progress.update(event);
        if !matches!(event, TaskEvent::Submitting) {
            line.show(progress);
        }
    }

    /// Takes the status line off the screen.
    fn finish(&self) {
        if let Some(Ok(status)) = self.status.as_ref().map(Mutex::lock) {
            status.1.finish();
        }
    }
}

#[async_trait::async_trait]
impl TaskObserver for Watch {
    async fn on_event(&self, event: &TaskEvent) -> Result<(), RecordError> {
        self.show(event);
        match event {
            TaskEvent::Submitting => self.submitting.store(true, Ordering::Release),
            TaskEvent::Submitted(t) => {
                if let Ok(mut s) = self.submitted.lock() {
                    *s = Some(t.clone());
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Says what an interrupt left behind — above all the id of a paid task — and returns 130.
pub(super) fn interrupted(global: &Global, watch: &Watch, out: &Path, sim: bool) -> u8 {
    watch.finish();
    let task = watch.submitted.lock().ok().and_then(|t| t.clone());
    let submitting = watch.submitting.load(Ordering::Acquire);
    let (charged, message) = match (&task, submitting) {
        (Some(t), _) if sim => (
            false,
            format!("interrupted: task {} dies with the embedded simulator (nothing was paid)", shown(&t.id)),
        ),
        (Some(t), _) => (
            true,
            format!(
                "interrupted: task {} is paid and still running; get its image with:\n  {}",
                shown(&t.id), crate::shell::resume_command(t, &out.display().to_string())
            ),
        ),
        (None, true) => (
            !sim,
            "interrupted while the submit was in flight: it may have been charged, and no task id came back".to_owned(),
        ),
        (None, false) => (false, "interrupted before anything was submitted: nothing was charged".to_owned()),
    };
    if global.json {
        emit(serde_json::json!({
            "error": "interrupted",
            "id": task.as_ref().map(|t| t.id.clone()),
            "polling_url": task.as_ref().map(|t| t.polling_url.clone()),
            "may_have_been_charged": charged,
            "exit_code": EXIT_INTERRUPTED,
        }));
    } else {
        eprintln!("{message}");
    }
    EXIT_INTERRUPTED
}

/// Prints what was written (JSON with `--json`); the exit code of success.
pub(super) fn report_written(global: &Global, out: &std::path::Path, output: &TaskOutput) -> u8 {
    let bytes = output.image.len();
    let task = &output.ready.task;
    let seed = output.ready.result.seed;
    if global.json {
        emit(serde_json::json!({
            "path": out,
            "bytes": bytes,
            "id": task.id,
            "seed": seed,
            "expires_at": output.ready.expires_at,
        }));
    } else {
        let seed = seed.map_or_else(|| "unknown".to_owned(), |s| s.to_string());
        emit(format!(
            "wrote {} ({bytes} bytes) from task {}, seed {seed}",
            out.display(),
            shown(&task.id)
        ));
    }
    0
}

/// Creates the destination's directory and checks a file can be created there (the probe is a
/// temporary file beside it, removed at once).
pub(super) fn check_writable(out: &std::path::Path) -> std::io::Result<()> {
    if out.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "it is a directory (give a file name, e.g. DIR/image.jpeg)",
        ));
    }
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let probe = bfl_core::transport::temp_path_for(out);
    std::fs::File::create(&probe)?;
    std::fs::remove_file(&probe)
}
