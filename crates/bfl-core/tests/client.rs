#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The client driver against a scripted in-memory server and a clock that jumps on every sleep.

use async_trait::async_trait;
use bfl_core::arb::{self, Answer};
use bfl_core::transport::{RequestKind, RequestMeta, Transport, TransportError};
use bfl_core::Runtime;
use bfl_core::{Client, ErrorKind, GenerationRequest, Image, Job};
use bytes::Bytes;
use futures_executor::block_on;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Answers each request kind from its own queue, and records what was asked.
#[derive(Default)]
struct Scripted {
    answers: Mutex<VecDeque<(RequestKind, Answer)>>,
    log: Mutex<Vec<(RequestKind, String, bool)>>,
}

impl Scripted {
    fn new(script: Vec<(RequestKind, Answer)>) -> Arc<Scripted> {
        Arc::new(Scripted {
            answers: Mutex::new(script.into()),
            log: Mutex::default(),
        })
    }
    fn log(&self) -> Vec<(RequestKind, String, bool)> {
        self.log.lock().unwrap().clone()
    }
}

#[async_trait]
impl Transport for Scripted {
    async fn send(
        &self,
        req: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        let kind = RequestMeta::of(&req).unwrap().kind;
        self.log.lock().unwrap().push((
            kind,
            req.uri().to_string(),
            req.headers().contains_key("x-key"),
        ));
        let mut q = self.answers.lock().unwrap();
        let pos = q.iter().position(|(k, _)| *k == kind);
        match pos.and_then(|i| q.remove(i)) {
            Some((_, a)) => a.into_result(),
            None => Err(TransportError::Connect(
                format!("script has no {kind:?} answer left").into(),
            )),
        }
    }
}

/// A clock that only moves when someone sleeps.
struct JumpClock {
    t0: Instant,
    elapsed: Mutex<Duration>,
}

impl JumpClock {
    #[allow(clippy::disallowed_methods)] // a fixed origin for the test's virtual clock
    fn new() -> Arc<JumpClock> {
        Arc::new(JumpClock {
            t0: Instant::now(),
            elapsed: Mutex::default(),
        })
    }
}

#[async_trait]
impl Runtime for JumpClock {
    fn now(&self) -> Instant {
        self.t0 + *self.elapsed.lock().unwrap()
    }
    fn wall_now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000) + *self.elapsed.lock().unwrap()
    }
    async fn sleep_until(&self, deadline: Instant) {
        let mut e = self.elapsed.lock().unwrap();
        *e = (*e).max(deadline - self.t0);
    }
}

fn client(t: Arc<Scripted>, rt: Arc<JumpClock>) -> Client {
    Client::builder()
        .api_key("bfl_secret")
        .transport(t)
        .runtime(rt)
        .strategy(bfl_core::strategy::preset("fixed-2s").unwrap())
        .build()
        .unwrap()
}

fn happy_script(id: &str) -> Vec<(RequestKind, Answer)> {
    vec![
        (
            RequestKind::Submit,
            arb::accepted(id, "https://api.eu1.bfl.ai"),
        ),
        (RequestKind::Poll, arb::polled("Pending", Some(0.3), 0.0)),
        (RequestKind::Poll, arb::polled("Ready", None, 1.0e9 + 600.0)),
        (
            RequestKind::Download,
            Answer::http(200, &b"\xff\xd8\xffimage"[..]),
        ),
    ]
}

#[test]
fn generate_runs_submit_poll_download_and_reports_it() {
    let t = Scripted::new(happy_script("a"));
    let rt = JumpClock::new();
    let c = client(Arc::clone(&t), Arc::clone(&rt));
    let out = block_on(c.generate(GenerationRequest::new("flux-2-pro", "fox"))).unwrap();
    assert_eq!(
        out.image,
        Image::Memory(Bytes::from_static(b"\xff\xd8\xffimage"))
    );
    assert_eq!(out.ready.task.id, "a");
    let log = t.log();
    assert_eq!(log.len(), 4);
    assert!(log[..3].iter().all(|(_, _, keyed)| *keyed));
    assert!(!log[3].2, "the download carried the key");
    // The sample URL expires 600 s after end_time, bounded by first sight + 600 s.
    assert!(out.ready.expires_at <= 1.0e9 + 1200.0);
}

#[test]
fn run_reports_polls_and_time_to_ready() {
    let t = Scripted::new(happy_script("a"));
    let c = client(t, JumpClock::new());
    let outcome = block_on(c.run(Job::generate(GenerationRequest::new("flux-2-pro", "fox"))));
    assert!(outcome.result.is_ok());
    let r = outcome.report;
    assert_eq!(
        (r.submits, r.polls, r.downloads, r.rate_limited),
        (1, 2, 1, 0)
    );
    assert_eq!(r.time_to_ready, Some(Duration::from_secs(2)));
    assert_eq!(r.strategy, "fixed-2s");
}

