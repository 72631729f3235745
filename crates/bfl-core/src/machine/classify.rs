//! One HTTP answer → one [`Decision`], as data.
//!
//! Everything the engine concludes from an answer — read it, send the request again (after how
//! long, counted as what), or never again (with which error) — is decided by [`classify`] and
//! nowhere else, in the manner of smithy-rs's `RetryAction`: callers act on the decision and never
//! re-inspect a status code. The task machine uses it for submits, polls and downloads;
//! [`Client::credits`](crate::Client::credits) for its one request.

use crate::api::{
    CreditsResponse, ErrorBody, GenerationResult, OutputFormat, PollResponse, Status,
    SubmitResponse,
};
use crate::error::{ErrorKind, Phase, TaskError};
use crate::image::{check_image, declared_length, BadImage};
use crate::rt::Now;
use crate::task::{Image, SubmittedTask};
use crate::transport::{DownloadedFile, TransportError};
use bytes::Bytes;
use http::Response;
use std::time::{Duration, SystemTime};

/// The request an answer answers, with what its classification needs to know.
#[derive(Debug, Clone, Copy)]
pub enum Sent<'a> {
    /// `POST /v1/{model}`.
    Submit,
    /// A poll of `task`; `in_grace` while a not-found answer may only mean "not visible yet".
    Poll {
        /// The task polled.
        task: &'a SubmittedTask,
        /// Whether the task was submitted less than the not-found grace ago.
        in_grace: bool,
    },
    /// A download of `task`'s result, whose URL dies at `expires_at` (unix seconds).
    Download {
        /// The task downloaded.
        task: &'a SubmittedTask,
        /// When the result URL expires, unix seconds.
        expires_at: f64,
    },
    /// `GET /v1/credits`.
    Credits,
}

impl Sent<'_> {
    /// The phase errors of this request name.
    pub fn phase(&self) -> Phase {
        match self {
            Sent::Submit => Phase::Submit,
            Sent::Poll { .. } => Phase::Poll,
            Sent::Download { .. } => Phase::Download,
            Sent::Credits => Phase::Credits,
        }
    }

    fn task(&self) -> Option<&SubmittedTask> {
        match self {
            Sent::Poll { task, .. } | Sent::Download { task, .. } => Some(task),
            Sent::Submit | Sent::Credits => None,
        }
    }
}

/// What to do with an answer.
// One is made per answer and consumed at once; boxing the answer would allocate for every
// poll, while the (rarer) error is already a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Decision {
    /// The request did what it was for: go on with this answer.
    Proceed(Answer),
    /// Send the same request again after a wait, unless the caller's caps say stop.
    Retry(Retry),
    /// Never send it again: the work ends with this error.
    Forbid(TaskError),
}

impl Decision {
    /// Whether the answer counts as a success for the shared retry budget (and resets the
    /// consecutive-failure counts): a usable API answer to a submit or a poll. Downloads go to the
    /// delivery host; their successes end the task and are not counted.
    pub fn is_api_success(&self) -> bool {
        matches!(
            self,
            Decision::Proceed(
                Answer::Submitted(_)
                    | Answer::Unreadable(_)
                    | Answer::Polled { .. }
                    | Answer::Ready { .. }
                    | Answer::NotYetVisible(_)
            )
        )
    }
}

/// A usable answer.
#[derive(Debug)]
pub enum Answer {
    /// The server accepted the submit.
    Submitted(SubmitResponse),
    /// A 2xx to a submit whose body cannot be read. The task may exist, and be paid for: it is
    /// never submitted again, and ends with this error.
    Unreadable(TaskError),
    /// `Ready`, with the sample to download.
    Ready {
        /// The server's result (its `sample` included).
        result: GenerationResult,
        /// The signed URL of the image.
        sample_url: String,
        /// The progress the answer carried.
        progress: Option<f64>,
    },
    /// A poll's answer with any status but `Ready` (a `202` without a usable body reads as
    /// `Pending`), and its raw body.
    Polled {
        /// The answer.
        parsed: PollResponse,
        /// Its bytes, for the errors of terminal statuses.
        raw: Bytes,
    },
    /// A `404` or a `Task not found` within the grace after the submit: the task is not visible
    /// yet, so the poll counts as `Pending`. Carries the status the body stated, if any.
    NotYetVisible(Option<Status>),
    /// The downloaded image, and the format its magic bytes name.
    Image {
        /// In memory or on disk.
        image: Image,
        /// The sniffed format.
        format: Option<OutputFormat>,
    },
    /// The key's remaining credits.
    Credits(f64),
}

