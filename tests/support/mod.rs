//! Helpers shared by the tests that run the `bfl` binary.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh scratch directory for one test.
pub(crate) fn temp_dir(suite: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bfl-{suite}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `bfl` binary, run in `dir` with none of the user's BFL settings.
pub(crate) fn bfl(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bfl"));
    cmd.current_dir(dir)
        .env_remove("BFL_API_KEY")
        .env_remove("BFL_BASE_URL")
        .env_remove("BFL_REGION")
        .env_remove("BFL_LOG");
    cmd
}

/// Asserts the run exited with `code`, showing its stderr if not.
pub(crate) fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The run's stdout as one JSON value.
pub(crate) fn stdout_json(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The run's stderr as text.
pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Writes a quick simulator scenario to `dir/scenario.json`: generations of about `median_s`
/// seconds (lognormal, σ 0.3), 0.1 s in the queue, seeded; `extra` adds top-level fields (e.g.
/// `"webhooks": {…}`), or is empty.
pub(crate) fn quick_scenario(dir: &Path, seed: u64, median_s: f64, extra: &str) -> PathBuf {
    let path = dir.join("scenario.json");
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(", {extra}")
    };
    std::fs::write(
        &path,
        format!(
            r#"{{"seed": {seed}, "durations": {{"*": "lognormal:{median_s},0.3"}}, "queue_delay": "fixed:0.1"{extra}}}"#
        ),
    )
    .unwrap();
    path
}
