//! `bfl generate PROMPT`: one image.

use super::connect::connect;
use super::output::{emit, fail, shown, task_failed};
use super::{EngineArgs, Global, EXIT_CONFIG, EXIT_INTERRUPTED, EXIT_USAGE};
use bfl_core::TaskRef;
use bfl_core::{GenerationRequest, OutputFormat, RecordError, TaskEvent, TaskObserver, TaskOutput};
use clap::Args;
use std::io::IsTerminal;
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
    /// The image format: jpeg, png or webp (default: the --out file's extension, else the
    /// model's default).
    #[arg(long)]
    pub format: Option<OutputFormat>,
    /// No status line while the image is made.
    #[arg(long)]
    pub no_progress: bool,
    /// Overwrite --out if it exists.
    #[arg(long)]
    pub force: bool,
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
    /// A reference image: a local file, an http(s) URL or base64. Repeat for models that take
    /// several (FLUX.2: up to 8, Kontext: 4); they fill input_image, input_image_2, … (or the
    /// model's own image field, e.g. image_prompt).
    #[arg(long = "image", short = 'i', value_name = "FILE|URL")]
    pub images: Vec<String>,
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
    let (req, out) = match destination(args) {
        Ok(d) => d,
        Err(msg) => return fail(global, EXIT_USAGE, &msg),
    };
    let conn = match connect(global, Some(&args.engine), None).await {
        Ok(c) => c,
        Err(e) => return fail(global, EXIT_CONFIG, &e.to_string()),
    };
    let job = bfl_core::Job::generate(req).to_file(&out);
    let show = !(global.json || args.no_progress);
    let watch = Watch::showing(show.then(|| std::io::stderr().is_terminal()));
    let code = match watched_with(&conn.client, job, watch).await {
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
    watched_with(client, job, Watch::default()).await
}

/// [`watched`] with a watch of one's own (one that shows a status line).
async fn watched_with(client: &bfl_core::Client, job: bfl_core::Job, watch: Watch) -> Watched {
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

/// What a task's events showed: whether its submit left, and its id once accepted; and, when
/// asked, a status line of where the task stands.
#[derive(Debug, Default)]
pub(super) struct Watch {
    submitting: AtomicBool,
    submitted: Mutex<Option<TaskRef>>,
    status: Option<Mutex<(bfl_core::progress::Progress, crate::progress::TaskStatus)>>,
}

impl Watch {
    /// A watch with a status line: `Some(true)` a spinner (a terminal), `Some(false)` plain
    /// lines, `None` none.
    fn showing(bar: Option<bool>) -> Watch {
        Watch {
            status: bar.map(|bar| {
                Mutex::new((
                    bfl_core::progress::Progress::default(),
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
                "interrupted: task {} is paid and still running; get its image with:\n  bfl resume {} --polling-url '{}' --out '{}'",
                shown(&t.id), shown(&t.id), shown(&t.polling_url), out.display()
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

/// The request and the file it goes to; refused before anything is paid when the file exists
/// (without --force), cannot be written, or is named for another format than the image's.
fn destination(args: &GenerateArgs) -> Result<(GenerationRequest, PathBuf), String> {
    let mut req = crate::image_input::with_images(args.request(), &args.images, Path::new("."))
        .map_err(|e| e.to_string())?;
    crate::request_check::check(&req)?;
    let out = match &args.out {
        None => default_path(&req),
        Some(out) => {
            let named = out
                .extension()
                .and_then(|e| e.to_str())
                .and_then(|e| e.parse::<OutputFormat>().ok())
                .ok_or_else(|| {
                    format!(
                        "{}: name the file .jpeg, .jpg, .png or .webp, for the image's format",
                        out.display()
                    )
                })?;
            match args.format {
                Some(f) if f != named => {
                    return Err(format!(
                        "{} is named for {named}, but --format is {f}: the bytes would not match the name",
                        out.display()
                    ))
                }
                Some(_) => {}
                None => req = req.output_format(named),
            }
            out.clone()
        }
    };
    if !args.force && out.exists() {
        return Err(format!(
            "{} exists: pass --force to overwrite it",
            out.display()
        ));
    }
    check_writable(&out).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Ok((req, out))
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
