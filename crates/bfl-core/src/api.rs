//! Wire types of the BFL API (`docs/bfl-api.md` in the repository): requests, submit and poll answers, statuses, errors.
//!
//! Parsing is lenient by design: unknown fields are ignored (or kept in `extra`), an unknown status
//! string becomes [`Status::Unknown`], and no input — however malformed — makes a parser panic.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// The active-task limit BFL applies to a key for most models.
pub const DEFAULT_ACTIVE_LIMIT: usize = 24;
/// The active-task limit BFL applies to `flux-kontext-max`.
pub const KONTEXT_MAX_ACTIVE_LIMIT: usize = 6;
/// How long a result URL lives after the generation's `end_time`.
pub const RESULT_URL_LIFETIME: std::time::Duration = std::time::Duration::from_secs(600);

/// The active-task limit BFL documents for `model`.
pub fn known_active_limit(model: &str) -> usize {
    if model == "flux-kontext-max" {
        KONTEXT_MAX_ACTIVE_LIMIT
    } else {
        DEFAULT_ACTIVE_LIMIT
    }
}

/// Output image formats the API can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// JPEG (the default of most models).
    Jpeg,
    /// PNG (the default of Kontext models).
    Png,
    /// WebP.
    Webp,
}

impl OutputFormat {
    /// The file extension for this format, without a dot.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "jpeg",
            OutputFormat::Png => "png",
            OutputFormat::Webp => "webp",
        }
    }

    /// The format a model produces when the request names none.
    pub fn default_for_model(model: &str) -> Self {
        if model.starts_with("flux-kontext") {
            OutputFormat::Png
        } else {
            OutputFormat::Jpeg
        }
    }
}

impl std::str::FromStr for OutputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "jpeg" | "jpg" => Ok(OutputFormat::Jpeg),
            "png" => Ok(OutputFormat::Png),
            "webp" => Ok(OutputFormat::Webp),
            other => Err(format!(
                "unknown output format {other:?} (expected jpeg, png or webp)"
            )),
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

/// A generation request: a model id (any string — the model list is open-ended) and a JSON body.
///
/// Typed setters cover the common fields; [`GenerationRequest::field`] passes anything else through.
///
/// ```
/// use bfl_core::api::{GenerationRequest, OutputFormat};
/// let req = GenerationRequest::new("flux-2-pro", "a lighthouse at dusk")
///     .seed(42)
///     .size(1024, 768)
///     .output_format(OutputFormat::Png)
///     .field("guidance", 3.5);
/// assert_eq!(req.model(), "flux-2-pro");
/// assert_eq!(req.body()["seed"], 42);
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationRequest {
    model: String,
    body: Map<String, Value>,
}

/// Like a derived `Debug`, with the `webhook_secret` hidden: a request may be logged, its
/// secret must not be.
impl std::fmt::Debug for GenerationRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut body = self.body.clone();
        if let Some(secret) = body.get_mut("webhook_secret") {
            *secret = Value::String("…".into());
        }
        f.debug_struct("GenerationRequest")
            .field("model", &self.model)
            .field("body", &body)
            .finish()
    }
}

impl GenerationRequest {
    /// A request for `model` with a prompt.
    pub fn new(model: impl Into<String>, prompt: impl Into<String>) -> Self {
        Self::without_prompt(model).prompt(prompt)
    }

    /// A request for `model` with an empty body (for models whose prompt is optional).
    pub fn without_prompt(model: impl Into<String>) -> Self {
        GenerationRequest {
            model: model.into(),
            body: Map::new(),
        }
    }

    /// A request from a model id and a ready JSON object body.
    pub fn from_body(model: impl Into<String>, body: Map<String, Value>) -> Self {
        GenerationRequest {
            model: model.into(),
            body,
        }
    }

    /// Sets any field of the body (fields the API adds later, or per-model ones).
    pub fn field(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.body.insert(name.into(), value.into());
        self
    }

