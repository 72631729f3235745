//! What a delivery says, in either documented dialect:
//!
//! - as third-party receivers see it: `{"task_id", "status": "SUCCESS" | "FAILED" | …,
//!   "result": {"sample", …}, "error"?, "progress"?}`;
//! - as BFL's guide describes it: `{"id", "status": "Ready", "result": {…}}`.
//!
//! Parsing never panics and accepts unknown fields and statuses; a delivery is only ever a hint,
//! so what matters is the task id and whether it claims to be over.

use crate::api::Status;
use serde::Deserialize;

/// The parts of a delivery the client acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookPayload {
    /// The task the delivery is about.
    pub task_id: String,
    /// The status it claims, mapped onto the polling vocabulary (`SUCCESS` → `Ready`,
    /// `FAILED` → `Failed`, …); unknown words stay [`Status::Unknown`].
    pub status: Status,
    /// `result.sample`, when present (never trusted: the confirming poll supplies the URL).
    pub sample: Option<String>,
}

/// Why a body is not a delivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// Not a JSON object.
    #[error("webhook body is not a JSON object: {0}")]
    NotJson(String),
    /// Neither `task_id` nor `id` is a non-empty string.
    #[error("webhook body names no task (no `task_id` or `id`)")]
    NoTaskId,
}

#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    task_id: Option<serde_json::Value>,
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default, alias = "state")]
    status: Option<serde_json::Value>,
    #[serde(default)]
    result: Option<serde_json::Value>,
}

impl WebhookPayload {
    /// Parses a delivery body.
    pub fn parse(body: &[u8]) -> Result<WebhookPayload, PayloadError> {
        let wire: Wire =
            serde_json::from_slice(body).map_err(|e| PayloadError::NotJson(e.to_string()))?;
        let task_id = [wire.task_id, wire.id]
            .into_iter()
            .flatten()
            .find_map(|v| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned))
            .ok_or(PayloadError::NoTaskId)?;
        let status = wire
            .status
            .as_ref()
            .and_then(serde_json::Value::as_str)
            .map_or(Status::Unknown(String::new()), status_of);
        let sample = wire
            .result
            .as_ref()
            .and_then(|r| r.get("sample"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        Ok(WebhookPayload {
            task_id,
            status,
            sample,
        })
    }
}

/// Both dialects' status words onto [`Status`].
fn status_of(word: &str) -> Status {
    match word.to_ascii_uppercase().as_str() {
        "SUCCESS" | "SUCCEEDED" | "COMPLETED" | "READY" => Status::Ready,
        "FAILED" | "FAILURE" => Status::Failed,
        "ERROR" => Status::Error,
        "PENDING" | "RUNNING" | "PROCESSING" | "QUEUED" => Status::Pending,
        _ => Status::parse(word),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_dialects_parse() {
        let third = br#"{"task_id":"t1","status":"SUCCESS","result":{"sample":"https://d/x.jpg","seed":1}}"#;
        let p = WebhookPayload::parse(third).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.task_id, "t1");
        assert_eq!(p.status, Status::Ready);
        assert_eq!(p.sample.as_deref(), Some("https://d/x.jpg"));
        let guide = br#"{"id":"t2","status":"Ready","result":{}}"#;
        let p = WebhookPayload::parse(guide).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((p.task_id.as_str(), p.status), ("t2", Status::Ready));
        let failed = br#"{"task_id":"t3","status":"FAILED","error":"boom"}"#;
        let p = WebhookPayload::parse(failed).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.status, Status::Failed);
        let moderated = br#"{"id":"t4","status":"Content Moderated"}"#;
        let p = WebhookPayload::parse(moderated).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.status, Status::ContentModerated);
    }

    #[test]
    fn bad_bodies_are_errors_not_panics() {
        for body in [
            &b""[..],
            b"null",
            b"[]",
            b"{",
            b"{\"status\":\"SUCCESS\"}",
            b"{\"task_id\":7}",
            b"{\"task_id\":\"\"}",
            b"\xff\xfe",
        ] {
            assert!(WebhookPayload::parse(body).is_err(), "{body:?}");
        }
        let odd = WebhookPayload::parse(br#"{"id":"x","status":5,"result":"no"}"#);
        assert_eq!(odd.map(|p| p.status), Ok(Status::Unknown(String::new())));
    }
}
