//! Where each job's image goes: `OUT/NNNN-slug.EXT`.

use crate::batch::input::InputJob;
use bfl_core::GenerationRequest;
use std::path::{Path, PathBuf};

/// `OUT/NNNN-slug.EXT`: sorted like the input, readable, and unique per job.
pub fn image_path(out_dir: &Path, index: usize, job: &InputJob) -> PathBuf {
    let slug = prompt_slug(&job.request);
    let ext = job.request.effective_output_format().extension();
    let name = if slug.is_empty() {
        format!("{:04}.{ext}", index + 1)
    } else {
        format!("{:04}-{slug}.{ext}", index + 1)
    };
    out_dir.join(name)
}

/// A file-name fragment from a request's prompt: lowercase letters and digits (of any script, so
/// `東京の夜` stays a name), other runs as one `-`, at most 40 characters; empty without a prompt.
pub fn prompt_slug(req: &GenerationRequest) -> String {
    let prompt = req
        .body()
        .get("prompt")
        .and_then(|p| p.as_str())
        .unwrap_or("");
    let mut slug = String::new();
    for c in prompt.chars() {
        if slug.chars().count() >= 40 {
            break;
        }
        if c.is_alphanumeric() {
            slug.extend(c.to_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_sort_like_the_input_and_read_like_the_prompt() {
        let job = |body: &str| InputJob {
            line: 1,
            request: crate::batch::input::parse_jobs(
                body,
                &crate::batch::input::Defaults::new("flux-2-pro"),
            )
            .unwrap()
            .remove(0)
            .request,
        };
        let fox = job("  A red FOX, in snow!  ");
        assert_eq!(prompt_slug(&fox.request), "a-red-fox-in-snow");
        assert_eq!(prompt_slug(&job("東京の夜, Été").request), "東京の夜-été");
        assert_eq!(
            image_path(Path::new("out"), 6, &fox),
            Path::new("out/0007-a-red-fox-in-snow.jpeg")
        );
        let unnamed = job(r#"{"model": "flux-pro-1.1", "output_format": "png"}"#);
        assert_eq!(prompt_slug(&unnamed.request), "");
        assert_eq!(
            image_path(Path::new("o"), 0, &unnamed),
            Path::new("o/0001.png")
        );
    }
}
