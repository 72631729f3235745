//! What goes on the wire: API URLs, the common headers, and the three requests of a task.

use super::EngineConfig;
use crate::api::GenerationRequest;
use crate::auth::{ApiKey, KEY_HEADER};
use crate::error::{Phase, TaskError};
use crate::task::SubmittedTask;
use crate::transport::{RequestKind, RequestMeta};
use bytes::Bytes;
use http::{Method, Request, Uri};
use std::time::Duration;

/// The `User-Agent` the engine sends.
pub const USER_AGENT: &str = concat!("bfl-rs/", env!("CARGO_PKG_VERSION"));

impl EngineConfig {
    /// `{base}/v1/{path}`.
    pub fn api_url(&self, path: &str) -> String {
        let base = self.base.to_string();
        format!("{}/v1/{}", base.trim_end_matches('/'), path)
    }

    /// `{base}/v1/get_result?id={id}`: where a task is polled by id at the configured API host.
    pub fn polling_url_by_id(&self, id: &str) -> String {
        self.api_url(&format!("get_result?id={}", query_escape(id)))
    }

    /// A GET of an API path, with the key (e.g. `credits`).
    pub fn api_get(
        &self,
        path: &str,
        kind: RequestKind,
        timeout: Option<Duration>,
    ) -> Request<Bytes> {
        let mut req = Request::new(Bytes::new());
        *req.method_mut() = Method::GET;
        *req.uri_mut() = self.api_url(path).parse().unwrap_or_default();
        add_common_headers(&mut req, Some(&self.key));
        req.extensions_mut().insert(RequestMeta { kind, timeout });
        req
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters (a task id is server text).
fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn add_common_headers(req: &mut Request<Bytes>, key: Option<&ApiKey>) {
    let h = req.headers_mut();
    // Room for exactly a poll's three headers: a map's first insert reserves six entries
    // (≈ 300 bytes more in every request queued for a connection).
    let _ = h.try_reserve(3);
    h.insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static("application/json"),
    );
    h.insert(
        http::header::USER_AGENT,
        http::HeaderValue::from_static(USER_AGENT),
    );
    if let Some(key) = key {
        h.insert(KEY_HEADER, key.header_value());
    }
}

/// `POST /v1/{model}` with the request's JSON.
pub(super) fn submit(
    cfg: &EngineConfig,
    req: &GenerationRequest,
    timeout: Option<Duration>,
) -> Result<Request<Bytes>, TaskError> {
    let mut r = Request::new(req.to_json());
    *r.method_mut() = Method::POST;
    *r.uri_mut() = cfg
        .api_url(req.model())
        .parse()
        .map_err(|e| TaskError::invalid_input(format!("bad model id or base URL: {e}")))?;
    add_common_headers(&mut r, Some(&cfg.key));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r.extensions_mut().insert(RequestMeta {
        kind: RequestKind::Submit,
        timeout,
    });
    Ok(r)
}

/// `GET polling_url`, with the key only if the key policy allows its host.
pub(super) fn poll(
    cfg: &EngineConfig,
    task: &SubmittedTask,
    timeout: Option<Duration>,
) -> Result<Request<Bytes>, TaskError> {
    let url = &task.polling_url;
    let uri: Uri = url
        .parse()
        .map_err(|_| malformed(task, Phase::Poll, "unparseable polling_url"))?;
    // Checked when the URL was admitted; checked again so no code path can skip it.
    if !cfg.key_policy.allows(&uri) {
        return Err(TaskError::foreign_polling_url(task.clone()));
    }
    let mut r = Request::new(Bytes::new());
    *r.uri_mut() = uri;
    add_common_headers(&mut r, Some(&cfg.key));
    r.extensions_mut().insert(RequestMeta {
        kind: RequestKind::Poll,
        timeout,
    });
    Ok(r)
}

/// `GET` of the signed result URL, never with the key.
pub(super) fn download(
    task: &SubmittedTask,
    url: &str,
    timeout: Option<Duration>,
) -> Result<Request<Bytes>, TaskError> {
    let uri: Uri = url
        .parse()
        .map_err(|_| malformed(task, Phase::Download, "unparseable result URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(malformed(
            task,
            Phase::Download,
            "result URL is not an absolute http(s) URL",
        ));
    }
    let mut r = Request::new(Bytes::new());
    *r.uri_mut() = uri;
    // Downloads never carry the key: the URL is signed.
    r.headers_mut().insert(
        http::header::USER_AGENT,
        http::HeaderValue::from_static(USER_AGENT),
    );
    r.extensions_mut().insert(RequestMeta {
        kind: RequestKind::Download,
        timeout,
    });
    Ok(r)
}

/// The task with a polling URL the key may go to: its own, or — when its host is not one of the
/// configured API hosts (a proxy, a new BFL host, another spelling of the base) — the task polled
/// by id at the configured API host. A paid task is never abandoned for its polling host, and the
/// key never follows a foreign URL.
pub(super) fn admit_polling_url(
    cfg: &EngineConfig,
    mut task: SubmittedTask,
) -> Result<SubmittedTask, TaskError> {
    let allowed = task
        .polling_url
        .parse::<Uri>()
        .is_ok_and(|uri| cfg.key_policy.allows(&uri));
    if allowed {
        return Ok(task);
    }
    if task.id.is_empty() {
        let reason = "a task without an id, on a polling host the key may not go to";
        return Err(TaskError::malformed(
            Some(task),
            Phase::Submit,
            reason.into(),
            Bytes::new(),
        ));
    }
    tracing::warn!(
        id = ?task.id,
        polling_url = ?task.polling_url,
        "the polling URL's host may not receive the key: polling the task by id at the API host"
    );
    task.polling_url = cfg.polling_url_by_id(&task.id);
    Ok(task)
}

/// A model id must be one plain path segment.
pub(super) fn check_model_id(model: &str) -> Result<(), TaskError> {
    let ok = !model.is_empty()
        && model
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(TaskError::invalid_input(format!(
            "model id {model:?} is not a plain path segment (letters, digits, '-', '_', '.')"
        )))
    }
}

fn malformed(task: &SubmittedTask, phase: Phase, reason: &str) -> TaskError {
    TaskError::malformed(Some(task.clone()), phase, reason.into(), Bytes::new())
}
