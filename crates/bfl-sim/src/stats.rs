//! Ground truth: what really happened to each task and each request, measured by the server.
//! Times are sim seconds (add [`Stats::epoch_unix`] for unix time).

use serde::Serialize;

/// How a task ended (or will end: decided at submit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Outcome {
    /// Generated; the image is downloadable.
    Ready,
    /// Generation failed.
    Error,
    /// Refused before generation.
    #[serde(rename = "Request Moderated")]
    RequestModerated,
    /// Generated, then withheld.
    #[serde(rename = "Content Moderated")]
    ContentModerated,
}

impl Outcome {
    /// The wire status of the outcome.
    pub fn status(self) -> &'static str {
        match self {
            Outcome::Ready => "Ready",
            Outcome::Error => "Error",
            Outcome::RequestModerated => "Request Moderated",
            Outcome::ContentModerated => "Content Moderated",
        }
    }
}

/// The truth about one task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskTruth {
    /// The task id.
    pub id: String,
    /// The model id.
    pub model: String,
    /// When the submit was accepted.
    pub submitted_at: f64,
    /// When generation started (after the queue).
    pub started_at: f64,
    /// When the task became terminal (`Ready`, or its other outcome).
    pub finished_at: f64,
    /// When it became `Ready` (`None` for other outcomes).
    pub ready_at: Option<f64>,
    /// The first poll that saw the terminal status (for `Ready`: the detection moment).
    pub first_terminal_poll_at: Option<f64>,
    /// The first poll that saw `Ready`.
    pub first_ready_poll_at: Option<f64>,
    /// Polls of this task (every answer, faults included).
    pub polls: u32,
    /// Polls after one had already seen the terminal status.
    pub polls_after_terminal: u32,
    /// Download requests of the result URL.
    pub downloads: u32,
    /// The first successful download.
    pub downloaded_at: Option<f64>,
    /// Whether the result URL expired before a successful download (a paid image lost).
    pub expired: bool,
    /// How it ended.
    pub outcome: Outcome,
}

impl TaskTruth {
    /// Detection lag: first poll that saw `Ready` minus the moment it became `Ready`.
    pub fn detection_lag(&self) -> Option<f64> {
        Some(self.first_ready_poll_at? - self.ready_at?)
    }
}

/// What a request was for, as the server routed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// `POST /v1/{model}`.
    Submit,
    /// `GET /v1/get_result`.
    Poll,
    /// `GET` of a result URL.
    Download,
    /// `GET /v1/credits`.
    Credits,
    /// Anything else.
    Other,
}

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestRecord {
    /// Arrival, sim seconds.
    pub time: f64,
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The authority it arrived at.
    pub host: String,
    /// The answer's status (0: never answered).
    pub status: u16,
    /// Whether it carried an `x-key` header.
    pub key_sent: bool,
    /// What it was for.
    pub kind: RequestKind,
}

/// Counters over the whole run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// All requests.
    pub requests: u64,
    /// Submits.
    pub submits: u64,
    /// Submits that created a task.
    pub accepted: u64,
    /// Polls.
    pub polls: u64,
    /// Downloads.
    pub downloads: u64,
    /// Credits requests.
    pub credits: u64,
    /// Unroutable requests.
    pub other: u64,
    /// 429 answers.
    pub rate_limited: u64,
    /// 5xx answers (brownouts included).
    pub server_errors: u64,
    /// 403 answers from the API (missing or unknown key).
    pub forbidden: u64,
    /// 402 answers.
    pub payment_required: u64,
    /// 422 answers.
    pub validation_errors: u64,
    /// Requests never answered.
    pub hung: u64,
    /// Malformed or truncated bodies sent.
    pub mangled: u64,
    /// Download requests refused because the URL had expired.
    pub expired_downloads: u64,
    /// Requests to the delivery host that carried the key (must stay 0).
    pub keys_sent_to_delivery: u64,
    /// Requests to the hostile polling host that carried the key (must stay 0).
    pub keys_sent_to_hostile: u64,
    /// Downloads of a result URL that carried the key, on any host. With separate delivery it
    /// equals `keys_sent_to_delivery`; with same-origin delivery, clients that trust their base
    /// URL's origin (the Vercel AI SDK) send it to `/results/…` on the API host, as expected.
    pub keys_sent_to_results: u64,
    /// Polls of a task after one had already seen it terminal.
    pub polls_after_terminal: u64,
}

/// A snapshot of the ground truth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// Unix time of sim time 0.
    pub epoch_unix: f64,
    /// Sim time of the snapshot.
    pub now: f64,
    /// Counters.
    pub counters: Counters,
    /// Every task, in submit order.
    pub tasks: Vec<TaskTruth>,
    /// The HTTP face's bounds and what they refused (absent in virtual time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpLoad>,
    /// The request log's cap and how much of the run it holds.
    pub request_log: RequestLog,
    /// The last [`RequestLog::cap`] requests, in arrival order (empty when `record_requests` is
    /// off).
    pub requests: Vec<RequestRecord>,
    /// Every webhook delivery, sent or dropped, in scheduling order.
    pub webhooks: Vec<crate::webhooks::WebhookRecord>,
}

/// The request log is a bounded ring: its cap, what it holds, what it dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct RequestLog {
    /// Most records kept (`SimConfig::request_log_cap`).
    pub cap: usize,
    /// Records held now.
    pub kept: usize,
    /// Oldest records dropped to stay under the cap.
    pub dropped: u64,
}

/// The HTTP face under load: its bounds and what they turned away.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct HttpLoad {
    /// Connections open now (every listener).
    pub open_connections: usize,
    /// Most connections held at once; more are closed at accept.
    pub max_connections: usize,
    /// Connections closed at accept because `max_connections` were open.
    pub connections_refused: u64,
    /// Seconds a client has to send a request's headers (also the keep-alive idle limit).
    pub header_read_timeout_secs: f64,
    /// Connections closed because their headers did not arrive in time.
    pub header_timeouts: u64,
    /// Bytes of request bodies held at once, over all requests.
    pub body_budget: usize,
    /// Bytes of request bodies held now.
    pub body_bytes_in_flight: usize,
    /// Requests answered 503 because their body would exceed the budget.
    pub bodies_refused: u64,
}
