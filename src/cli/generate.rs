//! `bfl generate PROMPT`: one image.

use super::connect::connected;
use super::output::{fail, task_failed};
use super::single::{check_writable, interrupted, report_written, watched_with, Watch, Watched};
use super::{EngineArgs, Global, EXIT_USAGE};
use bfl_core::{GenerationRequest, OutputFormat};
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
pub(super) async fn run(global: &Global, args: &GenerateArgs) -> u8 {
    let (req, out) = match destination(args) {
        Ok(d) => d,
        Err(msg) => return fail(global, EXIT_USAGE, &msg),
    };
    let job = bfl_core::Job::generate(req).to_file(&out);
    let show = !(global.json || args.no_progress);
    let watch = Watch::showing(show.then(|| std::io::stderr().is_terminal()));
    connected(
        global,
        Some(&args.engine),
        None,
        async |conn| match watched_with(&conn.client, job, watch).await {
            Watched::Finished(result) => match *result {
                Ok(output) => report_written(global, &out, &output),
                Err(e) => task_failed(global, &e),
            },
            Watched::Interrupted(watch) => interrupted(global, &watch, &out, conn.sim.is_some()),
        },
    )
    .await
    .unwrap_or_else(|code| code)
}

/// The request and the file it goes to; refused before anything is paid when the file exists
/// (without --force), cannot be written, or is named for another format than the image's.
fn destination(args: &GenerateArgs) -> Result<(GenerationRequest, PathBuf), String> {
    let mut req = crate::image_input::with_images(args.request(), &args.images, Path::new("."))
        .map_err(|e| e.to_string())?;
    let out = args.out.clone().unwrap_or_else(|| default_path(&req));
    check_writable(&out).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    if args.out.is_some() {
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
    }
    crate::request_check::check(&req)?;
    if !args.force && out.exists() {
        return Err(format!(
            "{} exists: pass --force to overwrite it",
            out.display()
        ));
    }
    Ok((req, out))
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
