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

/// A `bfl sim` started with webhook flags, killed on drop.
struct SimProcess {
    child: std::process::Child,
    base_url: String,
}

impl SimProcess {
    fn start(dir: &Path, flags: &[&str]) -> SimProcess {
        use std::io::BufRead;
        let mut child = bfl(dir)
            .args(["sim", "--port", "0", "--duration", "fixed:0.3"])
            .args(flags)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        let stdout = child.stdout.take().unwrap();
        std::io::BufReader::new(stdout)
            .read_line(&mut first)
            .unwrap();
        let base_url = first
            .trim()
            .strip_prefix("bfl-sim listening on ")
            .unwrap_or_else(|| panic!("banner: {first:?}"))
            .to_owned();
        SimProcess { child, base_url }
    }

    /// `GET /__sim/stats`, the server's ground truth.
    fn stats(&self) -> serde_json::Value {
        use std::io::{Read, Write};
        let authority = self.base_url.trim_start_matches("http://");
        let mut socket = std::net::TcpStream::connect(authority).unwrap();
        write!(
            socket,
            "GET /__sim/stats HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        socket.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn bfl_sim_webhook_flags_reach_the_running_server() {
    let dir = support::temp_dir("webhooks-cli", "sim-flags");
    let sim = SimProcess::start(&dir, &["--webhook-drop", "1"]);
    let out = bfl(&dir)
        .env("BFL_API_KEY", "sim-key")
        .args(["generate", "a red fox", "--out", "fox.jpeg", "--json"])
        .args(["--base-url", &sim.base_url])
        .args([
            "--webhook-listen",
            "127.0.0.1:0",
            "--webhook-fallback",
            "1,1",
        ])
        .output()
        .unwrap();
    // Every delivery was dropped, so the fallback poll found the image.
    assert_exit(&out, 0);
    assert!(std::fs::read(dir.join("fox.jpeg"))
        .unwrap()
        .starts_with(b"\xff\xd8\xff"));
    let stats = sim.stats();
    let records = stats["webhooks"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{stats}");
    assert_eq!(records[0]["dropped"], true, "{stats}");
    assert!(records[0]["sent_at"].is_null(), "{stats}");
    assert_eq!(stats["counters"]["accepted"], 1, "{stats}");
}

#[test]
fn a_sim_scenario_file_with_nonsense_webhook_rates_is_refused_before_anything_runs() {
    let dir = support::temp_dir("webhooks-cli", "bad-scenario");
    let scenario = dir.join("bad.json");
    std::fs::write(&scenario, r#"{"webhooks": {"duplicate": 2}}"#).unwrap();
    let out = bfl(&dir)
        .args(["generate", "a red fox", "--out", "fox.jpeg"])
        .arg("--sim-scenario")
        .arg(&scenario)
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("webhooks.duplicate"), "{stderr}");
    assert!(!dir.join("fox.jpeg").exists());
}
