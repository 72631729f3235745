//! Terminal outcomes other than success, and the answers that carry server detail.

use crate::common::*;
use bfl_core::{ErrorKind, GenerationRequest};
use bfl_sim::stats::{Outcome, RequestKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_and_moderation_end_typed_without_a_download() {
    let server = start(scenario()).await;
    let client = client(&server);
    let cases = [
        ("sim:error", ErrorKind::GenerationFailed, Outcome::Error),
        (
            "sim:request-moderated",
            ErrorKind::RequestModerated,
            Outcome::RequestModerated,
        ),
        (
            "sim:content-moderated",
            ErrorKind::ContentModerated,
            Outcome::ContentModerated,
        ),
    ];
    let runs = cases.iter().map(|(prompt, _, _)| {
        let client = client.clone();
        let req = GenerationRequest::new("flux-2-pro", format!("a cat {prompt}"));
        async move { client.generate(req).await }
    });
    let results = within_deadline(join_all(runs)).await;
    for (res, (prompt, kind, _)) in results.into_iter().zip(cases) {
        let err = res.expect_err(prompt);
        assert_eq!(err.kind(), kind, "{prompt}: {err}");
        assert!(err.task().is_some(), "{prompt}: the task id is kept");
    }
    let stats = server.stats();
    assert_key_safety(&server, &stats);
    assert_no_poll_after_terminal(&stats);
    assert_eq!(count(&stats, RequestKind::Download), 0);
    let mut outcomes: Vec<_> = stats.tasks.iter().map(|t| t.outcome).collect();
    outcomes.sort_by_key(|o| o.status());
    let mut expected: Vec<_> = cases.iter().map(|c| c.2).collect();
    expected.sort_by_key(|o| o.status());
    assert_eq!(outcomes, expected);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_aged_out_tasks_are_task_not_found() {
    // Tasks are forgotten the moment they end: a task polled after its end is not found.
    let mut config = scenario();
    config.retention_secs = 0.0;
    let server = start(config).await;
    let client = builder(&server)
        .strategy(std::sync::Arc::new(bfl_core::strategy::Fixed::every(
            std::time::Duration::from_millis(600),
        )))
        .not_found_grace(std::time::Duration::from_millis(200))
        .build()
        .unwrap();
    let err = within_deadline(client.generate(GenerationRequest::new("flux-2-pro", "a bird")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TaskNotFound, "{err}");

    let url = format!("{}/v1/get_result?id=no-such-task", server.base_url());
    let err = within_deadline(client.resume("no-such-task", url))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TaskNotFound, "{err}");
    let stats = server.stats();
    assert_key_safety(&server, &stats);
    assert!(
        count(&stats, RequestKind::Poll) <= 6,
        "{:?}",
        stats.counters
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_result_url_is_result_expired() {
    // The server's URLs die at `end_time`; the client believes they live a second (so it tries,
    // and must read the refusal as expiry rather than as some other rejection).
    let mut config = scenario();
    config.result_ttl_secs = 0.0;
    let server = start(config).await;
    let client = builder(&server)
        .result_url_lifetime(std::time::Duration::from_secs(1))
        .build()
        .unwrap();
    let err = within_deadline(client.generate(GenerationRequest::new("flux-2-pro", "x")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResultExpired, "{err}");
    assert_eq!(server.stats().counters.expired_downloads, 1);
    let stats = server.stats();
    assert_key_safety(&server, &stats);
    // At most one refused download: an expired URL is not retried.
    assert!(count(&stats, RequestKind::Download) <= 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_402_403_422_carry_the_server_detail_and_are_not_retried() {
    // 402: one credit left, a task costs three.
    let mut config = scenario();
    config.credits = Some(1.0);
    let server = start(config).await;
    let err = within_deadline(client(&server).submit(GenerationRequest::new("flux-2-pro", "x")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InsufficientCredits, "{err}");
    assert!(err.to_string().contains("Insufficient credits"), "{err}");
    assert_eq!(server.stats().counters.submits, 1, "a 402 is never retried");
    server.shutdown().await;

    // 403: a key the server does not know.
    let mut config = scenario();
    config.keys = vec!["bfl_another_key".into()];
    let server = start(config).await;
    let err = within_deadline(client(&server).submit(GenerationRequest::new("flux-2-pro", "x")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.to_string().contains("Not authenticated"), "{err}");
    assert!(
        !err.to_string().contains(KEY),
        "the key never shows in errors"
    );
    assert!(
        !format!("{err:?}").contains(KEY),
        "the key never shows in errors"
    );
    assert_eq!(server.stats().counters.submits, 1, "a 403 is never retried");
    server.shutdown().await;

    // 422: FLUX.2 requires a prompt.
    let server = start(scenario()).await;
    let err =
        within_deadline(client(&server).submit(GenerationRequest::without_prompt("flux-2-pro")))
            .await
            .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation, "{err}");
    let detail = err.detail().unwrap_or_default();
    assert!(detail.contains("prompt"), "{detail}");
    assert_eq!(server.stats().counters.submits, 1, "a 422 is never retried");
    server.shutdown().await;
}
