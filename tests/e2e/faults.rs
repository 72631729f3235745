//! BENCHMARKS.md S5 (faults) and S6 (hints): each ends in the right typed outcome within the
//! deadline, with request counts bounded — counted by the simulator.

use crate::common::*;
use bfl_core::transport::TransportError;
use bfl_core::{ErrorKind, GenerationRequest, TaskError};
use bfl_sim::stats::RequestKind;
use bfl_sim::{RetryAfter, SimConfig, SimServer, Stats};
use std::time::Duration;

/// Generates `n` images concurrently; returns each result and the server's truth.
async fn run_batch(
    server: &SimServer,
    client: bfl_core::Client,
    n: usize,
) -> (Vec<Result<bfl_core::TaskOutput, TaskError>>, Stats) {
    let runs = (0..n).map(|i| {
        let client = client.clone();
        let req = GenerationRequest::new("flux-2-pro", format!("job {i}")).seed(i as i64);
        async move { client.generate(req).await }
    });
    let results = within_deadline(join_all(runs)).await;
    let stats = server.stats();
    assert_key_safety(server, &stats);
    (results, stats)
}

fn all_ok(results: &[Result<bfl_core::TaskOutput, TaskError>]) {
    for r in results {
        if let Err(e) = r {
            panic!("a task failed: {e}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_5xx_at_1_10_50_percent_all_succeed_with_bounded_polls() {
    for rate in [0.01, 0.1, 0.5] {
        let mut config = scenario();
        config.faults.server_error.poll = rate;
        let server = start(config).await;
        let (results, stats) = run_batch(&server, client(&server), 6).await;
        all_ok(&results);
        assert_no_poll_after_terminal(&stats);
        let polls = count(&stats, RequestKind::Poll);
        // Fault-free, 0.35 s at 50 ms is ≈ 8 polls a task; each 5xx costs one more (and a short
        // backoff), so expect ≈ 8 / (1 - rate) a task, and allow twice that.
        let bound = (6.0 * 2.0 * 9.0 / (1.0 - rate)) as usize;
        assert!(polls <= bound, "{rate}: {polls} polls > {bound}");
        assert_eq!(count(&stats, RequestKind::Submit), 6, "{rate}");
        if rate >= 0.1 {
            assert!(
                stats.counters.server_errors > 0,
                "{rate}: no fault was injected"
            );
        }
        eprintln!(
            "5xx {rate}: polls {polls}, 5xx {}",
            stats.counters.server_errors
        );
        server.shutdown().await;
    }
}

fn brownout(from: f64, to: f64, retry_after: RetryAfter) -> SimConfig {
    let mut config = scenario();
    config.faults.brownouts = vec![(from, to)];
    config.retry_after = retry_after;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_brownout_with_an_accurate_retry_after_is_waited_out() {
    // Every API request gets 503 for the first 0.8 s; the header says how long is left.
    let server = start(brownout(0.0, 0.8, RetryAfter::Accurate)).await;
    let (results, stats) = run_batch(&server, client(&server), 4).await;
    all_ok(&results);
    // Honouring the hint: about one refused submit per job, not a spin.
    let submits = count(&stats, RequestKind::Submit);
    assert!(submits <= 4 * 3, "{submits} submits");
    assert!(stats.counters.server_errors >= 4);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_brownout_mid_poll_is_ridden_out_by_backoff() {
    // 503s from 0.2 s to 0.7 s: the tasks are submitted, then their polls fail for half a second.
    let server = start(brownout(0.2, 0.7, RetryAfter::Absent)).await;
    let (results, stats) = run_batch(&server, client(&server), 4).await;
    all_ok(&results);
    assert_eq!(count(&stats, RequestKind::Submit), 4);
    // Backoff (20 ms doubling to 200 ms) keeps the polls during the brownout to a handful.
    let polls = count(&stats, RequestKind::Poll);
    assert!(polls <= 4 * 20, "{polls} polls");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_brownout_without_hint_gives_up_submitting_with_a_server_error() {
    let server = start(brownout(0.0, 30.0, RetryAfter::Absent)).await;
    let started = tokio::time::Instant::now();
    let err = within_deadline(client(&server).generate(GenerationRequest::new("flux-2-pro", "x")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server, "{err}");
    let submits = count(&server.stats(), RequestKind::Submit);
    let max = fast_retries().max_submit_failures as usize;
    assert!((1..=max + 1).contains(&submits), "{submits} submits");
    assert!(started.elapsed() < Duration::from_secs(3));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latency_spike_under_the_timeout_slows_but_succeeds() {
    // Every answer 30 ms, ×5 = 150 ms while spiked (the whole run), under the 400 ms timeout.
    let mut config = scenario();
    config.faults.latency.base = 0.03;
    config.faults.latency.spike_windows = vec![(0.0, 60.0)];
    config.faults.latency.spike_factor = 5.0;
    let server = start(config).await;
    let (results, stats) = run_batch(&server, client(&server), 4).await;
    all_ok(&results);
    assert_no_poll_after_terminal(&stats);
    assert_eq!(count(&stats, RequestKind::Submit), 4);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spike_over_the_timeout_ends_in_a_transport_timeout() {
    // 100 ms × 5 = 500 ms per answer, over the 400 ms request timeout: nothing gets through.
    let mut config = scenario();
    config.faults.latency.base = 0.1;
    config.faults.latency.spike_windows = vec![(0.0, 60.0)];
    let server = start(config).await;
    let err = within_deadline(client(&server).generate(GenerationRequest::new("flux-2-pro", "x")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    assert_eq!(
        err.transport_error(),
        Some(&bfl_core::transport::TransportError::Timeout(
            REQUEST_TIMEOUT
        ))
    );
    assert_eq!(count(&server.stats(), RequestKind::Submit), 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_polls_time_out_and_are_retried() {
    let mut config = scenario();
    config.faults.hang.poll = 0.3;
    let server = start(config).await;
    let (results, stats) = run_batch(&server, client(&server), 4).await;
    all_ok(&results);
    assert!(stats.counters.hung > 0, "no hang was injected");
    let polls = count(&stats, RequestKind::Poll);
    assert!(polls <= 4 * 30, "{polls} polls");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_submit_ends_in_a_typed_timeout_not_a_hang() {
    let mut config = scenario();
    config.faults.hang.submit = 1.0;
    let server = start(config).await;
    let err = within_deadline(client(&server).submit(GenerationRequest::new("flux-2-pro", "x")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    // Timed out, so it may have reached the server: never sent again.
    assert_eq!(count(&server.stats(), RequestKind::Submit), 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_truncated_polls_are_retried() {
    let mut config = scenario();
    config.faults.malformed.poll = 0.15;
    config.faults.truncated.poll = 0.15;
    let server = start(config).await;
    let (results, stats) = run_batch(&server, client(&server), 6).await;
    all_ok(&results);
    assert!(stats.counters.mangled > 0, "no answer was mangled");
    let polls = count(&stats, RequestKind::Poll);
    assert!(polls <= 6 * 30, "{polls} polls");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_submit_answer_is_not_resubmitted() {
    // The task may exist: a second submit could pay twice.
    let mut config = scenario();
    config.faults.malformed.submit = 1.0;
    let server = start(config).await;
    let err = within_deadline(client(&server).submit(GenerationRequest::new("flux-2-pro", "x")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MalformedResponse, "{err}");
    assert_eq!(count(&server.stats(), RequestKind::Submit), 1);
    server.shutdown().await;
}

/// Ten jobs against a key limit of 2, the client told it may run 10: it learns from 429s.
async fn over_the_limit(retry_after: RetryAfter) -> (Stats, Duration) {
    let mut config = scenario();
    config.limits.default = 2;
    config.retry_after = retry_after;
    let server = start(config).await;
    let client = builder(&server).max_active(10).build().unwrap();
    let started = tokio::time::Instant::now();
    let (results, stats) = run_batch(&server, client, 10).await;
    let elapsed = started.elapsed();
    all_ok(&results);
    assert_no_poll_after_terminal(&stats);
    assert_eq!(stats.counters.accepted, 10);
    eprintln!(
        "Retry-After {retry_after}: {} 429s, {} submits, {elapsed:?}",
        stats.counters.rate_limited,
        count(&stats, RequestKind::Submit)
    );
    server.shutdown().await;
    (stats, elapsed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_present_absent_zero_and_absurd_all_finish_with_bounded_429s() {
    let hints = [
        RetryAfter::Accurate,
        RetryAfter::Absent,
        RetryAfter::Fixed(0),
        RetryAfter::Fixed(1_000_000),
    ];
    // One simulator each, side by side.
    let runs = join_all(hints.map(over_the_limit)).await;
    for (hint, (stats, elapsed)) in hints.into_iter().zip(runs) {
        // Five waves of 0.35 s at best; an absurd hint is clamped to 1 s, not obeyed.
        assert!(elapsed < Duration::from_secs(7), "{hint}: {elapsed:?}");
        // A zero hint is raised to 50 ms: no spin. Bounded well below one 429 per 50 ms per job.
        assert!(
            stats.counters.rate_limited <= 60,
            "{hint}: {:?}",
            stats.counters
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quirks_202_while_pending_and_404_after_submit_are_tolerated() {
    let mut config = scenario();
    config.quirks.accepted_while_pending = true;
    config.quirks.not_found_after_submit_secs = 0.2;
    let server = start(config).await;
    let (results, stats) = run_batch(&server, client(&server), 4).await;
    all_ok(&results);
    assert_no_poll_after_terminal(&stats);
    assert!(stats.requests.iter().any(|r| r.status == 202));
    assert!(stats
        .requests
        .iter()
        .any(|r| r.status == 404 && r.kind == RequestKind::Poll));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_poll_answers_time_out_and_are_polled_again() {
    let mut config = scenario();
    config.faults.lost_answer.poll = 0.3;
    let server = start(config).await;
    let (results, stats) = run_batch(&server, client(&server), 4).await;
    all_ok(&results);
    assert_eq!(stats.tasks.len(), 4);
    let polls = count(&stats, RequestKind::Poll);
    assert!(polls <= 4 * 30, "{polls} polls");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_submit_answers_end_typed_and_the_orphans_are_counted() {
    // A submit processed by the server whose answer never comes: the client cannot know the task
    // exists. Every job still ends (done, or a typed timeout) within the deadline; the tasks the
    // client never heard of are the server's count minus the client's.
    let mut config = scenario();
    config.faults.lost_answer.submit = 0.3;
    let server = start(config).await;
    let (results, stats) = run_batch(&server, client(&server), 8).await;
    let done = results.iter().filter(|r| r.is_ok()).count();
    for r in &results {
        if let Err(e) = r {
            assert_eq!(e.kind(), ErrorKind::Transport, "{e}");
            assert_eq!(
                e.transport_error(),
                Some(&TransportError::Timeout(REQUEST_TIMEOUT))
            );
        }
    }
    // A submit that may have reached the server is never sent again: that could pay twice.
    let submits = count(&stats, RequestKind::Submit);
    assert_eq!(submits, 8);
    let orphans = stats.tasks.len() - done;
    eprintln!(
        "lost submit answers: {done}/8 done, {submits} submits, {} tasks created, {orphans} orphaned",
        stats.tasks.len()
    );
    server.shutdown().await;
}
