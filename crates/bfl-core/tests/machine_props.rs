#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Properties of the task machine over random server answers, with no I/O at all.

use bfl_core::arb::{self, Answer};
use bfl_core::auth::KEY_HEADER;
use bfl_core::machine::Now;
use bfl_core::machine::{Action, EngineConfig, Job, TaskEvent, TaskMachine};
use bfl_core::strategy::{preset, PRESET_NAMES};
use bfl_core::transport::{RequestKind, RequestMeta};
use bfl_core::{auth::ApiKey, GenerationRequest};
use proptest::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// What one run did, step by step, for comparing runs.
#[derive(Debug, PartialEq)]
enum Step {
    Send(RequestKind, String, bool),
    Wait(Duration),
    Done(String),
}

struct Run {
    steps: Vec<Step>,
    /// From the start, or from the accepted submit (the deadline restarts there).
    ended_after: Duration,
}

fn config(deadline: Duration) -> Arc<EngineConfig> {
    let mut cfg = EngineConfig::new(
        "https://api.bfl.ai".parse().unwrap(),
        ApiKey::new("bfl_test").unwrap(),
    );
    cfg.deadline = deadline;
    Arc::new(cfg)
}

/// Drives a machine against `answers` (cycled), each taking `rtt` (capped by the request's
/// timeout, as a real transport would), checking invariants as it goes.
fn run(strategy: &str, seed: u64, deadline: Duration, answers: &[Answer], rtt: Duration) -> Run {
    let t0 = Instant::now_for_tests();
    let w0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let mut now = Now {
        instant: t0,
        wall: w0,
    };
    let factory = preset(strategy).unwrap();
    let cfg = config(deadline);
    let mut m = TaskMachine::new(
        Arc::clone(&cfg),
        Job::generate(GenerationRequest::new("flux-2-pro", "p")),
        factory.new_task("flux-2-pro"),
        factory.name(),
        seed,
        now,
    );
    let mut steps = Vec::new();
    // The deadline counts from the start, and again from the moment the submit is accepted: a
    // paid task gets its whole deadline to be polled and downloaded.
    let mut clock_from = t0;
    let mut terminal_seen = false;
    let mut last_hinted = false;
    let mut i = 0;
    loop {
        assert!(steps.len() < 100_000, "runaway machine");
        match m.next_action(now) {
            Action::Send(transmit) => {
                let req = &transmit.request;
                let meta = RequestMeta::of(req).unwrap();
                assert_eq!(meta.kind, transmit.kind, "the request says what it is for");
                let keyed = req.headers().contains_key(KEY_HEADER);
                // Key safety: never to a download, only to allowed hosts.
                if meta.kind == RequestKind::Download {
                    assert!(!keyed, "key sent to a delivery host");
                }
                if keyed {
                    assert!(
                        cfg.key_policy.allows(req.uri()),
                        "key sent to {}",
                        req.uri()
                    );
                }
                // Nothing is polled after a terminal status.
                if meta.kind == RequestKind::Poll {
                    assert!(!terminal_seen, "polled after a terminal status");
                }
                // No request may outlive the deadline.
                let timeout = meta.timeout.unwrap();
                assert!(now.instant + timeout <= clock_from + deadline);
                steps.push(Step::Send(meta.kind, req.uri().to_string(), keyed));
                let answer = answers[i % answers.len()].clone();
                i += 1;
                last_hinted = matches!(
                    &answer,
                    Answer::Http {
                        retry_after: Some(_),
                        ..
                    }
                );
                if meta.kind == RequestKind::Poll && answers_terminal_status(&answer) {
                    terminal_seen = true;
                }
                now = now.after(rtt.min(timeout));
                match answer.into_result() {
                    Ok(resp) => m.on_response(now, resp),
                    Err(e) => m.on_transport_error(now, e),
                }
                while let Some(event) = m.poll_event() {
                    if matches!(event, TaskEvent::Submitted(_)) {
                        clock_from = now.instant;
                    }
                }
            }
            Action::Wait(until) => {
                let wait = until.saturating_duration_since(now.instant);
                // No wait exceeds its cap (11 s: the largest preset or retry backoff with its
                // jitter), except a server hint, which is clamped to 60 s plus 1 s of jitter.
                let cap = if last_hinted {
                    Duration::from_secs(61)
                } else {
                    Duration::from_secs(11)
                };
                assert!(wait <= cap, "waited {wait:?} (hinted: {last_hinted})");
                assert!(until <= clock_from + deadline, "waited past the deadline");
                steps.push(Step::Wait(wait));
                now = now.after(wait);
            }
            Action::Done(outcome) => {
                let label = match &outcome.result {
                    Ok(_) => "ok".to_owned(),
                    Err(e) => e.kind().to_string(),
                };
                steps.push(Step::Done(label));
                return Run {
                    steps,
                    ended_after: now.instant - clock_from,
                };
            }
        }
    }
}

