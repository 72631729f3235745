//! What a task leaves in the logs: one span per task with its model and id, events for submit,
//! polls (with the delay chosen and why), download and outcome — and never the key.
//!
//! A test binary of its own: tracing caches per-callsite interest process-wide, so events first
//! hit by concurrent tests without a subscriber could be missed by this test's scoped one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "e2e/common.rs"]
mod common;

use bfl_core::GenerationRequest;
use common::*;
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// One thread, so the thread-local subscriber sees every event of the task.
#[tokio::test(flavor = "current_thread")]
async fn a_task_is_traced_in_one_span_and_the_key_never_appears() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = start(scenario()).await;
    let dir = scratch_dir("tracing");
    let out = within_deadline(client(&server).generate_to_file(
        GenerationRequest::new("flux-2-pro", "a traced fox"),
        &dir.join("fox.jpeg"),
    ))
    .await
    .unwrap();
    server.shutdown().await;

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let id = &out.ready.task.id;
    let task_lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("task{model=flux-2-pro"))
        .collect();
    for needle in ["submitted", "polled", "next_in", "downloaded", "done"] {
        assert!(
            task_lines.iter().any(|l| l.contains(needle)),
            "no {needle:?} event in the task span:\n{log}"
        );
    }
    // After the submit, the span carries the task id.
    assert!(
        task_lines.iter().any(|l| l.contains(&format!("id={id}"))),
        "{log}"
    );
    if std::env::var_os("BFL_E2E_SHOW_LOG").is_some() {
        eprintln!("{log}");
    }
    assert!(!log.contains(KEY), "the key leaked into the logs:\n{log}");
    assert!(
        !log.contains("e2e_secret"),
        "part of the key leaked:\n{log}"
    );
}
