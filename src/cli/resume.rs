//! `bfl resume ID --polling-url URL`: picks up a task submitted earlier (by `bfl generate`, another
//! client, or a batch) and downloads its image — the way back to a paid task a failure named.

use super::connect::connect;
use super::output::{fail, task_failed};
use super::{EngineArgs, Global, EXIT_CONFIG, EXIT_USAGE};
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
pub async fn run(global: &Global, args: &ResumeArgs) -> u8 {
    if let Err(e) = super::generate::check_writable(&args.out) {
        let msg = format!("cannot write {}: {e}", args.out.display());
        return fail(global, EXIT_USAGE, &msg);
    }
    let conn = match connect(global, Some(&args.engine), None).await {
        Ok(c) => c,
        Err(e) => return fail(global, EXIT_CONFIG, &e.to_string()),
    };
    let result = conn
        .client
        .resume_to_file(args.id.clone(), args.polling_url.clone(), &args.out)
        .await;
    let code = match result {
        Ok(output) => super::generate::report_written(global, &args.out, &output),
        Err(e) => task_failed(global, &e),
    };
    conn.close().await;
    code
}