#[test]
fn a_ready_without_a_sample_ends_after_the_failure_cap_naming_the_task() {
    let sampleless = Answer::http(200, r#"{"id":"r","status":"Ready","result":{}}"#);
    let mut script = vec![(
        RequestKind::Submit,
        arb::accepted("r", "https://api.eu1.bfl.ai"),
    )];
    script.extend(std::iter::repeat_n((RequestKind::Poll, sampleless), 3_000));
    let t = Scripted::new(script);
    let c = client(Arc::clone(&t), JumpClock::new());
    let outcome = block_on(c.run(Job::generate(GenerationRequest::new("flux-2-pro", "x"))));
    let err = outcome.result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MalformedResponse);
    assert_eq!(
        err.task_id(),
        Some("r"),
        "the paid task must stay resumable"
    );
    assert!(
        err.to_string().contains("Ready without result.sample"),
        "{err}"
    );
    let polls = t
        .log()
        .iter()
        .filter(|(k, _, _)| *k == RequestKind::Poll)
        .count();
    assert_eq!((polls, outcome.report.polls), (13, 13));
    assert_eq!(outcome.report.downloads, 0);
}

#[test]
fn server_detail_reaches_final_errors() {
    for (status, kind) in [
        (402, ErrorKind::InsufficientCredits),
        (403, ErrorKind::Unauthorized),
        (422, ErrorKind::Validation),
        (400, ErrorKind::BadRequest),
    ] {
        let body = r#"{"detail":[{"loc":["body","width"],"msg":"must be >= 64","type":"x"}]}"#;
        let t = Scripted::new(vec![(RequestKind::Submit, Answer::http(status, body))]);
        let c = client(Arc::clone(&t), JumpClock::new());
        let e = block_on(c.generate(GenerationRequest::new("flux-2-pro", "x"))).unwrap_err();
        assert_eq!(e.kind(), kind);
        assert!(e.to_string().contains("body.width: must be >= 64"), "{e}");
        assert_eq!(t.log().len(), 1, "a final answer is never retried");
    }
}

#[test]
fn a_refusal_during_a_poll_keeps_the_paid_task_in_the_error() {
    for (status, kind) in [
        (401, ErrorKind::Unauthorized),
        (403, ErrorKind::Unauthorized),
        (402, ErrorKind::InsufficientCredits),
        (422, ErrorKind::Validation),
        (400, ErrorKind::BadRequest),
    ] {
        let t = Scripted::new(vec![
            (
                RequestKind::Submit,
                arb::accepted("p", "https://api.eu1.bfl.ai"),
            ),
            (
                RequestKind::Poll,
                Answer::http(status, r#"{"detail":"no"}"#),
            ),
        ]);
        let c = client(Arc::clone(&t), JumpClock::new());
        let e = block_on(c.generate(GenerationRequest::new("flux-2-pro", "x"))).unwrap_err();
        assert_eq!(e.kind(), kind, "{status}");
        assert_eq!(
            e.task_id(),
            Some("p"),
            "{status}: the paid task was dropped"
        );
        assert!(e.may_have_been_charged(), "{status}");
        assert_eq!(
            t.log().len(),
            2,
            "{status}: a final answer is never retried"
        );
    }
}

#[test]
fn credits_errors_are_classified_like_every_other_answer() {
    for (status, kind) in [
        (403, ErrorKind::Unauthorized),
        (402, ErrorKind::InsufficientCredits),
        (503, ErrorKind::Server),
        (429, ErrorKind::RateLimited),
    ] {
        let t = Scripted::new(vec![(RequestKind::Credits, Answer::http(status, "{}"))]);
        let c = client(Arc::clone(&t), JumpClock::new());
        let e = block_on(c.credits()).unwrap_err();
        assert_eq!(e.kind(), kind, "{status}");
        assert!(e.task().is_none());
        assert_eq!(t.log().len(), 1, "credits are asked once");
    }
    let t = Scripted::new(vec![(RequestKind::Credits, Answer::http(200, "nope"))]);
    let e = block_on(client(t, JumpClock::new()).credits()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MalformedResponse);
    assert!(e.to_string().contains("during credits"), "{e}");
}

#[test]
fn retry_after_on_429_is_honoured_then_the_submit_goes_through() {
    let mut script = vec![(
        RequestKind::Submit,
        Answer::Http {
            status: 429,
            body: Bytes::from_static(br#"{"detail":"Too many active tasks"}"#),
            retry_after: Some("7".into()),
        },
    )];
    script.extend(happy_script("b"));
    let t = Scripted::new(script);
    let rt = JumpClock::new();
    let c = client(Arc::clone(&t), Arc::clone(&rt));
    let outcome = block_on(c.run(Job::generate(GenerationRequest::new("flux-2-pro", "x"))));
    assert!(outcome.result.is_ok());
    assert_eq!(outcome.report.rate_limited, 1);
    // 7 s hint (+ up to 0.7 s jitter), then 2 s to Ready.
    let elapsed = rt.now() - rt.t0;
    assert!(
        elapsed >= Duration::from_secs(9) && elapsed < Duration::from_millis(9_800),
        "{elapsed:?}"
    );
}

#[test]
fn resume_polls_the_given_url_without_submitting() {
    let script = happy_script("c").into_iter().skip(1).collect();
    let t = Scripted::new(script);
    let c = client(Arc::clone(&t), JumpClock::new());
    let out = block_on(c.resume("c", "https://api.us1.bfl.ai/v1/get_result?id=c")).unwrap();
    assert_eq!(out.ready.task.id, "c");
    assert!(t.log().iter().all(|(k, _, _)| *k != RequestKind::Submit));
    assert_eq!(t.log()[0].1, "https://api.us1.bfl.ai/v1/get_result?id=c");
}

#[test]
fn a_batch_stops_submitting_after_a_fatal_answer() {
    use futures_util::StreamExt;
    let t = Scripted::new(vec![(
        RequestKind::Submit,
        Answer::http(402, r#"{"detail":"Insufficient credits"}"#),
    )]);
    let c = client(Arc::clone(&t), JumpClock::new());
    let jobs = (0..5).map(|i| Job::generate(GenerationRequest::new("flux-2-pro", format!("p{i}"))));
    let items: Vec<_> = block_on(c.batch(jobs).collect());
    assert_eq!(items.len(), 5);
    let kinds: Vec<_> = items
        .iter()
        .map(|i| i.outcome.result.as_ref().unwrap_err().kind())
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == ErrorKind::InsufficientCredits)
            .count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == ErrorKind::NotSubmitted)
            .count(),
        4,
        "{kinds:?}"
    );
    assert_eq!(t.log().len(), 1, "no submit after the 402");
}