    /// The value of a body field, if set.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.body.get(name)
    }

    /// The prompt.
    pub fn prompt(self, prompt: impl Into<String>) -> Self {
        self.field("prompt", prompt.into())
    }
    /// The seed (random if absent).
    pub fn seed(self, seed: i64) -> Self {
        self.field("seed", seed)
    }
    /// Width and height in pixels.
    pub fn size(self, width: u32, height: u32) -> Self {
        self.field("width", width).field("height", height)
    }
    /// The aspect ratio, e.g. `"16:9"` (Kontext and Ultra models).
    pub fn aspect_ratio(self, ratio: impl Into<String>) -> Self {
        self.field("aspect_ratio", ratio.into())
    }
    /// Moderation tolerance (0 strictest).
    pub fn safety_tolerance(self, level: u8) -> Self {
        self.field("safety_tolerance", level)
    }
    /// The output image format.
    pub fn output_format(self, format: OutputFormat) -> Self {
        self.field("output_format", format.extension())
    }
    /// Whether the server may rewrite the prompt.
    pub fn prompt_upsampling(self, on: bool) -> Self {
        self.field("prompt_upsampling", on)
    }
    /// An input image (URL or base64) for editing models.
    pub fn input_image(self, image: impl Into<String>) -> Self {
        self.field("input_image", image.into())
    }
    /// A webhook to notify when the task finishes.
    pub fn webhook(self, url: impl Into<String>, secret: Option<String>) -> Self {
        let req = self.field("webhook_url", url.into());
        match secret {
            Some(s) => req.field("webhook_secret", s),
            None => req,
        }
    }

    /// The model id (the path segment of the submit URL).
    pub fn model(&self) -> &str {
        &self.model
    }
    /// The JSON body.
    pub fn body(&self) -> &Map<String, Value> {
        &self.body
    }
    /// The output format this request will produce.
    pub fn effective_output_format(&self) -> OutputFormat {
        self.body
            .get("output_format")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| OutputFormat::default_for_model(&self.model))
    }
    /// The body serialized as JSON bytes.
    pub fn to_json(&self) -> bytes::Bytes {
        // A `Map<String, Value>` always serializes.
        bytes::Bytes::from(serde_json::to_vec(&self.body).unwrap_or_default())
    }
}

/// A task status, exactly as the API spells it, plus `Failed` and anything unknown.
///
/// Unknown strings are kept verbatim in [`Status::Unknown`] and treated as **not terminal**: the
/// task keeps being polled (the deadline bounds it), because a new in-progress state is far more
/// likely than a new way to fail, and giving up on a paid task loses the image.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// Queued or generating.
    Pending,
    /// Done: `result.sample` can be downloaded.
    Ready,
    /// Generation failed.
    Error,
    /// `Failed` — not in the spec, but tested for by BFL's own samples.
    Failed,
    /// The input was flagged before generation (not charged).
    RequestModerated,
    /// The output was flagged after generation (not charged).
    ContentModerated,
    /// Unknown id, or the task aged out.
    TaskNotFound,
    /// Any other string.
    Unknown(String),
}

impl Status {
    /// Parses a status string; never fails.
    pub fn parse(s: &str) -> Status {
        match s {
            "Pending" => Status::Pending,
            "Ready" => Status::Ready,
            "Error" => Status::Error,
            "Failed" => Status::Failed,
            "Request Moderated" => Status::RequestModerated,
            "Content Moderated" => Status::ContentModerated,
            "Task not found" => Status::TaskNotFound,
            other => Status::Unknown(other.to_owned()),
        }
    }

    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Status::Pending => "Pending",
            Status::Ready => "Ready",
            Status::Error => "Error",
            Status::Failed => "Failed",
            Status::RequestModerated => "Request Moderated",
            Status::ContentModerated => "Content Moderated",
            Status::TaskNotFound => "Task not found",
            Status::Unknown(s) => s,
        }
    }

    /// Whether no further poll can change this status.
    pub fn is_terminal(&self) -> bool {
        !matches!(self, Status::Pending | Status::Unknown(_))
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Status::parse(&s))
    }
}

/// The answer to a submit.
///
/// Usually `{id, polling_url, cost, input_mp, output_mp}`; with a webhook it may instead carry
/// `status` and `webhook_url` and no `polling_url`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmitResponse {
    /// The task id.
    pub id: String,
    /// Where to poll; absent in the webhook form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polling_url: Option<String>,
    /// Cost in credits (1 credit = 1 US cent), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// Input megapixels, when reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_mp: Option<f64>,
    /// Output megapixels, when reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_mp: Option<f64>,
    /// The webhook form's status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// The webhook form's echo of the webhook URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
}

