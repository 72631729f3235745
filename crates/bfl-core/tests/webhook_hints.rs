#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A webhook is a hint: a verified terminal claim brings one poll forward, and only that poll's
//! answer can end the task. No I/O: the machine and the router alone.

use bfl_core::api::Status;
use bfl_core::auth::ApiKey;
use bfl_core::machine::Now;
use bfl_core::machine::{Action, EngineConfig, Job, Start, StopAfter, TaskMachine};
use bfl_core::strategy::StrategyFactory;
use bfl_core::webhook::{
    verify::SECRET_HEADER, Delivery, Fallback, Hint, WebhookRouter, WebhookSecret,
};
use bfl_core::SubmittedTask;
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

fn machine(now: Now) -> TaskMachine {
    let cfg = EngineConfig::new(
        "https://api.bfl.ai".parse().unwrap(),
        ApiKey::new("bfl_test").unwrap(),
    );
    let job = Job {
        start: Start::Poll(SubmittedTask {
            model: "flux-2-pro".into(),
            ..SubmittedTask::known_as("t1", "https://api.bfl.ai/v1/get_result?id=t1")
        }),
        stop_after: StopAfter::Ready,
        download_to: None,
    };
    let fallback = Fallback::new(Duration::from_secs(12), Duration::from_secs(4));
    TaskMachine::new(
        Arc::new(cfg),
        job,
        fallback.new_task("flux-2-pro"),
        fallback.name(),
        1,
        now,
    )
}

#[allow(clippy::disallowed_methods)] // a fixed origin for a test's virtual clock
fn origin() -> Instant {
    Instant::now()
}

fn pending() -> http::Response<Bytes> {
    http::Response::new(Bytes::from_static(
        br#"{"id":"t1","status":"Pending","result":null,"progress":0.4}"#,
    ))
}

fn at(t0: Now, secs: f64) -> Now {
    Now {
        instant: t0.instant + Duration::from_secs_f64(secs),
        wall: t0.wall + Duration::from_secs_f64(secs),
    }
}

#[test]
fn a_ready_hint_for_a_pending_task_costs_one_poll_and_ends_nothing() {
    let t0 = Now {
        instant: origin(),
        wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    };
    let mut m = machine(t0);
    // The fallback's first poll is 12 s out.
    let Action::Wait(until) = m.next_action(at(t0, 1.0)) else {
        panic!("expected a wait");
    };
    assert_eq!(until, t0.instant + Duration::from_secs(12));
    // A verified delivery claims Ready at 3 s: the poll goes out now.
    m.on_hint(
        at(t0, 3.0),
        &Hint {
            status: Status::Ready,
        },
    );
    assert!(matches!(m.next_action(at(t0, 3.0)), Action::Send(_)));
    m.on_response(at(t0, 3.1), pending());
    // The server says Pending: the task goes on, back on the fallback schedule (12 s).
    let Action::Wait(until) = m.next_action(at(t0, 3.1)) else {
        panic!("a hint must not end a task");
    };
    assert_eq!(until, t0.instant + Duration::from_secs(12));
    assert_eq!((m.report().polls, m.report().hints), (1, 1));
    // A non-terminal claim brings nothing forward.
    m.on_hint(
        at(t0, 4.0),
        &Hint {
            status: Status::Pending,
        },
    );
    assert!(matches!(m.next_action(at(t0, 4.0)), Action::Wait(_)));
    // Nor do endless repeats: at most three hints ever bring a poll forward.
    let mut polls_from_hints = 0;
    for k in 0..10 {
        let now = at(t0, 5.0 + f64::from(k) * 0.1);
        m.on_hint(
            now,
            &Hint {
                status: Status::Ready,
            },
        );
        if let Action::Send(_) = m.next_action(now) {
            polls_from_hints += 1;
            m.on_response(now, pending());
        }
    }
    assert_eq!(polls_from_hints, 2, "two more of the three allowed");
    assert_eq!(m.report().polls, 3);
    assert!(
        matches!(m.next_action(at(t0, 5.9)), Action::Wait(_)),
        "the hints never ended the task"
    );
}

#[test]
fn the_router_wakes_only_for_the_right_secret_and_known_task_once() {
    let router = WebhookRouter::new();
    let mut inbox = router.expect(WebhookSecret::from_value("right"));
    let body = br#"{"task_id":"t1","status":"SUCCESS"}"#;
    let with = |secret: &'static str| {
        let mut h = http::HeaderMap::new();
        h.insert(SECRET_HEADER, http::HeaderValue::from_static(secret));
        h
    };
    // Not bound yet: the task is unknown.
    assert_eq!(router.handle(&with("right"), body), Delivery::UnknownTask);
    inbox.bind("t1");
    assert_eq!(router.handle(&with("wrong"), body), Delivery::Forged);
    let other = br#"{"task_id":"t2","status":"SUCCESS"}"#;
    assert_eq!(router.handle(&with("right"), other), Delivery::UnknownTask);
    assert_eq!(
        router.handle(&with("right"), b"not json"),
        Delivery::Malformed
    );
    let pending = br#"{"id":"t1","status":"Pending"}"#;
    assert_eq!(
        router.handle(&with("right"), pending),
        Delivery::NotTerminal
    );
    assert!(matches!(
        router.handle(&with("right"), body),
        Delivery::Accepted { .. }
    ));
    assert_eq!(router.handle(&with("right"), body), Delivery::Duplicate);
    let hint = futures_executor::block_on(inbox.recv());
    assert_eq!(hint.status, Status::Ready);
    let c = router.counters();
    assert_eq!(
        (
            c.accepted,
            c.duplicate,
            c.forged,
            c.unknown_task,
            c.malformed,
            c.not_terminal
        ),
        (1, 1, 1, 2, 1, 1)
    );
    drop(inbox);
    assert_eq!(router.waiting(), 0);
    assert_eq!(router.handle(&with("right"), body), Delivery::UnknownTask);
}