#[test]
fn credits_reads_the_balance() {
    let t = Scripted::new(vec![(
        RequestKind::Credits,
        Answer::http(200, r#"{"credits": 1234.5}"#),
    )]);
    let c = client(Arc::clone(&t), JumpClock::new());
    assert_eq!(block_on(c.credits()).unwrap(), 1234.5);
    assert_eq!(t.log()[0].1, "https://api.bfl.ai/v1/credits");
    assert!(t.log()[0].2);
}

#[test]
fn builder_errors_are_clear() {
    let e = Client::builder().build().unwrap_err();
    assert!(e.to_string().contains("BFL_API_KEY"), "{e}");
    let e = Client::builder()
        .api_key("k")
        .base_url("ftp://x")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("ftp://x"));
    let c = client(Scripted::new(vec![]), JumpClock::new());
    assert!(!format!("{c:?}").contains("bfl_secret"));
}

/// Records which money events it saw and how many requests the server had seen by then; fails
/// the event named `fail_on`, as a journal on a full disk would.
struct Recording<'a> {
    server: &'a Scripted,
    seen: Mutex<Vec<(&'static str, usize)>>,
    fail_on: Option<&'static str>,
}

#[async_trait::async_trait]
impl bfl_core::TaskObserver for Recording<'_> {
    async fn on_event(&self, e: &bfl_core::TaskEvent) -> Result<(), bfl_core::RecordError> {
        let name = match e {
            bfl_core::TaskEvent::Submitting => "submitting",
            bfl_core::TaskEvent::Submitted(_) => "submitted",
            _ => return Ok(()),
        };
        self.seen
            .lock()
            .unwrap()
            .push((name, self.server.log().len()));
        match self.fail_on {
            Some(n) if n == name => Err(bfl_core::RecordError("disk full".into())),
            _ => Ok(()),
        }
    }
}