/// The finished generation inside a `Ready` poll answer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GenerationResult {
    /// The signed, short-lived URL of the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<String>,
    /// The prompt actually used (rewritten if upsampling ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The seed used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Generation start, unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<f64>,
    /// Generation end, unix seconds; the sample URL expires 10 minutes later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<f64>,
    /// `end_time - start_time`, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// Any other field, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The answer to a poll of `polling_url`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PollResponse {
    /// The task id (some answers omit it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The status; `state` is accepted as an alias.
    #[serde(alias = "state")]
    pub status: Status,
    /// The result once `Ready`.
    #[serde(
        default,
        deserialize_with = "lenient_result",
        skip_serializing_if = "Option::is_none"
    )]
    pub result: Option<GenerationResult>,
    /// Progress 0.0–1.0 while pending, when reported.
    #[serde(
        default,
        deserialize_with = "lenient_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub progress: Option<f64>,
    /// Details (usually of an error), verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    /// A preview, verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<Value>,
}

/// A `result` that is not an object (some servers send a string) is kept as `None`
/// rather than failing the whole answer.
fn lenient_result<'de, D: Deserializer<'de>>(d: D) -> Result<Option<GenerationResult>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(v.and_then(|v| serde_json::from_value(v).ok()))
}

fn lenient_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(v.and_then(|v| v.as_f64()).filter(|p| p.is_finite()))
}

/// The `detail` of a FastAPI-style error body: a message or a list of validation items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ErrorDetail {
    /// A plain message, e.g. `"Not authenticated - Invalid Authentication"`.
    Message(String),
    /// Validation items (422).
    Items(Vec<ValidationItem>),
    /// Anything else, verbatim.
    Other(Value),
}

/// One validation failure of a 422 answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationItem {
    /// Where the bad value is, e.g. `["body", "width"]`.
    #[serde(default)]
    pub loc: Vec<Value>,
    /// What is wrong.
    #[serde(default)]
    pub msg: String,
    /// The error type.
    #[serde(default, rename = "type")]
    pub kind: String,
}

/// An error body: `{"detail": …}` and/or `{"message": …}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ErrorBody {
    /// FastAPI's `detail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<ErrorDetail>,
    /// A top-level `message` some answers carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ErrorBody {
    /// Parses an error body; anything unparseable gives an empty body.
    pub fn parse(bytes: &[u8]) -> ErrorBody {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    /// A one-line human summary, e.g. `body.width: ensure this value is at least 64`, safe to
    /// show ([`crate::server_text`]: no escape sequences, no base64 runs, cut short).
    pub fn summary(&self) -> Option<String> {
        self.raw_summary().map(|s| crate::sanitize::server_text(&s))
    }

    fn raw_summary(&self) -> Option<String> {
        let detail = match &self.detail {
            Some(ErrorDetail::Message(m)) => Some(m.clone()),
            Some(ErrorDetail::Items(items)) => Some(
                items
                    .iter()
                    .map(|i| {
                        let loc: Vec<String> = i
                            .loc
                            .iter()
                            .map(|l| match l {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            })
                            .collect();
                        format!("{}: {}", loc.join("."), i.msg)
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Some(ErrorDetail::Other(v)) => Some(v.to_string()),
            None => None,
        };
        detail.or_else(|| self.message.clone())
    }
}

/// The answer of `GET /v1/credits`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CreditsResponse {
    /// Remaining credits.
    pub credits: f64,
}

/// Why a body could not be read as the expected answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {what} body: {reason}")]
pub struct ParseError {
    /// Which answer was expected.
    pub what: &'static str,
    /// The parser's message.
    pub reason: String,
}

fn parse_json<T: serde::de::DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, ParseError> {
    serde_json::from_slice(bytes).map_err(|e| ParseError {
        what,
        reason: e.to_string(),
    })
}

impl SubmitResponse {
    /// Parses a submit answer.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        parse_json("submit", bytes)
    }
}

impl PollResponse {
    /// Parses a poll answer.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        parse_json("poll", bytes)
    }
}

