//! `bfl generate PROMPT`: one image.

use super::connect::connect;
use super::output::{emit, fail, shown, task_failed};
use super::{EngineArgs, Global, EXIT_CONFIG, EXIT_USAGE};
use bfl_core::{GenerationRequest, OutputFormat, TaskOutput};
use clap::Args;
use std::path::PathBuf;

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
    // Refuse an unwritable destination before paying for the image.
    if let Err(e) = check_writable(&out) {
        let msg = format!("cannot write {}: {e}", out.display());
        return fail(global, EXIT_USAGE, &msg);
    }
    let conn = match connect(global, Some(&args.engine), None).await {
        Ok(c) => c,
        Err(e) => return fail(global, EXIT_CONFIG, &e.to_string()),
    };
    let code = match conn.client.generate_to_file(req, &out).await {
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
