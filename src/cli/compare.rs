//! `bfl compare`: strategies side by side in virtual time (see [`crate::compare`]).

use super::output::{emit, emit_text, fail};
use super::{Global, EXIT_CONFIG, EXIT_USAGE};
use crate::compare::{CompareArgs, CompareError};

/// Runs the comparison on a thread of its own (it drives its own virtual-time runtime) and
/// prints the table, or JSON with `--json`.
pub(super) async fn run(global: &Global, args: CompareArgs) -> u8 {
    if let Some(plot) = &args.plot {
        if plot.extension().and_then(|e| e.to_str()) != Some("svg") {
            let msg = format!(
                "--plot {}: the plot is SVG; name the file .svg",
                plot.display()
            );
            return fail(global, EXIT_USAGE, &msg);
        }
    }
    let listing = args.list;
    let result = tokio::task::spawn_blocking(move || crate::compare::run(&args)).await;
    match result {
        Ok(Ok(report)) => {
            if global.json {
                emit(report.to_json());
            } else {
                emit_text(&report.table());
                if !listing {
                    emit_text(LEGEND);
                }
            }
            0
        }
        Ok(Err(e @ (CompareError::UnknownScenario(_) | CompareError::UnknownStrategy(_)))) => {
            fail(global, EXIT_USAGE, &e.to_string())
        }
        Ok(Err(e)) => fail(global, EXIT_CONFIG, &e.to_string()),
        Err(e) => fail(global, EXIT_CONFIG, &format!("the comparison stopped: {e}")),
    }
}

/// What the table's columns mean, printed under it.
const LEGEND: &str = "
polls, lag   per job: polls made; seconds from ready to seen ready (p50, p99: quantiles)
oracle@p     the optimal open-loop schedule's mean lag at the same polls per job (- if none)
req/job      every request per job: submits, polls, downloads, retries, 429s
makespan     seconds until the last image; bound: its floor, max(longest job, work / slots)
exp, lost    result URLs that expired before download; images lost
`learned`, the default, polls more while other jobs wait for a slot (a task's lag then holds
them back too): many polls per job in a big batch is its choice, not a fault.
";