impl CreditsResponse {
    /// Parses a credits answer.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        parse_json("credits", bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_documented_submit_answer() {
        let r = SubmitResponse::parse(br#"{"id": "b5b6", "polling_url": "https://api.eu1.bfl.ai/v1/get_result?id=b5b6", "cost": 3.0, "input_mp": 0.0, "output_mp": 1.05}"#).unwrap();
        assert_eq!(r.id, "b5b6");
        assert_eq!(
            r.polling_url.as_deref(),
            Some("https://api.eu1.bfl.ai/v1/get_result?id=b5b6")
        );
        assert_eq!(r.cost, Some(3.0));
        let w = SubmitResponse::parse(
            br#"{"id":"x","status":"Pending","webhook_url":"https://h/x","cost":null}"#,
        )
        .unwrap();
        assert_eq!(w.polling_url, None);
        assert_eq!(w.status, Some(Status::Pending));
        assert_eq!(w.cost, None);
    }

    #[test]
    fn parses_documented_poll_answers() {
        let p = PollResponse::parse(br#"{"id": "a", "status": "Pending", "result": null, "progress": 0.5, "details": null, "preview": null}"#).unwrap();
        assert_eq!(p.status, Status::Pending);
        assert_eq!(p.progress, Some(0.5));
        let r = PollResponse::parse(br#"{"id": "a", "status": "Ready", "result": {"sample": "https://delivery-eu1.bfl.ai/results/x/sample.jpeg?se=1&sig=2", "prompt": "p", "seed": 42, "start_time": 1752477995.95983, "end_time": 1752478003.52603, "duration": 7.566, "new_field": 1}, "progress": null}"#).unwrap();
        assert_eq!(r.status, Status::Ready);
        let res = r.result.unwrap();
        assert_eq!(res.seed, Some(42));
        assert_eq!(res.end_time, Some(1752478003.52603));
        assert_eq!(res.extra["new_field"], 1);
    }

    #[test]
    fn accepts_state_alias_and_unknown_status() {
        let p = PollResponse::parse(br#"{"state": "Warming Up"}"#).unwrap();
        assert_eq!(p.status, Status::Unknown("Warming Up".into()));
        assert!(!p.status.is_terminal());
        for s in [
            "Ready",
            "Error",
            "Failed",
            "Request Moderated",
            "Content Moderated",
            "Task not found",
        ] {
            assert!(Status::parse(s).is_terminal(), "{s}");
            assert_eq!(Status::parse(s).as_str(), s);
        }
        assert!(!Status::Pending.is_terminal());
    }

    #[test]
    fn odd_result_and_progress_do_not_fail_the_answer() {
        let p =
            PollResponse::parse(br#"{"status": "Pending", "result": "later", "progress": "x"}"#)
                .unwrap();
        assert_eq!(p.result, None);
        assert_eq!(p.progress, None);
    }

    #[test]
    fn error_bodies_summarise() {
        let e = ErrorBody::parse(br#"{"detail": "Not authenticated - Invalid Authentication"}"#);
        assert_eq!(
            e.summary().as_deref(),
            Some("Not authenticated - Invalid Authentication")
        );
        let v = ErrorBody::parse(
            br#"{"detail": [{"loc": ["body","width"], "msg": "too small", "type": "value_error"}]}"#,
        );
        assert_eq!(v.summary().as_deref(), Some("body.width: too small"));
        let m = ErrorBody::parse(br#"{"message": "slow down"}"#);
        assert_eq!(m.summary().as_deref(), Some("slow down"));
        assert_eq!(ErrorBody::parse(b"<html>").summary(), None);
    }

    #[test]
    fn request_builder_passes_extra_fields() {
        let r = GenerationRequest::new("my-new-model", "p")
            .aspect_ratio("16:9")
            .field("raw", true);
        assert_eq!(r.body()["aspect_ratio"], "16:9");
        assert_eq!(r.body()["raw"], true);
        assert_eq!(r.effective_output_format(), OutputFormat::Jpeg);
        assert_eq!(
            GenerationRequest::new("flux-kontext-pro", "p").effective_output_format(),
            OutputFormat::Png
        );
        assert_eq!(known_active_limit("flux-kontext-max"), 6);
        assert_eq!(known_active_limit("flux-2-pro"), 24);
    }
}