/// Whether a poll answer carries one of the spec's terminal statuses (judged here from the
/// wire, independently of the machine's own notion). A `Ready` without a `result.sample` has
/// nothing to download: it is asked again (a bounded number of times), so it does not count.
fn answers_terminal_status(answer: &Answer) -> bool {
    const TERMINAL: [&str; 5] = [
        "Ready",
        "Error",
        "Failed",
        "Request Moderated",
        "Content Moderated",
    ];
    match answer {
        Answer::Http {
            status: 200 | 202,
            body,
            ..
        } => serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .filter(|v| v["status"] != "Ready" || v["result"]["sample"].is_string())
            .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(str::to_owned))
            .is_some_and(|s| TERMINAL.contains(&s.as_str())),
        _ => false,
    }
}

trait NowForTests {
    fn now_for_tests() -> Instant;
}
impl NowForTests for Instant {
    #[allow(clippy::disallowed_methods)] // a fixed origin for a test's virtual clock
    fn now_for_tests() -> Instant {
        Instant::now()
    }
}

fn strategy_name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(PRESET_NAMES.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_run_ends_by_the_deadline_and_keeps_the_invariants(
        strategy in strategy_name(),
        seed in any::<u64>(),
        deadline_s in 1u64..400,
        rtt_ms in 0u64..3_000,
        answers in prop::collection::vec(arb::answer(), 1..40),
    ) {
        let deadline = Duration::from_secs(deadline_s);
        let r = run(strategy, seed, deadline, &answers, Duration::from_millis(rtt_ms));
        // Requests are cut at the deadline, so the task ends by it.
        prop_assert!(r.ended_after <= deadline, "ended after {:?}", r.ended_after);
        prop_assert!(matches!(r.steps.last(), Some(Step::Done(_))));
    }

    #[test]
    fn the_same_seed_gives_the_same_actions(
        strategy in strategy_name(),
        seed in any::<u64>(),
        answers in prop::collection::vec(arb::answer(), 1..30),
    ) {
        let a = run(strategy, seed, Duration::from_secs(300), &answers, Duration::from_millis(80));
        let b = run(strategy, seed, Duration::from_secs(300), &answers, Duration::from_millis(80));
        prop_assert_eq!(a.steps, b.steps);
    }

    #[test]
    fn parsers_survive_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = bfl_core::api::PollResponse::parse(&bytes);
        let _ = bfl_core::api::SubmitResponse::parse(&bytes);
        let _ = bfl_core::api::CreditsResponse::parse(&bytes);
        let _ = bfl_core::api::ErrorBody::parse(&bytes).summary();
    }

    #[test]
    fn parsers_survive_arbitrary_json_shapes(
        status in arb::status_string(),
        progress in prop_oneof![Just("null".to_owned()), any::<f64>().prop_map(|f| f.to_string()), Just("\"x\"".to_owned())],
        result in prop_oneof![Just("null".to_owned()), Just("{}".to_owned()), Just("[1]".to_owned()), Just("{\"sample\":3}".to_owned())],
    ) {
        let body = format!(r#"{{"status":"{status}","progress":{progress},"result":{result}}}"#);
        let _ = bfl_core::api::PollResponse::parse(body.as_bytes());
    }
}

fn ready_script() -> Vec<Answer> {
    vec![
        arb::accepted("t", "https://api.eu1.bfl.ai"),
        arb::polled("Pending", None, 0.0),
        arb::polled("Pending", Some(0.5), 0.0),
        arb::polled("Ready", None, 1.0e9 + 5.0),
        Answer::http(200, &b"\x89PNG\r\n\x1a\n image"[..]),
    ]
}

#[test]
fn happy_path_submits_once_polls_the_returned_url_with_the_key_and_downloads_without() {
    let r = run(
        "fixed-2s",
        1,
        Duration::from_secs(60),
        &ready_script(),
        Duration::ZERO,
    );
    let sends: Vec<_> = r
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Send(k, u, keyed) => Some((*k, u.as_str(), *keyed)),
            _ => None,
        })
        .collect();
    assert_eq!(
        sends,
        vec![
            (
                RequestKind::Submit,
                "https://api.bfl.ai/v1/flux-2-pro",
                true
            ),
            (
                RequestKind::Poll,
                "https://api.eu1.bfl.ai/v1/get_result?id=t",
                true
            ),
            (
                RequestKind::Poll,
                "https://api.eu1.bfl.ai/v1/get_result?id=t",
                true
            ),
            (
                RequestKind::Poll,
                "https://api.eu1.bfl.ai/v1/get_result?id=t",
                true
            ),
            (
                RequestKind::Download,
                "https://delivery-eu1.bfl.ai/results/x/sample.jpeg?se=1&sig=2",
                false
            ),
        ]
    );
    // The fixed recipe: first poll at once, then 2 s apart.
    let waits: Vec<_> = r
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Wait(w) => Some(*w),
            _ => None,
        })
        .collect();
    assert_eq!(waits, vec![Duration::from_secs(2), Duration::from_secs(2)]);
    assert_eq!(r.steps.last(), Some(&Step::Done("ok".into())));
}

