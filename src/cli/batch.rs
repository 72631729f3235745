//! `bfl batch FILE`: prompts to images, journaled and resumable.

use super::connect::connected;
use super::output::{emit, emit_text, fail};
use super::{
    EngineArgs, Global, EXIT_CONFIG, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_REFUSED, EXIT_USAGE,
};
use crate::batch::input::{fingerprint, parse_jobs, Defaults};
use crate::batch::summary::BatchSummary;
use crate::batch::{BatchError, BatchOptions};
use bfl_core::OutputFormat;
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;

/// Flags of `bfl batch`.
#[derive(Debug, Clone, Args)]
pub struct BatchArgs {
    /// One prompt per line, or one JSON request per line (`{"prompt": …, "model": …, …}`);
    /// blank lines and lines starting with # are skipped; `-` reads standard input. Image
    /// fields (input_image, …) may name files, relative to this file.
    pub file: PathBuf,
    /// Where images go.
    #[arg(long, short, default_value = "out")]
    pub out: PathBuf,
    /// The journal (default: OUT/bfl-journal.jsonl).
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// Continue the batch recorded in the journal: poll what was submitted, submit only what
    /// never was.
    #[arg(long)]
    pub resume: bool,
    /// With --resume: submit again jobs whose submit may have reached the server just before a
    /// crash (this may pay twice for them).
    #[arg(long, requires = "resume")]
    pub resubmit_ambiguous: bool,
    /// With --resume: submit again jobs that ended in a failure a new try may fix (a generation
    /// `Error`, an expired result, a lost image…). Each pays again.
    #[arg(long, requires = "resume")]
    pub retry_failed: bool,
    /// With --resume: accept a journal written against another API base (e.g. another spelling
    /// of the same host). Its tasks are then polled by id at this run's base.
    #[arg(long, requires = "resume")]
    pub allow_new_base: bool,
    /// The most tasks in flight (default: the model's documented limit; a higher value is
    /// learned down from 429s).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub max_active: Option<u64>,
    /// The model of plain-text lines and of JSON lines without one.
    #[arg(long, default_value = "flux-2-pro")]
    pub model: String,
    /// The image format of lines that do not set one: jpeg, png or webp.
    #[arg(long)]
    pub format: Option<OutputFormat>,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Engine settings.
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Runs the batch and prints its summary.
pub(super) async fn run(global: &Global, args: &BatchArgs) -> u8 {
    let stdin = args.file.as_os_str() == "-";
    let input = if stdin {
        "standard input".to_owned()
    } else {
        args.file.display().to_string()
    };
    let read = if stdin {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(&args.file)
    };
    let text = match read {
        Ok(t) => t,
        Err(e) => return fail(global, EXIT_USAGE, &format!("cannot read {input}: {e}")),
    };
    let mut defaults = Defaults::new(args.model.clone());
    defaults.format = args.format;
    let base = match args.file.parent() {
        Some(dir) if !stdin && !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let jobs = match parse_jobs(&text, &defaults)
        .map_err(|e| e.to_string())
        .and_then(|jobs| with_image_files(jobs, &base))
    {
        Ok(j) => j,
        Err(e) => return fail(global, EXIT_USAGE, &format!("{input}: {e}")),
    };
    let max_active = args.max_active.map(|n| n as usize);
    let result = connected(global, Some(&args.engine), max_active, async |conn| {
        let opts = BatchOptions {
            out_dir: args.out.clone(),
            journal: args.journal.clone(),
            resume: args.resume,
            resubmit_ambiguous: args.resubmit_ambiguous,
            retry_failed: args.retry_failed,
            allow_new_base: args.allow_new_base,
            sim: conn.sim.is_some(),
            progress: !args.no_progress && !global.json && std::io::stderr().is_terminal(),
        };
        let interrupts = Some(super::interrupts());
        let fingerprint = fingerprint(&text);
        crate::batch::run(&conn.client, &input, &fingerprint, &jobs, &opts, interrupts).await
    })
    .await;
    // Reported once the connection is closed: the summary, with what to do next, is the last
    // thing said.
    match result {
        Ok(Ok(summary)) => report(global, &summary),
        Ok(Err(e @ (BatchError::Journal(_) | BatchError::BaseChanged { .. }))) => {
            fail(global, EXIT_USAGE, &e.to_string())
        }
        Ok(Err(e)) => fail(global, EXIT_CONFIG, &e.to_string()),
        Err(code) => code,
    }
}

/// Each job with the image files its fields name read in (as base64).
fn with_image_files(
    jobs: Vec<crate::batch::input::InputJob>,
    base: &std::path::Path,
) -> Result<Vec<crate::batch::input::InputJob>, String> {
    jobs.into_iter()
        .map(|mut job| {
            job.request = crate::image_input::resolve_request(job.request, base)
                .map_err(|e| format!("line {}: {e}", job.line))?;
            Ok(job)
        })
        .collect()
}

fn report(global: &Global, summary: &BatchSummary) -> u8 {
    if global.json {
        match serde_json::to_string(summary) {
            Ok(s) => emit(s),
            Err(e) => eprintln!("error: cannot print the summary: {e}"),
        }
    } else {
        emit_text(&summary.to_string());
        for line in summary.failure_lines() {
            eprintln!("  {line}");
        }
    }
    exit_code(summary)
}

/// 130 when interrupted, 4 when the key or credits stopped it, 1 when any job lacks its image.
fn exit_code(summary: &BatchSummary) -> u8 {
    let refused = summary.failed.keys().any(|k| k.is_fatal_for_batch());
    if summary.interrupted {
        EXIT_INTERRUPTED
    } else if refused {
        EXIT_REFUSED
    } else if summary.failures() > 0
        || !summary.journal_errors.is_empty()
        || summary.stopped.is_some()
        || !summary.unfinished.is_empty()
    {
        EXIT_FAILED
    } else {
        0
    }
}