/// Why and how soon to send a request again.
#[derive(Debug)]
pub enum Retry {
    /// A `429` from the API: the key has too many active tasks. Counted apart from faults; a
    /// submit gives its active slot back.
    Throttled {
        /// The server's `Retry-After`.
        retry_after: Option<Duration>,
        /// The answer.
        raw: Bytes,
    },
    /// A transient fault, counted toward the consecutive-failure cap.
    Fault {
        /// The server's `Retry-After`.
        retry_after: Option<Duration>,
        /// What went wrong.
        fault: Fault,
    },
}

/// A transient fault of one answer.
#[derive(Debug)]
pub enum Fault {
    /// A 5xx (or a delivery host's 429).
    Server {
        /// The HTTP status.
        status: u16,
        /// The answer.
        raw: Bytes,
    },
    /// A body that does not parse.
    Malformed {
        /// Why.
        reason: String,
        /// The answer.
        raw: Bytes,
    },
    /// `Ready` without `result.sample`: nothing to download, so ask again rather than lose it.
    ReadyWithoutSample {
        /// The answer.
        raw: Bytes,
    },
    /// A `200` download whose body is not the image.
    BadImage(BadImage),
}

impl Retry {
    /// The wait the server asked for.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Retry::Throttled { retry_after, .. } | Retry::Fault { retry_after, .. } => *retry_after,
        }
    }

    /// The status the answer stated, when it stated one.
    pub fn status_seen(&self) -> Option<Status> {
        match self {
            Retry::Fault {
                fault: Fault::ReadyWithoutSample { .. },
                ..
            } => Some(Status::Ready),
            _ => None,
        }
    }

    /// The reason, in words, for a retry event.
    pub fn reason(&self) -> String {
        match self {
            Retry::Throttled { .. } => "HTTP 429".into(),
            Retry::Fault { fault, .. } => match fault {
                Fault::Server { status, .. } => format!("HTTP {status}"),
                Fault::Malformed { reason, .. } => reason.clone(),
                Fault::ReadyWithoutSample { .. } => "Ready without result.sample".into(),
                Fault::BadImage(bad) => bad.to_string(),
            },
        }
    }

    /// The error once retries are spent: `attempts` answers of this kind in a row.
    pub fn into_error(self, task: Option<SubmittedTask>, phase: Phase, attempts: u32) -> TaskError {
        let fault = match self {
            Retry::Throttled { retry_after, raw } => {
                return TaskError::rate_limited(task, phase, attempts, retry_after, raw)
            }
            Retry::Fault { fault, .. } => fault,
        };
        match fault {
            Fault::Server { status, raw } => TaskError::server(task, phase, status, attempts, raw),
            Fault::Malformed { reason, raw } => TaskError::malformed(task, phase, reason, raw),
            Fault::ReadyWithoutSample { raw } => {
                let reason =
                    format!("status Ready without result.sample in {attempts} answers in a row");
                TaskError::malformed(task, phase, reason, raw)
            }
            Fault::BadImage(bad) => {
                TaskError::transport(task, phase, attempts, TransportError::BadImage(bad))
            }
        }
    }
}

