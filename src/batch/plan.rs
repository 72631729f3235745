//! What a run of the batch does with each job, from where the journal left it: submit, poll
//! again, fetch a missing image again, or leave it settled — and what it tells the user about it.

use super::naming::image_path;
use super::BatchOptions;
use crate::batch::input::InputJob;
use crate::batch::journal::ItemState;
use crate::batch::summary::{ItemResult, ItemSummary};
use bfl_core::Job;

/// What to run, and what is already settled.
#[derive(Debug, Default)]
pub struct Plan {
    /// The jobs to run, by input index.
    pub to_run: Vec<(usize, Job)>,
    /// The jobs this run leaves as they are.
    pub settled: Vec<ItemSummary>,
    /// Jobs submitted by an earlier run, polled again now.
    pub resumed: usize,
    /// Jobs submitted again because `--retry-failed` asked (each pays again).
    pub retried_failed: usize,
    /// Done jobs whose image file is gone, fetched again from their task.
    pub refetched: usize,
}

/// Failure kinds a new submit cannot fix: the input must change.
const INPUT_FAILURES: [&str; 4] = [
    "validation",
    "bad_request",
    "request_moderated",
    "content_moderated",
];

/// The kind of a done job whose image is gone and whose task is unknown.
pub const IMAGE_MISSING: &str = "image_missing";

/// Plans a run over `states` (one per job).
pub fn plan(jobs: &[InputJob], states: &[ItemState], opts: &BatchOptions) -> Plan {
    let mut plan = Plan::default();
    for (index, job) in jobs.iter().enumerate() {
        let dest = image_path(&opts.out_dir, index, job);
        let submit = || Job::generate(job.request.clone()).to_file(dest.clone());
        let settled = |result| ItemSummary {
            index,
            line: job.line,
            result,
        };
        match states.get(index).unwrap_or(&ItemState::New) {
            ItemState::New => plan.to_run.push((index, submit())),
            ItemState::Ambiguous if opts.resubmit_ambiguous => plan.to_run.push((index, submit())),
            ItemState::Ambiguous => plan.settled.push(settled(ItemResult::Ambiguous)),
            ItemState::Submitted(t)
            | ItemState::Failed {
                retry: true,
                submitted: Some(t),
                ..
            } => {
                plan.resumed += 1;
                plan.to_run
                    .push((index, Job::resume(t.clone()).to_file(dest)));
            }
            ItemState::Failed {
                retry: true,
                submitted: None,
                ..
            } => plan.to_run.push((index, submit())),
            ItemState::Done { path, task } if !path.exists() => match task {
                Some(t) => {
                    plan.refetched += 1;
                    plan.to_run
                        .push((index, Job::resume(t.clone()).to_file(dest)));
                }
                None if opts.retry_failed => {
                    plan.retried_failed += 1;
                    plan.to_run.push((index, submit()));
                }
                None => plan.settled.push(settled(ItemResult::Failed {
                    kind: IMAGE_MISSING.into(),
                    message: format!(
                        "{} was written by an earlier run and is gone; its task is unknown",
                        path.display()
                    ),
                    id: None,
                    retry: false,
                })),
            },
            ItemState::Done { path, .. } => plan.settled.push(settled(ItemResult::Done {
                path: path.clone(),
                earlier: true,
            })),
            ItemState::Failed { kind, .. }
                if opts.retry_failed && !INPUT_FAILURES.contains(&kind.as_str()) =>
            {
                plan.retried_failed += 1;
                plan.to_run.push((index, submit()));
            }
            ItemState::Failed {
                kind,
                message,
                submitted,
                ..
            } => plan.settled.push(settled(ItemResult::Failed {
                kind: kind.clone(),
                message: message.clone(),
                id: submitted.as_ref().map(|t| t.task.id.clone()),
                retry: false,
            })),
        }
    }
    plan
}

/// The embedded simulator keeps no task across runs: what the last run had submitted (or may
/// have) is submitted again — no money is at stake there.
pub fn forget_sim_tasks(states: &mut [ItemState]) -> usize {
    let mut forgotten = 0;
    for state in states.iter_mut() {
        let lost = match state {
            ItemState::Submitted(_) | ItemState::Ambiguous => true,
            ItemState::Failed {
                retry, submitted, ..
            } => *retry && submitted.is_some(),
            ItemState::Done { path, .. } => !path.exists(),
            ItemState::New => false,
        };
        if lost {
            *state = ItemState::New;
            forgotten += 1;
        }
    }
    forgotten
}
