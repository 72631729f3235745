#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The `bfl` binary's flags, files and exit codes as the README's table states them, input
//! checked before anything is paid, image inputs, stdin, and progress without a terminal.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use support::{assert_exit, bfl, stderr};

fn temp_dir(name: &str) -> PathBuf {
    support::temp_dir("cli-flags", name)
}

fn fast_scenario(dir: &Path) -> PathBuf {
    support::quick_scenario(dir, 7, 0.5, "")
}

#[test]
fn exit_codes_follow_the_readme_table() {
    let dir = temp_dir("codes");
    std::fs::write(dir.join("existing.txt"), "keep me").unwrap();
    let usage: [&[&str]; 10] = [
        &["compare", "--plot", "lag.png"],
        &["generate", "x", "--sim", "--out", "existing.txt"],
        &["generate", "x", "--sim", "--out", "/proc/nope/x.jpeg"],
        &["generate", "x", "--timeout", "0"],
        &["generate", "x", "--no-such-flag"],
        &["sim", "--duration", "lognormal:abc"],
        &["sim", "--scenario", "no-such-scenario"],
        &["sim", "--sim"],
        &["compare", "--base-url", "http://127.0.0.1:9"],
        &["batch", "no-such-file.txt", "--sim"],
    ];
    for args in usage {
        let out = bfl(&dir).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with("error"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("existing.txt")).unwrap(),
        "keep me"
    );

    let out = bfl(&dir)
        .args(["generate", "x", "--timeout", "0"])
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("more than 0 and at most 86400"),
        "{}",
        stderr(&out)
    );

    // No key → 3.
    let out = bfl(&dir)
        .args(["generate", "x", "--out", "x.jpeg"])
        .output()
        .unwrap();
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("BFL_API_KEY"), "{}", stderr(&out));

    // A busy port → 3, naming the port.
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = bfl(&dir).args(["sim", "--port", &port]).output().unwrap();
    assert_exit(&out, 3);
    assert!(
        stderr(&out).contains(&format!("port {port}")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn generate_protects_existing_files_and_names_files_for_their_format() {
    let dir = temp_dir("files");
    let scenario = fast_scenario(&dir);
    let run = |args: &[&str]| {
        bfl(&dir)
            .args(args)
            .arg("--sim-scenario")
            .arg(&scenario)
            .output()
            .unwrap()
    };
    // The extension picks the format.
    let out = run(&["generate", "a fox", "--out", "fox.png"]);
    assert_exit(&out, 0);
    let first = std::fs::read(dir.join("fox.png")).unwrap();
    assert!(first.starts_with(b"\x89PNG\r\n\x1a\n"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("seed "), "{text}");
    assert!(
        stderr(&out).contains("task "),
        "a status line: {}",
        stderr(&out)
    );

    // An existing file is kept without --force, replaced with it.
    let first = b"an earlier file".to_vec();
    std::fs::write(dir.join("fox.png"), &first).unwrap();
    let out = run(&["generate", "another fox", "--out", "fox.png", "--seed", "9"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(std::fs::read(dir.join("fox.png")).unwrap(), first);
    let out = run(&[
        "generate",
        "another fox",
        "--out",
        "fox.png",
        "--seed",
        "9",
        "--force",
    ]);
    assert_exit(&out, 0);
    assert_ne!(std::fs::read(dir.join("fox.png")).unwrap(), first);

    // A name for another format is refused.
    let out = run(&["generate", "a fox", "--out", "fox.jpeg", "--format", "png"]);
    assert_exit(&out, 2);
    assert!(!dir.join("fox.jpeg").exists());

    // A non-ASCII prompt keeps its letters in the default name.
    let out = run(&["generate", "東京の夜"]);
    assert_exit(&out, 0);
    assert!(dir.join("東京の夜.jpeg").is_file());
}

#[test]
fn batch_lines_are_checked_against_the_schema_before_anything_is_paid() {
    let dir = temp_dir("schema");
    let scenario = fast_scenario(&dir);
    for (line, expect) in [
        (
            r#"{"prompt": "b", "output_format": "gif"}"#,
            "output_format",
        ),
        (r#"{"prompt": "b", "widht": 512}"#, "did you mean \"width\""),
        (
            r#"{"prompt": "b", "input_image": "missing.png"}"#,
            "missing.png",
        ),
    ] {
        std::fs::write(dir.join("p.jsonl"), format!("a fox\n{line}\n")).unwrap();
        let out = bfl(&dir)
            .args(["batch", "p.jsonl", "--out", "out", "--sim-scenario"])
            .arg(&scenario)
            .output()
            .unwrap();
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert!(err.contains("line 2") && err.contains(expect), "{err}");
        assert!(!dir.join("out").exists(), "nothing ran, nothing was paid");
    }
}

#[test]
fn batch_reads_standard_input_and_logs_progress_without_a_terminal() {
    let dir = temp_dir("stdin");
    let scenario = fast_scenario(&dir);
    let mut child = bfl(&dir)
        .args(["batch", "-", "--out", "out", "--sim-scenario"])
        .arg(&scenario)
        .env("BFL_PROGRESS_EVERY", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a fox\na cat\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 0);
    let names: Vec<_> = std::fs::read_dir(dir.join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.contains(&"0001-a-fox.jpeg".to_owned()), "{names:?}");
    assert!(names.contains(&"0002-a-cat.jpeg".to_owned()), "{names:?}");
    let err = stderr(&out);
    assert!(
        err.contains("submitted") && err.contains("done"),
        "plain progress lines: {err}"
    );
}

/// Bodies the recording server received.
static BODIES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Records each request body and refuses it (403).
fn recording_server() -> String {
    support::scripted_server(|seen| {
        BODIES.lock().unwrap().push(seen.body.to_owned());
        (403, r#"{"detail": "no"}"#.to_owned())
    })
}

#[test]
fn image_inputs_from_files_and_urls_reach_the_api_as_it_accepts_them() {
    let dir = temp_dir("images");
    let png = b"\x89PNG\r\n\x1a\nfake-but-tagged";
    std::fs::write(dir.join("ref.png"), png).unwrap();
    let base = recording_server();
    let out = bfl(&dir)
        .env("BFL_API_KEY", "test-key-123456")
        .args([
            "generate",
            "edit it",
            "--out",
            "e.jpeg",
            "--base-url",
            &base,
        ])
        .args(["--image", "ref.png", "--image", "https://example.com/b.jpg"])
        .output()
        .unwrap();
    assert_exit(&out, 4);
    let sent: serde_json::Value =
        serde_json::from_str(BODIES.lock().unwrap().last().unwrap()).unwrap();
    assert_eq!(sent["input_image"], "iVBORw0KGgpmYWtlLWJ1dC10YWdnZWQ=");
    assert_eq!(sent["input_image_2"], "https://example.com/b.jpg");

    // Kontext takes four images: a fifth is refused before anything is sent.
    let before = BODIES.lock().unwrap().len();
    let mut cmd = bfl(&dir);
    cmd.env("BFL_API_KEY", "test-key-123456").args([
        "generate",
        "x",
        "--model",
        "flux-kontext-pro",
        "--out",
        "k.png",
        "--base-url",
        &base,
    ]);
    for _ in 0..5 {
        cmd.args(["-i", "ref.png"]);
    }
    let out = cmd.output().unwrap();
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("at most 4"), "{}", stderr(&out));
    assert_eq!(BODIES.lock().unwrap().len(), before);

    // A batch line names its image relative to the input file.
    std::fs::create_dir_all(dir.join("in")).unwrap();
    std::fs::write(dir.join("in/ref.png"), png).unwrap();
    std::fs::write(
        dir.join("in/p.jsonl"),
        r#"{"prompt": "edit", "input_image": "ref.png"}"#,
    )
    .unwrap();
    let out = bfl(&dir)
        .env("BFL_API_KEY", "test-key-123456")
        .args(["batch", "in/p.jsonl", "--out", "out", "--base-url", &base])
        .output()
        .unwrap();
    assert_exit(&out, 4);
    let sent: serde_json::Value =
        serde_json::from_str(BODIES.lock().unwrap().last().unwrap()).unwrap();
    assert_eq!(sent["input_image"], "iVBORw0KGgpmYWtlLWJ1dC10YWdnZWQ=");
}

#[test]
fn help_groups_global_options_and_lists_the_strategies() {
    let dir = temp_dir("help");
    let out = bfl(&dir).args(["generate", "--help"]).output().unwrap();
    assert_exit(&out, 0);
    let help = String::from_utf8_lossy(&out.stdout);
    let global = help
        .find("Global options:")
        .expect("a heading for global options");
    assert!(help.find("--base-url").unwrap() > global, "{help}");
    assert!(help.find("--strategy").unwrap() < global, "{help}");
    for name in ["fixed-2s", "backoff", "learned:lambda"] {
        assert!(help.contains(name), "{name} in: {help}");
    }
}

#[test]
fn compare_explains_its_columns_and_cites_only_files_in_the_repo() {
    let dir = temp_dir("compare");
    let out = bfl(&dir)
        .args([
            "compare",
            "--scenario",
            "s1",
            "--jobs",
            "30",
            "--strategies",
            "fixed-2s",
        ])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    for column in ["oracle@p ", "req/job ", "bound: ", "exp, lost "] {
        assert!(text.contains(column), "{column} explained in: {text}");
    }
    // fixed-2s and adaptive land on one point of an idle server: one label, not two overlapping.
    let out = bfl(&dir)
        .args(["compare", "--scenario", "s1", "--jobs", "30"])
        .args(["--strategies", "fixed-2s,adaptive", "--plot", "lag.svg"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let svg = std::fs::read_to_string(dir.join("lag.svg")).unwrap();
    assert_eq!(svg.matches("fixed-2s = adaptive").count(), 1, "{svg}");
    let out = bfl(&dir).args(["compare", "--list"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for cited in text.split_whitespace().filter(|w| w.ends_with(".md")) {
        assert!(
            root.join(cited).is_file(),
            "{cited} is not in the repository"
        );
    }
    assert!(text.contains("docs/BENCHMARKS.md"), "{text}");
}

#[test]
fn bfl_sim_speaks_json_and_its_regional_host_can_be_given_the_key() {
    let dir = temp_dir("sim-json");
    let out = bfl(&dir)
        .args(["sim", "--list-scenarios", "--json"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let list = support::stdout_json(&out);
    assert!(list.as_array().is_some_and(|l| !l.is_empty()), "{list}");

    let mut sim = bfl(&dir)
        .args(["sim", "--port", "0", "--polling-host", "regional", "--json"])
        .args(["--duration", "fixed:0.3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(sim.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let hosts: serde_json::Value = serde_json::from_str(&first).unwrap();
    let base = hosts["base_url"].as_str().unwrap().to_owned();
    let regional = hosts["regional"].as_str().unwrap();
    let regional = regional.trim_start_matches("http://").to_owned();
    let generate = |extra: &[&str], out: &str| {
        bfl(&dir)
            .env("BFL_API_KEY", "any-key-the-sim-takes")
            .args(["generate", "a fox", "--out", out, "--base-url", &base])
            .args(extra)
            .output()
            .unwrap()
    };
    // Without the flag the key must not go to the regional polling URL: the task is polled by
    // id at the API host instead …
    let by_id = generate(&["-v"], "a.jpeg");
    // … with it, it may.
    let allowed = generate(&["--key-host", &regional], "b.jpeg");
    let _ = sim.kill();
    let _ = sim.wait();
    assert_exit(&by_id, 0);
    assert!(
        stderr(&by_id).contains("polling the task by id at the API host"),
        "{}",
        stderr(&by_id)
    );
    assert!(dir.join("a.jpeg").is_file());
    assert_exit(&allowed, 0);
    assert!(dir.join("b.jpeg").is_file());
}

#[test]
fn a_password_in_the_base_url_never_reaches_the_logs() {
    let dir = temp_dir("userinfo");
    let out = bfl(&dir)
        .env("BFL_API_KEY", "test-key-123456")
        .args([
            "credits",
            "-vvv",
            "--base-url",
            "http://user:hunter2@127.0.0.1:9",
        ])
        .output()
        .unwrap();
    assert_exit(&out, 3);
    assert!(!stderr(&out).contains("hunter2"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("http://***@127.0.0.1:9"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn max_rps_is_documented_checked_and_holds_requests_back_without_losing_an_image() {
    let dir = temp_dir("max-rps");
    let help = bfl(&dir).args(["batch", "--help"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("--max-rps <N>"),
        "{help:?}"
    );
    let out = bfl(&dir)
        .args(["generate", "x", "--sim", "--max-rps", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("from 0.1 to 100000"),
        "{}",
        stderr(&out)
    );

    std::fs::write(dir.join("prompts.txt"), "a fox\na cat\na hen\na cow\n").unwrap();
    let scenario = fast_scenario(&dir);
    let out = bfl(&dir)
        .args([
            "-vv",
            "batch",
            "prompts.txt",
            "--out",
            "out",
            "--max-rps",
            "4",
        ])
        .arg("--sim-scenario")
        .arg(&scenario)
        .env("BFL_PROGRESS_EVERY", "0")
        .output()
        .unwrap();
    assert_exit(&out, 0);
    // Four submits at once under 4 a second: three of them wait their turn.
    assert!(
        stderr(&out).contains("request budget: held back"),
        "{}",
        stderr(&out)
    );
    let images = std::fs::read_dir(dir.join("out"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("jpeg".as_ref()))
        .count();
    assert_eq!(images, 4);
}
