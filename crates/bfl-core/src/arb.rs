//! proptest generators for server answers (feature `arb`; always on in this crate's tests).
//!
//! Named `arb`, not `strategy`, so it does not clash with proptest's own vocabulary.

use crate::transport::TransportError;
use bytes::Bytes;
use proptest::prelude::*;
use std::time::Duration;

/// One scripted answer of a fake server, to any request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// An HTTP answer.
    Http {
        /// Status code.
        status: u16,
        /// Body.
        body: Bytes,
        /// `Retry-After` header value, if any.
        retry_after: Option<String>,
    },
    /// No answer.
    Fail(TransportError),
}

impl Answer {
    /// An HTTP answer with a body and no headers.
    pub fn http(status: u16, body: impl Into<Bytes>) -> Answer {
        Answer::Http {
            status,
            body: body.into(),
            retry_after: None,
        }
    }

    /// Turns the answer into what a transport returns.
    pub fn into_result(self) -> Result<http::Response<Bytes>, TransportError> {
        match self {
            Answer::Http {
                status,
                body,
                retry_after,
            } => {
                let mut resp = http::Response::new(body);
                *resp.status_mut() =
                    http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
                if let Some(v) = retry_after.and_then(|v| http::HeaderValue::from_str(&v).ok()) {
                    resp.headers_mut().insert(http::header::RETRY_AFTER, v);
                }
                Ok(resp)
            }
            Answer::Fail(e) => Err(e),
        }
    }
}

/// A submit answer that accepts the task with a polling URL on `host`.
pub fn accepted(id: &str, host: &str) -> Answer {
    Answer::http(
        200,
        format!(r#"{{"id":"{id}","polling_url":"{host}/v1/get_result?id={id}","cost":1.5}}"#),
    )
}

/// A poll answer with a status and, for `Ready`, a result whose URL ends at `end_time`.
pub fn polled(status: &str, progress: Option<f64>, end_time: f64) -> Answer {
    let result = if status == "Ready" {
        format!(
            r#"{{"sample":"https://delivery-eu1.bfl.ai/results/x/sample.jpeg?se=1&sig=2","seed":1,"start_time":{},"end_time":{end_time},"duration":1.0}}"#,
            end_time - 1.0
        )
    } else {
        "null".into()
    };
    let progress = progress.map_or("null".to_owned(), |p| p.to_string());
    Answer::http(
        200,
        format!(r#"{{"id":"t","status":"{status}","result":{result},"progress":{progress}}}"#),
    )
}

/// Any status string the API can send, and some it should not.
pub fn status_string() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => Just("Pending".to_owned()),
        1 => Just("Ready".to_owned()),
        1 => Just("Error".to_owned()),
        1 => Just("Failed".to_owned()),
        1 => Just("Request Moderated".to_owned()),
        1 => Just("Content Moderated".to_owned()),
        1 => Just("Task not found".to_owned()),
        1 => "[A-Za-z ]{1,12}",
    ]
}

/// `Retry-After` values: seconds, zero, absurd, garbage.
pub fn retry_after() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        4 => Just(None),
        1 => (0u64..30).prop_map(|s| Some(s.to_string())),
        1 => Just(Some("0".to_owned())),
        1 => Just(Some("999999999".to_owned())),
        1 => Just(Some("soon".to_owned())),
    ]
}

/// Any answer a server (or the network) could give to any request of a task.
pub fn answer() -> impl Strategy<Value = Answer> {
    let ok_poll = (status_string(), proptest::option::of(0.0f64..1.0))
        .prop_map(|(s, p)| polled(&s, p, 1.0e9));
    let error_status = (
        prop::sample::select(vec![400u16, 402, 403, 404, 410, 422, 429, 500, 502, 503]),
        retry_after(),
    )
        .prop_map(|(status, retry_after)| Answer::Http {
            status,
            body: Bytes::from_static(br#"{"detail":"nope"}"#),
            retry_after,
        });
    let garbage =
        prop::collection::vec(any::<u8>(), 0..64).prop_map(|b| Answer::http(200, Bytes::from(b)));
    let failure = prop_oneof![
        Just(Answer::Fail(TransportError::Timeout(Duration::from_secs(
            30
        )))),
        Just(Answer::Fail(TransportError::Connect("refused".into()))),
        Just(Answer::Fail(TransportError::Protocol("reset".into()))),
    ];
    prop_oneof![
        2 => Just(accepted("t", "https://api.eu1.bfl.ai")),
        1 => Just(accepted("t", "https://evil.example")),
        8 => ok_poll,
        3 => error_status,
        1 => garbage,
        1 => failure,
        1 => Just(Answer::http(202, "")),
        2 => Just(Answer::http(200, Bytes::from_static(b"\xff\xd8\xff\xe0 jpeg bytes"))),
    ]
}
