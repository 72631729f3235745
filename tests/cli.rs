#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The `bfl` binary end to end, on its embedded simulator (`--sim`): outputs, JSON, exit codes,
//! and clear errors.

mod support;

use std::path::{Path, PathBuf};
use support::{assert_exit, bfl, stdout_json};

fn temp_dir(name: &str) -> PathBuf {
    support::temp_dir("cli", name)
}

/// A quick simulator: generations of about a second.
fn fast_scenario(dir: &Path) -> PathBuf {
    support::quick_scenario(dir, 3, 0.8, "")
}

fn is_image(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\xff\xd8\xff")
        || bytes.starts_with(b"\x89PNG\r\n\x1a\n")
        || (bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP"))
}

#[test]
fn generate_on_the_embedded_simulator_writes_the_image_and_json() {
    let dir = temp_dir("generate");
    let scenario = fast_scenario(&dir);
    let out = bfl(&dir)
        .args([
            "generate",
            "a red fox",
            "--format",
            "png",
            "--out",
            "fox.png",
            "--json",
        ])
        .arg("--sim-scenario")
        .arg(&scenario)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let json = stdout_json(&out);
    assert_eq!(json["path"], "fox.png");
    let bytes = std::fs::read(dir.join("fox.png")).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert_eq!(json["bytes"], bytes.len());
    assert!(json["id"].as_str().is_some_and(|id| !id.is_empty()));
}

#[test]
fn batch_on_the_embedded_simulator_writes_every_image_and_a_parsable_summary() {
    let dir = temp_dir("batch");
    let scenario = fast_scenario(&dir);
    let prompts = dir.join("prompts.txt");
    std::fs::write(
        &prompts,
        "# comment\nfox\n\nlighthouse\n{\"prompt\": \"boat\", \"output_format\": \"webp\"}\n\
         a task that fails sim:error\n",
    )
    .unwrap();
    let out = bfl(&dir)
        .args([
            "batch",
            "prompts.txt",
            "--out",
            "imgs",
            "--json",
            "--sim-scenario",
        ])
        .arg(&scenario)
        .output()
        .unwrap();
    // One job fails on purpose: exit code 1, and the others are written.
    assert_exit(&out, 1);
    let json = stdout_json(&out);
    assert_eq!(json["jobs"], 4);
    assert_eq!(json["images_written"], 3);
    assert_eq!(json["failed"]["generation_failed"], 1);
    assert_eq!(json["rate_limited"], 0);
    let items = json["items"].as_array().unwrap();
    assert_eq!(items[3]["status"], "failed");
    assert_eq!(items[3]["line"], 6);
    for item in &items[..3] {
        assert_eq!(item["status"], "done");
        let path = dir.join(item["path"].as_str().unwrap());
        assert!(
            is_image(&std::fs::read(&path).unwrap()),
            "{}",
            path.display()
        );
    }
    assert!(items[2]["path"].as_str().unwrap().ends_with(".webp"));

    // Running it again without --resume refuses to overwrite the journal.
    let again = bfl(&dir)
        .args(["batch", "prompts.txt", "--out", "imgs", "--sim"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--resume"));

    // Resuming a finished batch does nothing new: the failure was final, the images exist.
    let resumed = bfl(&dir)
        .args([
            "batch",
            "prompts.txt",
            "--out",
            "imgs",
            "--resume",
            "--json",
            "--sim",
        ])
        .output()
        .unwrap();
    let json = stdout_json(&resumed);
    assert_eq!(json["run"], 0);
    assert_eq!(json["already_done"], 3);
    assert_eq!(json["submits"], 0);
}

#[test]
fn no_key_and_no_sim_says_what_to_do() {
    let dir = temp_dir("nokey");
    let out = bfl(&dir).args(["generate", "fox"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("BFL_API_KEY") && err.contains("--sim"),
        "{err}"
    );
}

#[test]
fn bad_flags_and_unreadable_files_get_clear_errors() {
    let dir = temp_dir("bad");
    let out = bfl(&dir)
        .args(["generate", "fox", "--sim", "--strategy", "sometimes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown strategy") && err.contains("fixed-2s"),
        "{err}"
    );

    let out = bfl(&dir)
        .args(["batch", "missing.txt", "--sim"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read missing.txt"));

    std::fs::write(dir.join("bad.jsonl"), "fox\n{\"prompt\": 1,\n").unwrap();
    let out = bfl(&dir)
        .args(["batch", "bad.jsonl", "--sim", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let json = stdout_json(&out);
    assert!(json["error"].as_str().unwrap().contains("line 2"), "{json}");

    let out = bfl(&dir)
        .args(["generate", "fox", "--sim", "--timeout", "-3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_unwritable_destination_is_refused_before_paying() {
    let dir = temp_dir("unwritable");
    std::fs::write(dir.join("file"), "not a directory").unwrap();
    let out = bfl(&dir)
        .args(["generate", "fox", "--sim", "--out", "file/fox.png"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write file/fox.png"));
    // A missing directory is simply created.
    let out = bfl(&dir)
        .args(["generate", "fox", "--sim", "--out", "new/dir/fox.png"])
        .arg("--sim-scenario")
        .arg(fast_scenario(&dir))
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert!(dir.join("new/dir/fox.png").exists());
}

#[test]
fn credits_on_the_simulator() {
    let dir = temp_dir("credits");
    let out = bfl(&dir)
        .args(["credits", "--sim", "--json"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert!(stdout_json(&out)["credits"].as_f64().is_some());
}

#[test]
fn compare_prints_the_json_shape_of_the_issue() {
    let dir = temp_dir("compare");
    let out = bfl(&dir)
        .args([
            "compare",
            "--jobs",
            "60",
            "--warmup",
            "20",
            "--strategies",
            "fixed-2s,learned",
        ])
        .args(["--plot", "lag.svg", "--json"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let json = stdout_json(&out);
    assert_eq!(json["scenario"], "s1");
    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    // (The full shape is checked by bfl::compare's own tests; here, that the CLI prints it.)
    assert_eq!(results[1]["strategy"], "learned");
    assert!(results[0]["mean_lag_s"].as_f64().is_some() && results[0]["lost"] == 0);
    assert!(json["oracle"].as_array().is_some_and(|o| !o.is_empty()));
    let svg = std::fs::read_to_string(dir.join("lag.svg")).unwrap();
    assert!(
        svg.contains("<svg") && svg.contains("learned"),
        "not the plot: {svg:.200}"
    );

    let bad = bfl(&dir)
        .args(["compare", "--scenario", "nope"])
        .output()
        .unwrap();
    assert_exit(&bad, 2);
}
