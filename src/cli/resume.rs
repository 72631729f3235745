//! `bfl resume ID --polling-url URL`: picks up a task submitted earlier (by `bfl generate`, another
//! client, or a batch) and downloads its image — the way back to a paid task a failure named.

use super::connect::connected;
use super::output::{fail, task_failed};
use super::single::{check_writable, report_written, watched, Watched};
use super::{EngineArgs, Global, EXIT_USAGE};
use clap::Args;
use std::path::PathBuf;

/// Flags of `bfl resume`.
#[derive(Debug, Clone, Args)]
pub struct ResumeArgs {
    /// The task id.
    pub id: String,
    /// The task's polling URL, exactly as the submit answered it (printed by a failed
    /// `bfl generate`, and kept in a batch's journal).
    #[arg(long)]
    pub polling_url: String,
    /// Where to write the image.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Engine settings.
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Polls the task and writes its image.
pub(super) async fn run(global: &Global, args: &ResumeArgs) -> u8 {
    if let Err(e) = check_writable(&args.out) {
        let msg = format!("cannot write {}: {e}", args.out.display());
        return fail(global, EXIT_USAGE, &msg);
    }
    let task = bfl_core::SubmittedTask::known_as(args.id.clone(), args.polling_url.clone());
    let job = bfl_core::Job::resume(task).to_file(&args.out);
    connected(global, Some(&args.engine), None, async |conn| {
        match watched(&conn.client, job).await {
            Watched::Finished(result) => match *result {
                Ok(output) => report_written(global, &args.out, &output),
                Err(e) => task_failed(global, &e),
            },
            Watched::Interrupted(_) => {
                eprintln!(
                    "interrupted: task {} is untouched; run the same command again to get its image",
                    args.id
                );
                super::EXIT_INTERRUPTED
            }
        }
    })
    .await
    .unwrap_or_else(|code| code)
}