/// Decides what `resp`, the answer to `sent`, means (`now` reads an HTTP-date `Retry-After` and
/// a result URL's expiry).
///
/// ```
/// use bfl_core::machine::classify::{classify, Decision, Retry, Sent};
/// use bfl_core::machine::Now;
/// let now = Now { instant: std::time::Instant::now(), wall: std::time::SystemTime::now() };
/// let answer = |code| http::Response::builder().status(code).body(bytes::Bytes::new()).unwrap();
/// let throttled = classify(Sent::Submit, answer(429), now);
/// assert!(matches!(throttled, Decision::Retry(Retry::Throttled { .. })));
/// assert!(matches!(classify(Sent::Submit, answer(502), now), Decision::Retry(Retry::Fault { .. })));
/// assert!(matches!(classify(Sent::Submit, answer(402), now), Decision::Forbid(_)));
/// ```
pub fn classify(sent: Sent<'_>, resp: Response<Bytes>, now: Now) -> Decision {
    let status = resp.status().as_u16();
    let retry_after = retry_after(resp.headers(), now.wall);
    match status {
        200..=299 => success(sent, resp),
        // The delivery host's 429 is no active-task limit: a fault like a 5xx.
        429 if !matches!(sent, Sent::Download { .. }) => Decision::Retry(Retry::Throttled {
            retry_after,
            raw: resp.into_body(),
        }),
        429 | 500 | 502 | 503 | 504 => Decision::Retry(Retry::Fault {
            retry_after,
            fault: Fault::Server {
                status,
                raw: resp.into_body(),
            },
        }),
        _ => refusal(sent, resp, now),
    }
}

fn success(sent: Sent<'_>, resp: Response<Bytes>) -> Decision {
    let accepted = resp.status() == http::StatusCode::ACCEPTED;
    match sent {
        Sent::Submit => submitted(resp.into_body()),
        Sent::Poll { in_grace, .. } => polled(resp.into_body(), accepted, in_grace),
        Sent::Download { .. } => downloaded(resp),
        Sent::Credits => {
            let raw = resp.into_body();
            match CreditsResponse::parse(&raw) {
                Ok(c) => Decision::Proceed(Answer::Credits(c.credits)),
                Err(e) => Decision::Forbid(TaskError::malformed(
                    None,
                    Phase::Credits,
                    e.to_string(),
                    raw,
                )),
            }
        }
    }
}

/// Not retried when unreadable: the task may exist, and a second submit could pay twice.
fn submitted(raw: Bytes) -> Decision {
    Decision::Proceed(match SubmitResponse::parse(&raw) {
        Ok(parsed) => Answer::Submitted(parsed),
        Err(e) => Answer::Unreadable(TaskError::malformed(
            None,
            Phase::Submit,
            e.to_string(),
            raw,
        )),
    })
}

fn polled(raw: Bytes, accepted: bool, in_grace: bool) -> Decision {
    let parsed = match PollResponse::parse(&raw) {
        Ok(parsed) => parsed,
        // 202 while pending may come without a usable body.
        Err(_) if accepted => pending(),
        Err(e) => {
            return Decision::Retry(Retry::Fault {
                retry_after: None,
                fault: Fault::Malformed {
                    reason: e.to_string(),
                    raw,
                },
            })
        }
    };
    if parsed.status == Status::Ready {
        let result = parsed.result.unwrap_or_default();
        return match result.sample.clone() {
            Some(sample_url) => Decision::Proceed(Answer::Ready {
                result,
                sample_url,
                progress: parsed.progress,
            }),
            None => Decision::Retry(Retry::Fault {
                retry_after: None,
                fault: Fault::ReadyWithoutSample { raw },
            }),
        };
    }
    if parsed.status == Status::TaskNotFound && in_grace {
        return Decision::Proceed(Answer::NotYetVisible(Some(parsed.status)));
    }
    Decision::Proceed(Answer::Polled { parsed, raw })
}

fn pending() -> PollResponse {
    PollResponse {
        id: None,
        status: Status::Pending,
        result: None,
        progress: None,
        details: None,
        preview: None,
    }
}

/// A `200` to the download: the image if its body is one (a streamed download was checked by
/// the transport before the file got its name).
fn downloaded(resp: Response<Bytes>) -> Decision {
    let (parts, body) = resp.into_parts();
    let checked = match parts.extensions.get::<DownloadedFile>() {
        Some(f) if f.len == 0 => Err(BadImage::Empty),
        Some(f) => Ok((Image::File(f.clone()), f.format)),
        None => check_image(&body, body.len() as u64, declared_length(&parts.headers))
            .map(|format| (Image::Memory(body), Some(format))),
    };
    match checked {
        Ok((image, format)) => Decision::Proceed(Answer::Image { image, format }),
        Err(bad) => Decision::Retry(Retry::Fault {
            retry_after: None,
            fault: Fault::BadImage(bad),
        }),
    }
}

