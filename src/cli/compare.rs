//! `bfl compare`: strategies side by side in virtual time (see [`crate::compare`]).

use super::output::{emit, emit_text, fail};
use super::{Global, EXIT_CONFIG, EXIT_USAGE};
use crate::compare::{CompareArgs, CompareError};

/// Runs the comparison on a thread of its own (it drives its own virtual-time runtime) and
/// prints the table, or JSON with `--json`.
pub async fn run(global: &Global, args: CompareArgs) -> u8 {
    let result = tokio::task::spawn_blocking(move || crate::compare::run(&args)).await;
    match result {
        Ok(Ok(report)) => {
            if global.json {
                emit(report.to_json());
            } else {
                emit_text(&report.table());
            }
            0
        }
        Ok(Err(
            e @ (CompareError::UnknownScenario(_)
            | CompareError::UnknownStrategy(_)
            | CompareError::Durations(_)),
        )) => fail(global, EXIT_USAGE, &e.to_string()),
        Ok(Err(e)) => fail(global, EXIT_CONFIG, &e.to_string()),
        Err(e) => fail(global, EXIT_CONFIG, &format!("the comparison stopped: {e}")),
    }
}
