//! How the commands speak: plain text for people, JSON on stdout with `--json`.

use super::Global;
use bfl_core::TaskError;

/// Reports an error and returns `code`.
pub fn fail(global: &Global, code: u8, message: &str) -> u8 {
    if global.json {
        println!(
            "{}",
            serde_json::json!({ "error": message, "exit_code": code })
        );
    } else {
        eprintln!("error: {message}");
    }
    code
}

/// The exit code of a task error.
pub fn exit_code_of(e: &TaskError) -> u8 {
    if e.is_fatal_for_batch() {
        super::EXIT_REFUSED
    } else {
        super::EXIT_FAILED
    }
}

/// Reports a task error (kind, message, task id) and returns its exit code.
pub fn task_failed(global: &Global, e: &TaskError) -> u8 {
    let code = exit_code_of(e);
    if global.json {
        println!(
            "{}",
            serde_json::json!({
                "error": e.to_string(),
                "kind": e.kind().as_str(),
                "id": e.task().map(|t| t.id.clone()),
                "polling_url": e.task().map(|t| t.polling_url.clone()),
                "retryable": e.is_retryable(),
                "may_have_been_charged": e.may_have_been_charged(),
                "exit_code": code,
            })
        );
    } else {
        eprintln!("error ({}): {e}", e.kind());
        if e.may_have_been_accepted() {
            eprintln!("  the submit may have reached the server: this job may have been charged");
        } else if !e.may_have_been_charged() {
            eprintln!("  nothing was charged for this job");
        }
        if let Some(t) = e.task() {
            eprintln!("  task {} ({})", t.id, t.polling_url);
            if e.is_retryable() {
                eprintln!(
                    "  it may still finish: bfl resume {} --polling-url '{}' --out FILE",
                    t.id, t.polling_url
                );
            }
        }
    }
    code
}