/// A final 4xx (or any other status no retry can change).
fn refusal(sent: Sent<'_>, resp: Response<Bytes>, now: Now) -> Decision {
    let status = resp.status().as_u16();
    match sent {
        // Some clusters answer 404 for a moment right after a submit.
        Sent::Poll { in_grace: true, .. } if status == 404 => {
            Decision::Proceed(Answer::NotYetVisible(None))
        }
        Sent::Poll { task, .. } if status == 404 => {
            Decision::Forbid(TaskError::task_not_found(task.clone(), resp.into_body()))
        }
        Sent::Download { task, expires_at } => {
            // A signed URL that is refused near or past its expiry has expired; allow a little
            // clock skew between us and the server.
            const SKEW: f64 = 30.0;
            let refused = matches!(status, 403 | 404 | 410);
            Decision::Forbid(
                if refused && now.unix_secs() >= expires_at - SKEW || status == 410 {
                    TaskError::result_expired(task.clone(), expires_at)
                } else {
                    TaskError::download_rejected(task.clone(), status, resp.into_body())
                },
            )
        }
        _ => Decision::Forbid(final_error(sent.task().cloned(), sent.phase(), resp)),
    }
}

/// 400, 401, 402, 403, 422 and other final answers of the API, with the server's detail and the
/// task, when there is one.
fn final_error(task: Option<SubmittedTask>, phase: Phase, resp: Response<Bytes>) -> TaskError {
    let status = resp.status().as_u16();
    let raw = resp.into_body();
    let detail = ErrorBody::parse(&raw).summary();
    let kind = match status {
        401 | 403 => ErrorKind::Unauthorized,
        402 => ErrorKind::InsufficientCredits,
        422 => ErrorKind::Validation,
        _ => ErrorKind::BadRequest,
    };
    TaskError::refused(kind, task, phase, status, detail, raw)
}

/// The error of a poll answer with a terminal status other than `Ready`.
pub(crate) fn terminal_error(task: SubmittedTask, parsed: PollResponse, raw: Bytes) -> TaskError {
    TaskError::task_ended(task, parsed.status, parsed.details, raw)
}

