#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `bfl generate|batch --sim --webhook-listen ADDR`: the embedded simulator's deliveries reach
//! the embedded receiver, and the run says so.

mod support;

use std::path::Path;
use support::{assert_exit, bfl, stdout_json};

/// Generations of about a second; every delivery after 0.05 s; a fallback that would be slow
/// (first poll at 30 s), so finishing inside the deadline proves the deliveries did the work.
fn scenario(dir: &Path) -> std::path::PathBuf {
    support::quick_scenario(dir, 5, 0.8, r#""webhooks": {"delay_median_secs": 0.05}"#)
}

#[test]
fn generate_with_webhooks_on_the_simulator_is_confirmed_by_one_poll() {
    let dir = support::temp_dir("webhooks-cli", "generate");
    let scenario = scenario(&dir);
    let out = bfl(&dir)
        .args(["generate", "a red fox", "--out", "fox.jpeg", "--json"])
        .args([
            "--webhook-listen",
            "127.0.0.1:0",
            "--webhook-fallback",
            "30,10",
        ])
        .arg("--sim-scenario")
        .arg(&scenario)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let json = stdout_json(&out);
    assert_eq!(json["path"], "fox.jpeg");
    assert!(std::fs::read(dir.join("fox.jpeg"))
        .unwrap()
        .starts_with(b"\xff\xd8\xff"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("webhooks: 1 accepted"), "{stderr}");
}

#[test]
fn batch_with_webhooks_on_the_simulator_writes_every_image() {
    let dir = support::temp_dir("webhooks-cli", "batch");
    let scenario = scenario(&dir);
    std::fs::write(dir.join("prompts.txt"), "fox\nlighthouse\nboat\n").unwrap();
    let out = bfl(&dir)
        .args(["batch", "prompts.txt", "--out", "imgs", "--json"])
        .args([
            "--webhook-listen",
            "127.0.0.1:0",
            "--webhook-fallback",
            "30,10",
        ])
        .arg("--sim-scenario")
        .arg(&scenario)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let json = stdout_json(&out);
    assert_eq!(json["images_written"], 3);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("webhooks: 3 accepted"), "{stderr}");
}

#[test]
fn a_webhook_url_without_a_listener_is_a_usage_error() {
    let dir = support::temp_dir("webhooks-cli", "usage");
    let out = bfl(&dir)
        .args([
            "generate",
            "x",
            "--sim",
            "--webhook-url",
            "https://hooks.example",
        ])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--webhook-listen"));
}