#[test]
fn a_foreign_polling_url_never_gets_the_key_and_the_paid_task_is_polled_by_id_at_the_api_host() {
    let r = run(
        "fixed-2s",
        1,
        Duration::from_secs(60),
        &[arb::accepted("t", "https://evil.example")],
        Duration::ZERO,
    );
    let polls: Vec<_> = r
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Send(RequestKind::Poll, url, keyed) => Some((url.as_str(), *keyed)),
            _ => None,
        })
        .collect();
    assert!(
        !polls.is_empty(),
        "the paid task was abandoned: {:?}",
        r.steps
    );
    for (url, _) in &polls {
        assert_eq!(*url, "https://api.bfl.ai/v1/get_result?id=t");
    }
    assert!(r
        .steps
        .iter()
        .all(|s| !matches!(s, Step::Send(_, url, _) if url.contains("evil.example"))));
}

fn sends_of(r: &Run, kind: RequestKind) -> usize {
    r.steps
        .iter()
        .filter(|s| matches!(s, Step::Send(k, _, _) if *k == kind))
        .count()
}

#[test]
fn a_ready_without_a_sample_is_polled_up_to_the_failure_cap_with_backoff_then_fails() {
    let sampleless = Answer::http(200, r#"{"id":"t","status":"Ready","result":{"seed":1}}"#);
    let mut answers = vec![arb::accepted("t", "https://api.eu1.bfl.ai")];
    answers.extend(std::iter::repeat_n(sampleless, 1_000));
    let r = run(
        "fixed-2s",
        1,
        Duration::from_secs(600),
        &answers,
        Duration::ZERO,
    );
    // The first answer and 12 retries (the consecutive-failure cap), not ~2 400 polls.
    assert_eq!(sends_of(&r, RequestKind::Poll), 13);
    assert_eq!(
        r.steps.last(),
        Some(&Step::Done("malformed_response".into()))
    );
    // Backoff, not the 2 s recipe: the retries reach the 10 s cap (equal jitter: >= 5 s).
    let longest = r
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Wait(w) => Some(*w),
            _ => None,
        })
        .max();
    assert!(longest >= Some(Duration::from_secs(5)), "{:?}", r.steps);
}

#[test]
fn bodies_that_are_not_the_image_are_downloaded_again_until_the_image_comes() {
    let mut answers = ready_script();
    let image = answers.pop().unwrap();
    answers.extend([
        Answer::http(200, ""),
        Answer::http(200, "<html><body>Access Denied</body></html>"),
        Answer::http(200, r#"{"detail":"Not Found"}"#),
        image,
    ]);
    let r = run(
        "fixed-2s",
        1,
        Duration::from_secs(60),
        &answers,
        Duration::ZERO,
    );
    assert_eq!(sends_of(&r, RequestKind::Download), 4);
    assert_eq!(r.steps.last(), Some(&Step::Done("ok".into())));
    // Past the cap, the task fails as a retryable transport failure of the download.
    let mut answers = ready_script();
    answers.pop();
    answers.extend(std::iter::repeat_n(Answer::http(200, "<html></html>"), 100));
    let r = run(
        "fixed-2s",
        1,
        Duration::from_secs(600),
        &answers,
        Duration::ZERO,
    );
    assert_eq!(sends_of(&r, RequestKind::Download), 13);
    assert_eq!(r.steps.last(), Some(&Step::Done("transport".into())));
}

#[test]
fn a_submit_accepted_just_before_the_deadline_still_gets_its_whole_deadline_to_finish() {
    // 429s with a 4 s hint eat 8 of the 10 s before the submit is accepted; the paid task then
    // needs 4 s of polls (fixed 2 s) — past the first deadline, inside the one its acceptance
    // starts.
    let busy = Answer::Http {
        status: 429,
        body: bytes::Bytes::from_static(br#"{"detail":"too many active tasks"}"#),
        retry_after: Some("4".into()),
    };
    let mut script = vec![busy.clone(), busy];
    script.extend(ready_script());
    let r = run(
        "fixed-2s",
        1,
        Duration::from_secs(10),
        &script,
        Duration::ZERO,
    );
    assert_eq!(
        r.steps.last(),
        Some(&Step::Done("ok".into())),
        "{:?}",
        r.steps
    );
    let waited: Duration = r
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Wait(w) => Some(*w),
            _ => None,
        })
        .sum();
    assert!(
        waited > Duration::from_secs(10),
        "the run fit in one deadline: {waited:?}"
    );
}