fn run_recorded(
    fail_on: Option<&'static str>,
) -> (
    bfl_core::TaskOutcome,
    Vec<(&'static str, usize)>,
    bool,
    usize,
) {
    let t = Scripted::new(happy_script("a"));
    let c = client(Arc::clone(&t), JumpClock::new());
    let observer = Recording {
        server: &t,
        seen: Mutex::default(),
        fail_on,
    };
    let halt = std::sync::atomic::AtomicBool::new(false);
    let hooks = bfl_core::Hooks {
        halt: Some(&halt),
        observer: &observer,
    };
    let job = Job::generate(GenerationRequest::new("flux-2-pro", "fox"));
    let outcome = block_on(c.run_hooked(job, 1, hooks));
    let halted = halt.load(std::sync::atomic::Ordering::Acquire);
    (
        outcome,
        observer.seen.into_inner().unwrap(),
        halted,
        t.log().len(),
    )
}

#[test]
fn journal_hooks_see_submitting_before_the_post_and_submitted_before_the_first_poll() {
    let (outcome, seen, halted, _) = run_recorded(None);
    assert!(outcome.result.is_ok());
    assert_eq!(seen, vec![("submitting", 0), ("submitted", 1)]);
    assert!(!halted);
}

#[test]
fn a_submit_whose_intent_cannot_be_recorded_is_never_sent_and_halts_the_batch() {
    let (outcome, seen, halted, requests) = run_recorded(Some("submitting"));
    assert_eq!(
        requests, 0,
        "the POST left although its intent was not durable"
    );
    assert_eq!(seen, vec![("submitting", 0)]);
    let e = outcome.result.unwrap_err();
    assert_eq!(e.kind(), bfl_core::ErrorKind::NotSubmitted);
    assert!(!e.may_have_been_charged());
    assert!(e.to_string().contains("disk full"), "{e}");
    assert!(halted);
}

#[test]
fn a_paid_task_whose_id_cannot_be_recorded_is_still_finished() {
    let (outcome, _, halted, requests) = run_recorded(Some("submitted"));
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    assert!(requests >= 3, "submit, poll and download all happened");
    assert!(
        halted,
        "no other job may pay while the journal cannot record"
    );
}

#[test]
fn an_empty_retry_budget_stops_retried_submits_but_never_abandons_a_paid_task() {
    let client_with_no_budget = |t: Arc<Scripted>| {
        Client::builder()
            .api_key("bfl_secret")
            .transport(t)
            .runtime(JumpClock::new())
            .strategy(bfl_core::strategy::preset("fixed-2s").unwrap())
            .retry_budget(0)
            .build()
            .unwrap()
    };
    let unavailable = || Answer::http(503, r#"{"detail":"busy"}"#);
    // A submitted task keeps being polled through 5xx answers, just more slowly.
    let mut script = happy_script("a");
    script.insert(1, (RequestKind::Poll, unavailable()));
    script.insert(1, (RequestKind::Poll, unavailable()));
    let t = Scripted::new(script);
    let out = block_on(
        client_with_no_budget(Arc::clone(&t)).generate(GenerationRequest::new("flux-2-pro", "fox")),
    );
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(
        t.log()
            .iter()
            .filter(|(k, _, _)| *k == RequestKind::Poll)
            .count(),
        4
    );
    // A submit is not retried without budget: nothing was paid yet.
    let t = Scripted::new(vec![
        (RequestKind::Submit, unavailable()),
        (
            RequestKind::Submit,
            arb::accepted("b", "https://api.eu1.bfl.ai"),
        ),
    ]);
    let err = block_on(
        client_with_no_budget(Arc::clone(&t)).generate(GenerationRequest::new("flux-2-pro", "fox")),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert_eq!(t.log().len(), 1);
}

/// [`Scripted`], noting each time the driver asks whether it has room ([`Transport::ready`]).
struct Roomy {
    inner: Arc<Scripted>,
    /// `None` for a `ready`, the request kind for a send.
    calls: Mutex<Vec<Option<RequestKind>>>,
}

#[async_trait]
impl Transport for Roomy {
    async fn send(
        &self,
        req: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        let kind = RequestMeta::of(&req).map(|m| m.kind);
        self.calls.lock().unwrap().push(kind);
        self.inner.send(req).await
    }
    async fn ready(&self) {
        self.calls.lock().unwrap().push(None);
    }
}

#[test]
fn a_tasks_first_request_and_each_after_a_wait_are_built_once_the_transport_has_room() {
    let t = Arc::new(Roomy {
        inner: Scripted::new(happy_script("a")),
        calls: Mutex::default(),
    });
    let c = Client::builder()
        .api_key("bfl_secret")
        .transport(Arc::clone(&t) as Arc<dyn Transport>)
        .runtime(JumpClock::new())
        .strategy(bfl_core::strategy::preset("fixed-2s").unwrap())
        .build()
        .unwrap();
    let out = block_on(c.generate(GenerationRequest::new("flux-2-pro", "fox")));
    assert!(out.is_ok(), "{out:?}");
    // The recipe polls at once after the submit, then 2 s later; the download follows the
    // `Ready` at once: only the submit and the poll after the wait are asked for room.
    use RequestKind::{Download, Poll, Submit};
    assert_eq!(
        *t.calls.lock().unwrap(),
        [
            None,
            Some(Submit),
            Some(Poll),
            None,
            Some(Poll),
            Some(Download)
        ]
    );
}
