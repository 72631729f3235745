#![allow(clippy::unwrap_used, clippy::expect_used)]
//! What the `bfl` binary lets reach a terminal, a pipe, `--json` and the journal: no tracing
//! without `-v`, no ANSI into files, one error line, nothing a hostile server says raw (escape
//! sequences, an echoed key), and a quiet exit when the reader of stdout goes away.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use support::{assert_exit, bfl, scripted_server, stdout_json, Seen};

const KEY: &str = "bfl_test_secret_key_0123456789";
/// Sets the terminal title, clears the screen and forges a line.
const HOSTILE: &str = "\\u001b]0;pwned\\u0007\\u001b[2J\\r\\nerror: forged";

fn temp_dir(name: &str) -> PathBuf {
    support::temp_dir("cli-output", name)
}

fn fast_scenario(dir: &Path) -> PathBuf {
    support::quick_scenario(dir, 5, 0.5, "")
}

/// A 403 whose detail echoes the key and carries escape sequences.
fn refuses_and_echoes(_: &Seen<'_>) -> (u16, String) {
    (
        403,
        format!(r#"{{"detail": "key {KEY} is not valid {HOSTILE}"}}"#),
    )
}

/// Accepts the task (an id with escape sequences), then fails it with details echoing the key.
fn fails_and_echoes(seen: &Seen<'_>) -> (u16, String) {
    let port = seen.port;
    if seen.method == "POST" {
        (
            200,
            format!(
                r#"{{"id": "t1{HOSTILE}", "polling_url": "http://127.0.0.1:{port}/v1/get_result?id=t1"}}"#
            ),
        )
    } else {
        (
            200,
            format!(
                r#"{{"id": "t1", "status": "Error", "details": {{"reason": "bad key {KEY} {HOSTILE}"}}}}"#
            ),
        )
    }
}

/// A 422 whose detail echoes a base64 image at length (as the real API echoes the request).
fn echoes_the_request(_: &Seen<'_>) -> (u16, String) {
    let image = "iVBORw0KGgoAAAANSUhEUgAA".repeat(4000);
    (
        422,
        format!(
            r#"{{"detail": [{{"loc": ["body", "input_image"], "msg": "not an image: {image}", "type": "value_error", "input": "{image}"}}]}}"#
        ),
    )
}

#[test]
fn a_422_echoing_the_request_is_cut_short() {
    let dir = temp_dir("echo");
    let server = scripted_server(echoes_the_request);
    let out = bfl(&dir)
        .env("BFL_API_KEY", KEY)
        .args([
            "generate",
            "a fox",
            "--out",
            "fox.jpeg",
            "--base-url",
            &server,
        ])
        .output()
        .unwrap();
    assert_exit(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.len() < 1000,
        "{} bytes of error: {stderr}",
        stderr.len()
    );
    assert!(
        stderr.contains("body.input_image: not an image: [96000 characters of base64]"),
        "{stderr}"
    );
}

fn assert_clean(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    assert!(!text.contains(KEY), "{what} shows the key: {text}");
    assert!(
        !text.contains('\u{1b}'),
        "{what} carries an escape: {text:?}"
    );
    assert!(!text.contains('\u{7}'), "{what} carries a bell: {text:?}");
    assert!(
        !text.lines().any(|l| l.starts_with("error: forged")),
        "{what} has a forged line: {text}"
    );
}

#[test]
fn an_echoed_key_and_escape_sequences_never_reach_the_terminal_json_or_journal() {
    let dir = temp_dir("hostile");
    let refusing = scripted_server(refuses_and_echoes);
    for json in [false, true] {
        let mut cmd = bfl(&dir);
        cmd.env("BFL_API_KEY", KEY).args([
            "generate",
            "a fox",
            "--out",
            "fox.jpeg",
            "--base-url",
            &refusing,
        ]);
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().unwrap();
        assert_exit(&out, 4);
        assert_clean("generate stdout", &out.stdout);
        assert_clean("generate stderr", &out.stderr);
        let text = String::from_utf8_lossy(if json { &out.stdout } else { &out.stderr });
        assert!(text.contains("[redacted key]"), "{text}");
    }

    let failing = scripted_server(fails_and_echoes);
    let out = bfl(&dir)
        .env("BFL_API_KEY", KEY)
        .args([
            "generate",
            "a fox",
            "--out",
            "fox2.jpeg",
            "--base-url",
            &failing,
        ])
        .output()
        .unwrap();
    assert_exit(&out, 1);
    assert_clean("generate stdout", &out.stdout);
    assert_clean("generate stderr", &out.stderr);
    assert!(String::from_utf8_lossy(&out.stderr).contains("generation failed"));

    std::fs::write(dir.join("prompts.txt"), "a fox\na cat\n").unwrap();
    for (server, code) in [(&refusing, 4), (&failing, 1)] {
        let out = bfl(&dir)
            .env("BFL_API_KEY", KEY)
            .args([
                "batch",
                "prompts.txt",
                "--out",
                "out",
                "--json",
                "--base-url",
                server,
            ])
            .output()
            .unwrap();
        assert_exit(&out, code);
        assert_clean("batch stdout", &out.stdout);
        assert_clean("batch stderr", &out.stderr);
        let journal = std::fs::read(dir.join("out/bfl-journal.jsonl")).unwrap();
        assert_clean("journal", &journal);
        std::fs::remove_dir_all(dir.join("out")).unwrap();
    }
}

#[test]
fn without_verbose_a_failure_prints_one_error_and_no_tracing_or_ansi() {
    let dir = temp_dir("quiet");
    let scenario = fast_scenario(&dir);
    let out = bfl(&dir)
        .args([
            "generate",
            "a cat sim:error",
            "--out",
            "cat.jpeg",
            "--sim-scenario",
        ])
        .arg(&scenario)
        .output()
        .unwrap();
    assert_exit(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains('\u{1b}'), "ANSI in a file: {stderr:?}");
    assert!(
        !stderr.contains("WARN") && !stderr.contains("ERROR"),
        "{stderr}"
    );
    let errors: Vec<_> = stderr.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("generation failed"), "{stderr}");

    // -v turns tracing on, still without colours into a file.
    let out = bfl(&dir)
        .args([
            "generate",
            "a cat sim:error",
            "--out",
            "cat.jpeg",
            "-v",
            "--sim-scenario",
        ])
        .arg(&scenario)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("WARN") || stderr.contains("INFO"),
        "{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "ANSI in a file: {stderr:?}");
}

/// Runs `bfl ARGS` with its stdout closed by the reader after one byte.
fn run_into_closed_pipe(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut child = bfl(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let dir = temp_dir("pipe");
    let scenario = fast_scenario(&dir);
    std::fs::write(dir.join("prompts.txt"), "a fox\na cat\n").unwrap();
    let scenario = scenario.to_str().unwrap();
    let runs: [&[&str]; 5] = [
        &["sim", "--list-scenarios"],
        &["sim", "--list-scenarios", "--json"],
        &["compare", "--scenario", "s1", "--jobs", "30", "--json"],
        &["compare", "--scenario", "s1", "--jobs", "30"],
        &["batch", "prompts.txt", "--json", "--sim-scenario", scenario],
    ];
    for args in runs {
        let out = run_into_closed_pipe(&dir, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
    }
}

#[test]
fn generate_json_still_parses_after_the_output_changes() {
    let dir = temp_dir("json");
    let scenario = fast_scenario(&dir);
    let out = bfl(&dir)
        .args([
            "generate",
            "a red fox",
            "--json",
            "--out",
            "fox.jpeg",
            "--seed",
            "42",
        ])
        .arg("--sim-scenario")
        .arg(&scenario)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(stdout_json(&out)["seed"], 42);
}
