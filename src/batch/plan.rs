//! What a run of the batch does with each job, from where the journal left it: submit, poll
//! again, fetch a missing image again, or leave it settled — and what it tells the user about it.

use super::naming::image_path;
use super::BatchOptions;
use crate::batch::input::InputJob;
use crate::batch::journal::ItemState;
use crate::batch::summary::{FailureKind, ItemResult, ItemSummary};
use bfl_core::{ErrorKind, Job};

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

/// Whether a new submit of the same request cannot fix a failure of `kind`: the input must
/// change (a moderated output included — the same request is likely flagged again).
fn needs_new_input(kind: ErrorKind) -> bool {
    kind.is_input_error() || kind == ErrorKind::ContentModerated
}

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
                    kind: FailureKind::ImageMissing,
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
            ItemState::Failed { kind, .. } if opts.retry_failed && !needs_new_input(*kind) => {
                plan.retried_failed += 1;
                plan.to_run.push((index, submit()));
            }
            ItemState::Failed {
                kind,
                message,
                submitted,
                ..
            } => plan.settled.push(settled(ItemResult::Failed {
                kind: (*kind).into(),
                message: message.clone(),
                id: submitted.as_ref().map(|t| t.id.clone()),
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
