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

/// One request a [`scripted_server`] received.
pub(crate) struct Seen<'a> {
    /// `GET`, `POST`…
    pub(crate) method: &'a str,
    /// The request target.
    pub(crate) path: &'a str,
    /// The body, as text.
    pub(crate) body: &'a str,
    /// The server's own port (to build URLs pointing back at it).
    pub(crate) port: u16,
}

/// A tiny HTTP/1.1 server on 127.0.0.1 that answers every request with what `answer` says
/// (status, JSON body), closing each connection. Returns its base URL.
pub(crate) fn scripted_server(answer: fn(&Seen<'_>) -> (u16, String)) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let mut parts = request_line.split_whitespace();
            let seen = Seen {
                method: parts.next().unwrap_or(""),
                path: parts.next().unwrap_or(""),
                body: &String::from_utf8_lossy(&body),
                port,
            };
            let (status, body) = answer(&seen);
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://127.0.0.1:{port}")
}
