//! `bfl generate PROMPT`: one image.

use super::connect::connect;
use super::output::{emit, fail, shown, task_failed};
use super::{EngineArgs, Global, EXIT_CONFIG, EXIT_USAGE};
use bfl_core::{GenerationRequest, OutputFormat, TaskOutput};
use clap::Args;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

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
    let mut status = crate::progress::TaskStatus::new(std::io::stderr().is_terminal());
    let quiet = global.json || args.no_progress;
    let result = conn
        .client
        .generate_with_progress(req, Some(&out), |p| {
            if !quiet {
                status.show(p);
            }
        })
        .await;
    status.finish();
    let code = match result {
        Ok(output) => report_written(global, &out, &output),
        Err(e) => task_failed(global, &e),
    };
    conn.close().await;
    code
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
