//! The input of `bfl batch`: a file of prompts, one per line (plain text), or one JSON request per
//! line (JSON lines, each with its own model and parameters).
//!
//! ```
//! use bfl::batch::input::{parse_jobs, Defaults};
//! let text = "a red fox in snow\n# a comment\n\n{\"model\": \"flux-dev\", \"prompt\": \"a cat\", \"seed\": 3}\n";
//! let jobs = parse_jobs(text, &Defaults::new("flux-2-pro")).unwrap();
//! assert_eq!(jobs.len(), 2);
//! assert_eq!(jobs[0].request.model(), "flux-2-pro");
//! assert_eq!(jobs[1].request.model(), "flux-dev");
//! assert_eq!(jobs[1].line, 4);
//! ```

use bfl_core::{GenerationRequest, OutputFormat};
use serde_json::{Map, Value};

/// Settings applied to every line that does not set them itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    /// The model of plain-text lines, and of JSON lines without `"model"`.
    pub model: String,
    /// The output format, unless a line sets `output_format`.
    pub format: Option<OutputFormat>,
    /// Extra fields (seed, size…) added unless a line sets them.
    pub fields: Map<String, Value>,
}

impl Defaults {
    /// Defaults with only a model.
    pub fn new(model: impl Into<String>) -> Defaults {
        Defaults {
            model: model.into(),
            format: None,
            fields: Map::new(),
        }
    }
}

/// One job of the input.
#[derive(Debug, Clone, PartialEq)]
pub struct InputJob {
    /// The 1-based line it came from.
    pub line: usize,
    /// The request.
    pub request: GenerationRequest,
}

/// Why an input file cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum InputError {
    /// A line starting with `{` is not a JSON object.
    #[error("line {line}: not a JSON object: {reason}")]
    BadJson {
        /// The 1-based line.
        line: usize,
        /// What the parser said.
        reason: String,
    },
    /// A JSON line's `model` is not a string.
    #[error("line {line}: \"model\" must be a string naming a model, e.g. \"flux-2-pro\"")]
    BadModel {
        /// The 1-based line.
        line: usize,
    },
    /// The model's schema refuses the line (see [`crate::request_check`]).
    #[error("line {line}: {reason}")]
    Invalid {
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Nothing to do.
    #[error("no prompts: the file is empty or holds only comments (lines starting with #)")]
    Empty,
}

/// Parses the input: blank lines and lines starting with `#` are skipped; a line starting with `{`
/// is a JSON request; any other line is a prompt. Every request is checked against its model's
/// schema ([`crate::request_check`]), so nothing is paid for a file the server would refuse.
pub fn parse_jobs(text: &str, defaults: &Defaults) -> Result<Vec<InputJob>, InputError> {
    let mut jobs = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let request = if trimmed.starts_with('{') {
            json_request(trimmed, line, defaults)?
        } else {
            with_defaults(
                GenerationRequest::new(defaults.model.clone(), trimmed),
                defaults,
            )
        };
        crate::request_check::check(&request)
            .map_err(|reason| InputError::Invalid { line, reason })?;
        jobs.push(InputJob { line, request });
    }
    if jobs.is_empty() {
        return Err(InputError::Empty);
    }
    Ok(jobs)
}

fn json_request(
    text: &str,
    line: usize,
    defaults: &Defaults,
) -> Result<GenerationRequest, InputError> {
    let mut body: Map<String, Value> =
        serde_json::from_str(text).map_err(|e| InputError::BadJson {
            line,
            reason: e.to_string(),
        })?;
    let model = match body.remove("model") {
        None => defaults.model.clone(),
        Some(Value::String(m)) if !m.trim().is_empty() => m,
        Some(_) => return Err(InputError::BadModel { line }),
    };
    Ok(with_defaults(
        GenerationRequest::from_body(model, body),
        defaults,
    ))
}

fn with_defaults(mut req: GenerationRequest, defaults: &Defaults) -> GenerationRequest {
    for (name, value) in &defaults.fields {
        if !req.body().contains_key(name) {
            req = req.field(name.clone(), value.clone());
        }
    }
    match defaults.format {
        Some(format) if !req.body().contains_key("output_format") => req.output_format(format),
        _ => req,
    }
}

/// A stable fingerprint of the input text (FNV-1a, 64 bits), so a journal is never resumed
/// against a different file.
pub fn fingerprint(text: &str) -> String {
    let hash = bfl_core::stats::Fnv1a::new()
        .bytes(text.as_bytes())
        .finish();
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_take_the_defaults_and_json_lines_keep_their_own() {
        let mut d = Defaults::new("flux-2-pro");
        d.format = Some(OutputFormat::Png);
        d.fields.insert("seed".into(), 9.into());
        let jobs = parse_jobs(
            "fox\n{\"prompt\":\"cat\",\"seed\":1,\"output_format\":\"webp\",\"extra\":true}\n",
            &d,
        )
        .unwrap();
        assert_eq!(jobs[0].request.body()["seed"], 9);
        assert_eq!(jobs[0].request.effective_output_format(), OutputFormat::Png);
        assert_eq!(jobs[1].request.model(), "flux-2-pro");
        assert_eq!(jobs[1].request.body()["seed"], 1);
        assert_eq!(jobs[1].request.body()["extra"], true);
        assert_eq!(
            jobs[1].request.effective_output_format(),
            OutputFormat::Webp
        );
    }

    #[test]
    fn lines_the_schema_refuses_are_named() {
        let d = Defaults::new("flux-2-pro");
        let text = "a fox\n{\"prompt\": \"cat\", \"output_format\": \"gif\"}\n";
        assert!(matches!(
            parse_jobs(text, &d),
            Err(InputError::Invalid { line: 2, reason }) if reason.contains("output_format")
        ));
        let text = "{\"prompt\": \"cat\", \"widht\": 512}";
        assert!(matches!(
            parse_jobs(text, &d),
            Err(InputError::Invalid { line: 1, reason }) if reason.contains("did you mean \"width\"")
        ));
    }

    #[test]
    fn bad_lines_are_named() {
        let d = Defaults::new("m");
        assert!(matches!(
            parse_jobs("ok\n{not json\n", &d),
            Err(InputError::BadJson { line: 2, .. })
        ));
        assert_eq!(
            parse_jobs("{\"model\": 3}", &d),
            Err(InputError::BadModel { line: 1 })
        );
        assert_eq!(parse_jobs("# only\n\n", &d), Err(InputError::Empty));
    }

    #[test]
    fn fingerprints_differ_when_the_text_does() {
        assert_eq!(fingerprint("a\nb"), fingerprint("a\nb"));
        assert_ne!(fingerprint("a\nb"), fingerprint("a\nc"));
    }
}
