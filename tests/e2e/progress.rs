//! `Client::generate_with_progress`: the callback sees the task accepted, every poll the server
//! counted, and the terminal status — without `run_hooked` and `Hooks`.

use crate::common::*;
use bfl_core::api::Status;
use bfl_core::GenerationRequest;
use bfl_core::Progress;
use std::sync::Mutex;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_progress_callback_sees_every_poll_the_server_counted() {
    let server = start(scenario()).await;
    let client = client(&server);
    let seen: Mutex<Vec<Progress>> = Mutex::new(Vec::new());
    let dir = scratch_dir("progress");
    let dest = dir.join("fox.jpeg");
    let out = within_deadline(client.generate_with_progress(
        GenerationRequest::new("flux-2-pro", "a red fox in snow"),
        Some(&dest),
        |p| seen.lock().unwrap().push(p.clone()),
    ))
    .await
    .unwrap();
    let seen = seen.into_inner().unwrap();
    let stats = server.stats();
    let truth = stats
        .tasks
        .iter()
        .find(|t| t.id == out.ready.task.id)
        .expect("the server knows the task");
    let first = seen.first().expect("at least one update");
    assert_eq!(first.task_id.as_deref(), Some(out.ready.task.id.as_str()));
    assert_eq!(first.polls, 0, "the first update is the accepted task");
    let last = seen.last().unwrap();
    assert!(last.terminal);
    assert_eq!(last.status, Some(Status::Ready));
    assert_eq!(
        last.polls, truth.polls,
        "one update per poll the server answered"
    );
    assert!(std::fs::metadata(&dest).unwrap().len() > 0);
    server.shutdown().await;
}
