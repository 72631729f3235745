//! How the commands speak: plain text for people, JSON on stdout with `--json`. Whatever came
//! from a server (task ids, polling URLs) is shown through [`shown`]; a closed stdout (`| head`)
//! is not an error.

use super::Global;
use bfl_core::TaskError;
use std::io::Write;

/// Writes one line to stdout; a reader that went away (`bfl … | head -c 1`) is ignored.
pub(super) fn emit(line: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    // Only a closed pipe can fail here in practice, and nobody is left to tell.
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// Writes text (its own line ends) to stdout, like [`emit`].
pub(super) fn emit_text(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Server text as it may be shown on a terminal (see [`bfl_core::server_text`]).
pub(super) fn shown(text: &str) -> String {
    bfl_core::server_text(text)
}

/// Reports an error and returns `code`.
pub(super) fn fail(global: &Global, code: u8, message: &str) -> u8 {
    if global.json {
        emit(serde_json::json!({ "error": message, "exit_code": code }));
    } else {
        eprintln!("error: {message}");
    }
    code
}

/// The exit code of a task error.
pub(super) fn exit_code_of(e: &TaskError) -> u8 {
    if e.is_fatal_for_batch() {
        super::EXIT_REFUSED
    } else {
        super::EXIT_FAILED
    }
}

/// Reports a task error (kind, message, task id) and returns its exit code.
pub(super) fn task_failed(global: &Global, e: &TaskError) -> u8 {
    let code = exit_code_of(e);
    if global.json {
        emit(serde_json::json!({
            "error": e.to_string(),
            "kind": e.kind().as_str(),
            "id": e.task().map(|t| t.id.clone()),
            "polling_url": e.task().map(|t| t.polling_url.clone()),
            "retryable": e.is_retryable(),
            "may_have_been_charged": e.may_have_been_charged(),
            "exit_code": code,
        }));
    } else {
        eprintln!("error ({}): {e}", e.kind());
        if e.may_have_been_accepted() {
            eprintln!("  the submit may have reached the server: this job may have been charged");
        } else if !e.may_have_been_charged() {
            eprintln!("  nothing was charged for this job");
        }
        if let Some(t) = e.task() {
            let (id, url) = (shown(&t.id), shown(&t.polling_url));
            eprintln!("  task {id} ({url})");
            if e.is_retryable() {
                let command = crate::shell::resume_command(t, "FILE");
                eprintln!("  it may still finish: {command}");
            }
        }
    }
    code
}
