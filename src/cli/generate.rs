//! `bfl generate PROMPT`: one image.

use super::connect::connect;
use super::output::{fail, task_failed};
use super::{EngineArgs, Global, EXIT_CONFIG, EXIT_INTERRUPTED, EXIT_USAGE};
use bfl_core::TaskRef;
use bfl_core::{GenerationRequest, OutputFormat, RecordError, TaskEvent, TaskObserver, TaskOutput};
use clap::Args;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Flags of `bfl generate`.
#[derive(Debug, Clone, Args)]
pub struct GenerateArgs {
    /// What to draw.
    pub prompt: String,
    /// The model id (the path of the submit URL).
    #[arg(long, default_value = "flux-2-pro")]
    pub model: String,
    /// Where to write the image (default: a name made from the prompt, in the current directory).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// The image format: jpeg, png or webp.
    #[arg(long)]
    pub format: Option<OutputFormat>,
    /// The generation seed.
    #[arg(long)]
    pub seed: Option<i64>,
    /// Width in pixels (with --height).
    #[arg(long, requires = "height", conflicts_with = "aspect_ratio")]
    pub width: Option<u32>,
    /// Height in pixels (with --width).
    #[arg(long, requires = "width")]
    pub height: Option<u32>,
    /// Aspect ratio, e.g. 16:9 (Kontext and Ultra models).
    #[arg(long)]
    pub aspect_ratio: Option<String>,
    /// Engine settings.
    #[command(flatten)]
    pub engine: EngineArgs,
}

impl GenerateArgs {
    /// The request these flags describe.
    pub fn request(&self) -> GenerationRequest {
        let mut req = GenerationRequest::new(self.model.clone(), self.prompt.clone());
        if let Some(f) = self.format {
            req = req.output_format(f);
        }
        if let Some(s) = self.seed {
            req = req.seed(s);
        }
        if let (Some(w), Some(h)) = (self.width, self.height) {
            req = req.size(w, h);
        }
        if let Some(r) = &self.aspect_ratio {
            req = req.aspect_ratio(r.clone());
        }
        req
    }
}

/// Generates the image and writes it.
pub async fn run(global: &Global, args: &GenerateArgs) -> u8 {
    let req = args.request();
    let out = args.out.clone().unwrap_or_else(|| default_path(&req));
    // Refuse a destination that would fail only after paying for the image.
    if let Err(e) = check_writable(&out) {
        let msg = format!("cannot write {}: {e}", out.display());
        return fail(global, EXIT_USAGE, &msg);
    }
    let conn = match connect(global, Some(&args.engine), None).await {
        Ok(c) => c,
        Err(e) => return fail(global, EXIT_CONFIG, &e.to_string()),
    };
    let job = bfl_core::Job::generate(req).to_file(&out);
    let code = match watched(&conn.client, job).await {
        Watched::Finished(result) => match *result {
            Ok(output) => report_written(global, &out, &output),
            Err(e) => task_failed(global, &e),
        },
        Watched::Interrupted(watch) => interrupted(global, &watch, &out, conn.sim.is_some()),
    };
    conn.close().await;
    code
}

/// How a watched run ended.
pub(super) enum Watched {
    /// On its own.
    Finished(Box<Result<TaskOutput, bfl_core::TaskError>>),
    /// By Ctrl-C, with what was seen of the task by then.
    Interrupted(Watch),
}

/// Runs `job` to its end or to the first Ctrl-C, watching for its task id.
pub(super) async fn watched(client: &bfl_core::Client, job: bfl_core::Job) -> Watched {
    let watch = Watch::default();
    let hooks = bfl_core::Hooks {
        halt: None,
        observer: &watch,
    };
    let seed = bfl_core::client::task_seed(client.seed(), 0);
    let mut interrupts = super::interrupts();
    tokio::select! {
        outcome = client.run_hooked(job, seed, hooks) => Watched::Finished(Box::new(match outcome.result {
            Ok(bfl_core::Finished::Downloaded(o)) => Ok(o),
            Ok(other) => Err(bfl_core::TaskError::NotSubmitted {
                reason: format!("internal: the task stopped at {other:?}"),
            }),
            Err(e) => Err(e),
        })),
        Some(()) = interrupts.recv() => Watched::Interrupted(watch),
    }
}

/// What a task's events showed: whether its submit left, and its id once accepted.
#[derive(Debug, Default)]
pub(super) struct Watch {
    submitting: AtomicBool,
    submitted: Mutex<Option<TaskRef>>,
}

#[async_trait::async_trait]
impl TaskObserver for Watch {
    async fn on_event(&self, event: &TaskEvent) -> Result<(), RecordError> {
        match event {
            TaskEvent::Submitting => self.submitting.store(true, Ordering::Release),
            TaskEvent::Submitted(t) => {
                if let Ok(mut s) = self.submitted.lock() {
                    *s = Some(t.task.clone());
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Says what an interrupt left behind — above all the id of a paid task — and returns 130.
pub(super) fn interrupted(global: &Global, watch: &Watch, out: &Path, sim: bool) -> u8 {
    let task = watch.submitted.lock().ok().and_then(|t| t.clone());
    let submitting = watch.submitting.load(Ordering::Acquire);
    let (charged, message) = match (&task, submitting) {
        (Some(t), _) if sim => (
            false,
            format!("interrupted: task {} dies with the embedded simulator (nothing was paid)", t.id),
        ),
        (Some(t), _) => (
            true,
            format!(
                "interrupted: task {} is paid and still running; get its image with:\n  bfl resume {} --polling-url '{}' --out '{}'",
                t.id, t.id, t.polling_url, out.display()
            ),
        ),
        (None, true) => (
            !sim,
            "interrupted while the submit was in flight: it may have been charged, and no task id came back".to_owned(),
        ),
        (None, false) => (false, "interrupted before anything was submitted: nothing was charged".to_owned()),
    };
    if global.json {
        println!(
            "{}",
            serde_json::json!({
                "error": "interrupted",
                "id": task.as_ref().map(|t| t.id.clone()),
                "polling_url": task.as_ref().map(|t| t.polling_url.clone()),
                "may_have_been_charged": charged,
                "exit_code": EXIT_INTERRUPTED,
            })
        );
    } else {
        eprintln!("{message}");
    }
    EXIT_INTERRUPTED
}

/// Prints what was written (JSON with `--json`); the exit code of success.
pub(super) fn report_written(global: &Global, out: &std::path::Path, output: &TaskOutput) -> u8 {
    let bytes = output.image.len();
    let task = &output.ready.task;
    if global.json {
        println!(
            "{}",
            serde_json::json!({
                "path": out,
                "bytes": bytes,
                "id": task.id,
                "seed": output.ready.result.seed,
                "expires_at": output.ready.expires_at,
            })
        );
    } else {
        println!(
            "wrote {} ({bytes} bytes) from task {}",
            out.display(),
            task.id
        );
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

/// `slug-of-the-prompt.EXT` in the current directory.
fn default_path(req: &GenerationRequest) -> PathBuf {
    let slug = crate::batch::prompt_slug(req);
    let stem = if slug.is_empty() { "image" } else { &slug };
    PathBuf::from(format!(
        "{stem}.{}",
        req.effective_output_format().extension()
    ))
}
