//! The names of failures and of the steps they happen in.

/// Which step a task was in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Submitting the request.
    Submit,
    /// Polling the task.
    Poll,
    /// Downloading the result.
    Download,
    /// Asking for the key's credits.
    Credits,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Submit => "submit",
            Phase::Poll => "poll",
            Phase::Download => "download",
            Phase::Credits => "credits",
        })
    }
}

/// A short, stable name for each kind of failure (for summaries, journals and exit codes).
/// Serialized (and read back) as its snake_case name, [`ErrorKind::as_str`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// `Request Moderated`: the input was flagged before generation (not charged).
    RequestModerated,
    /// `Content Moderated`: the output was flagged after generation (not charged).
    ContentModerated,
    /// `Error` or `Failed`: the generation failed on the server.
    GenerationFailed,
    /// `Task not found` (or HTTP 404) after the grace period that follows a submit.
    TaskNotFound,
    /// The result URL expired before the download.
    ResultExpired,
    /// The task's deadline passed.
    DeadlineExceeded,
    /// The polling strategy ran out of attempts (its attempt cap or time budget).
    GaveUp,
    /// 429s did not stop before the task gave up.
    RateLimited,
    /// 401/403: bad or missing key.
    Unauthorized,
    /// 402: no credits left.
    InsufficientCredits,
    /// 422: the request broke the schema.
    Validation,
    /// 400 or another final 4xx.
    BadRequest,
    /// 5xx that retries did not get past.
    Server,
    /// No HTTP answer (timeout, connection failure…), after retries.
    Transport,
    /// An answer that could not be read (malformed or truncated JSON, a missing field).
    MalformedResponse,
    /// A polling URL on a host outside the key policy; it was not contacted.
    ForeignPollingUrl,
    /// The delivery host refused the download for a reason other than expiry.
    DownloadRejected,
    /// A batch job that was never submitted (nothing was paid) because the batch stopped.
    NotSubmitted,
    /// Something the engine rules out happened (a bug, reported instead of a panic).
    Internal,
}

impl ErrorKind {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::RequestModerated => "request_moderated",
            ErrorKind::ContentModerated => "content_moderated",
            ErrorKind::GenerationFailed => "generation_failed",
            ErrorKind::TaskNotFound => "task_not_found",
            ErrorKind::ResultExpired => "result_expired",
            ErrorKind::DeadlineExceeded => "deadline_exceeded",
            ErrorKind::GaveUp => "gave_up",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::InsufficientCredits => "insufficient_credits",
            ErrorKind::Validation => "validation",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Server => "server",
            ErrorKind::Transport => "transport",
            ErrorKind::MalformedResponse => "malformed_response",
            ErrorKind::ForeignPollingUrl => "foreign_polling_url",
            ErrorKind::DownloadRejected => "download_rejected",
            ErrorKind::NotSubmitted => "not_submitted",
            ErrorKind::Internal => "internal",
        }
    }
}

/// What a caller acts on, for the predicates a kind answers alone ([`TaskError`]'s own say the
/// same for its kind).
///
/// [`TaskError`]: crate::TaskError
impl ErrorKind {
    /// Whether trying the same work again later may succeed ("retry later"), as opposed to
    /// "never retry" (moderation, a failed generation, an expired URL) or "fix your input".
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::DeadlineExceeded
                | ErrorKind::GaveUp
                | ErrorKind::RateLimited
                | ErrorKind::Server
                | ErrorKind::Transport
                | ErrorKind::NotSubmitted
        )
    }

    /// Whether no other task of the same key can succeed either (401/403, 402).
    pub fn is_fatal_for_batch(self) -> bool {
        matches!(
            self,
            ErrorKind::Unauthorized | ErrorKind::InsufficientCredits
        )
    }

    /// Whether the request itself must change (400, 422, request moderation).
    pub fn is_input_error(self) -> bool {
        matches!(
            self,
            ErrorKind::Validation | ErrorKind::BadRequest | ErrorKind::RequestModerated
        )
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorKind;

    /// Every kind, as journals store them.
    const ALL: [ErrorKind; 19] = [
        ErrorKind::RequestModerated,
        ErrorKind::ContentModerated,
        ErrorKind::GenerationFailed,
        ErrorKind::TaskNotFound,
        ErrorKind::ResultExpired,
        ErrorKind::DeadlineExceeded,
        ErrorKind::GaveUp,
        ErrorKind::RateLimited,
        ErrorKind::Unauthorized,
        ErrorKind::InsufficientCredits,
        ErrorKind::Validation,
        ErrorKind::BadRequest,
        ErrorKind::Server,
        ErrorKind::Transport,
        ErrorKind::MalformedResponse,
        ErrorKind::ForeignPollingUrl,
        ErrorKind::DownloadRejected,
        ErrorKind::NotSubmitted,
        ErrorKind::Internal,
    ];

    /// Does not compile when a kind is added and not listed in [`ALL`].
    #[allow(dead_code)]
    fn all_is_every_kind(kind: ErrorKind) {
        match kind {
            ErrorKind::RequestModerated
            | ErrorKind::ContentModerated
            | ErrorKind::GenerationFailed
            | ErrorKind::TaskNotFound
            | ErrorKind::ResultExpired
            | ErrorKind::DeadlineExceeded
            | ErrorKind::GaveUp
            | ErrorKind::RateLimited
            | ErrorKind::Unauthorized
            | ErrorKind::InsufficientCredits
            | ErrorKind::Validation
            | ErrorKind::BadRequest
            | ErrorKind::Server
            | ErrorKind::Transport
            | ErrorKind::MalformedResponse
            | ErrorKind::ForeignPollingUrl
            | ErrorKind::DownloadRejected
            | ErrorKind::NotSubmitted
            | ErrorKind::Internal => {}
        }
    }

    #[test]
    fn every_kind_is_journaled_as_its_name_and_reads_back() {
        for kind in ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<ErrorKind>(&json).unwrap(), kind);
        }
        let names: std::collections::HashSet<_> = ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), ALL.len(), "no two kinds share a name");
    }
}