/// Reads a `Retry-After` header: delay-seconds or an HTTP-date (relative to `wall_now`).
/// Unreadable values are ignored (`None`).
pub fn retry_after(headers: &http::HeaderMap, wall_now: SystemTime) -> Option<Duration> {
    let v = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(wall_now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[allow(clippy::disallowed_methods)] // a fixed origin for the test's clock
    fn now() -> Now {
        Now {
            instant: Instant::now(),
            wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
        }
    }

    fn answer(status: u16, body: &'static str) -> Response<Bytes> {
        Response::builder()
            .status(status)
            .body(Bytes::from_static(body.as_bytes()))
            .unwrap()
    }

    fn task() -> SubmittedTask {
        SubmittedTask::known_as("t1", "https://api.bfl.ai/v1/get_result?id=t1")
    }

    #[test]
    fn every_documented_status_gets_its_decision() {
        let t = task();
        let poll = Sent::Poll {
            task: &t,
            in_grace: false,
        };
        for sent in [Sent::Submit, poll, Sent::Credits] {
            let d = classify(sent, answer(429, ""), now());
            assert!(
                matches!(d, Decision::Retry(Retry::Throttled { .. })),
                "{d:?}"
            );
            for s in [500, 502, 503, 504] {
                let d = classify(sent, answer(s, ""), now());
                assert!(
                    matches!(d, Decision::Retry(Retry::Fault { .. })),
                    "{s}: {d:?}"
                );
            }
            for s in [400, 401, 402, 403, 422, 418] {
                let d = classify(sent, answer(s, ""), now());
                assert!(matches!(d, Decision::Forbid(_)), "{s}: {d:?}");
            }
        }
        let download = Sent::Download {
            task: &t,
            expires_at: 2e9,
        };
        let d = classify(download, answer(429, ""), now());
        assert!(matches!(d, Decision::Retry(Retry::Fault { .. })), "{d:?}");
    }

    #[test]
    fn refusals_during_a_poll_name_the_task() {
        let t = task();
        let poll = Sent::Poll {
            task: &t,
            in_grace: false,
        };
        for s in [400, 401, 402, 403, 404, 422] {
            let Decision::Forbid(e) = classify(poll, answer(s, r#"{"detail":"no"}"#), now()) else {
                panic!("{s} is final");
            };
            assert_eq!(e.task(), Some(&t), "{s}: {e:?}");
        }
    }

    #[test]
    fn spent_retries_and_refusals_keep_the_last_answer_as_context() {
        let mut throttled = answer(429, r#"{"detail":"slow down"}"#);
        throttled
            .headers_mut()
            .insert(http::header::RETRY_AFTER, "7".parse().unwrap());
        let Decision::Retry(retry) = classify(Sent::Submit, throttled, now()) else {
            panic!("a 429 is retried");
        };
        let e = retry.into_error(None, Phase::Submit, 3);
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!((e.http_status(), e.attempts()), (Some(429), 3));
        assert_eq!(
            e.raw().map(|b| &b[..]),
            Some(&br#"{"detail":"slow down"}"#[..])
        );
        assert_eq!(e.to_string(), "rate limited (429) 3 times during submit");

        let t = task();
        let poll = Sent::Poll {
            task: &t,
            in_grace: false,
        };
        let Decision::Forbid(e) = classify(poll, answer(401, r#"{"detail":"bad key"}"#), now())
        else {
            panic!("a 401 is final");
        };
        assert_eq!(
            (e.kind(), e.phase()),
            (ErrorKind::Unauthorized, Phase::Poll)
        );
        assert_eq!((e.http_status(), e.detail()), (Some(401), Some("bad key")));
        assert_eq!(e.to_string(), "unauthorized (401): bad key");
    }

    #[test]
    fn not_found_within_the_grace_reads_as_pending() {
        let t = task();
        let poll = Sent::Poll {
            task: &t,
            in_grace: true,
        };
        let d = classify(poll, answer(404, ""), now());
        assert!(matches!(d, Decision::Proceed(Answer::NotYetVisible(None))));
        let body = r#"{"id":"t1","status":"Task not found"}"#;
        let d = classify(poll, answer(200, body), now());
        assert!(matches!(
            d,
            Decision::Proceed(Answer::NotYetVisible(Some(_)))
        ));
        let d = classify(poll, answer(202, "not json"), now());
        assert!(
            matches!(d, Decision::Proceed(Answer::Polled { parsed, .. }) if parsed.status == Status::Pending)
        );
        let d = classify(poll, answer(200, r#"{"id":"t1","status":"Ready"}"#), now());
        assert!(matches!(d, Decision::Retry(ref r) if r.status_seen() == Some(Status::Ready)));
    }

    #[test]
    fn a_refused_download_near_its_expiry_has_expired() {
        let t = task();
        let at = now().unix_secs();
        let near = Sent::Download {
            task: &t,
            expires_at: at + 10.0,
        };
        let far = Sent::Download {
            task: &t,
            expires_at: at + 300.0,
        };
        let kind = |sent, s| match classify(sent, answer(s, ""), now()) {
            Decision::Forbid(e) => e.kind(),
            d => panic!("{d:?}"),
        };
        assert_eq!(kind(near, 403), ErrorKind::ResultExpired);
        assert_eq!(kind(far, 403), ErrorKind::DownloadRejected);
        assert_eq!(kind(far, 410), ErrorKind::ResultExpired);
    }

    #[test]
    fn reads_retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut h = http::HeaderMap::new();
        assert_eq!(retry_after(&h, now), None);
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        h.insert("retry-after", "1.5".parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(1500)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        h.insert("retry-after", later.parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        h.insert("retry-after", past.parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
        h.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&h, now), None);
        h.insert("retry-after", "-3".parse().unwrap());
        assert_eq!(retry_after(&h, now), None);
    }
}
