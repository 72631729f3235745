#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `bfl resume` picks up a paid task that `bfl generate` gave up on, without paying again.

mod support;

use bfl_sim::{SimConfig, SimServer};
use support::{assert_exit, bfl, stdout_json, temp_dir};

#[test]
fn a_task_given_up_by_generate_is_resumed_and_paid_once() {
    let dir = temp_dir("resume", "given-up");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let config = SimConfig::from_json(r#"{"durations": {"*": "fixed:2"}}"#).unwrap();
    let server = rt.block_on(SimServer::start(config)).unwrap();
    let base = server.base_url();

    // The whole job may take 0.5 s; generation takes 2 s: generate gives up, naming the task.
    let out = bfl(&dir)
        .env("BFL_API_KEY", "bfl_resume_test")
        .args([
            "generate",
            "a slow fox",
            "--timeout",
            "0.5",
            "--json",
            "--base-url",
            &base,
        ])
        .output()
        .unwrap();
    assert_exit(&out, 1);
    let failure = stdout_json(&out);
    assert_eq!(failure["kind"], "deadline_exceeded");
    assert_eq!(failure["retryable"], true);
    let id = failure["id"].as_str().unwrap().to_owned();
    let polling_url = failure["polling_url"].as_str().unwrap().to_owned();

    let out = bfl(&dir)
        .env("BFL_API_KEY", "bfl_resume_test")
        .args([
            "resume",
            &id,
            "--polling-url",
            &polling_url,
            "--out",
            "fox.jpeg",
        ])
        .args(["--json", "--base-url", &base])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(stdout_json(&out)["id"], id.as_str());
    assert!(std::fs::read(dir.join("fox.jpeg"))
        .unwrap()
        .starts_with(b"\xff\xd8\xff"));
    assert_eq!(server.stats().counters.accepted, 1, "paid once");
    rt.block_on(server.shutdown());
}
