//! Key safety, from the simulator's log: never to delivery; to a regional polling host only when
//! allowed; never anywhere near a hostile polling URL.

use crate::common::*;
use bfl_core::GenerationRequest;
use bfl_sim::stats::RequestKind;
use bfl_sim::PollingHost;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regional_polling_host_gets_the_key_only_when_allowed() {
    let mut config = scenario();
    config.polling_host = PollingHost::Regional;
    let server = start(config).await;

    // Not allowed: the key never goes there; the paid task is polled by id at the API host.
    let out = within_deadline(client(&server).generate(GenerationRequest::new("flux-2-pro", "x")))
        .await
        .unwrap();
    assert!(!out.image.is_empty());
    let stats = server.stats();
    assert!(stats
        .requests
        .iter()
        .all(|r| r.host != server.regional_authority()));
    assert!(count(&stats, RequestKind::Poll) > 0);
    assert!(stats
        .requests
        .iter()
        .filter(|r| r.kind == RequestKind::Poll)
        .all(|r| server.base_url().ends_with(r.host.as_str())));

    // Allowed: polled there with the key, downloaded without it.
    let client = builder(&server)
        .allow_key_host(server.regional_authority())
        .build()
        .unwrap();
    within_deadline(client.generate(GenerationRequest::new("flux-2-pro", "y")))
        .await
        .unwrap();
    let stats = server.stats();
    assert_key_safety(&server, &stats);
    let regional: Vec<_> = stats
        .requests
        .iter()
        .filter(|r| r.host == server.regional_authority())
        .collect();
    assert!(!regional.is_empty());
    assert!(regional
        .iter()
        .all(|r| r.key_sent && r.kind == RequestKind::Poll));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_polling_url_never_sees_a_request_and_the_paid_task_still_arrives() {
    let mut config = scenario();
    config.polling_host = PollingHost::Hostile;
    let server = start(config).await;
    let out = within_deadline(client(&server).generate(GenerationRequest::new("flux-2-pro", "x")))
        .await
        .unwrap();
    assert!(!out.image.is_empty(), "a paid image was abandoned");
    assert!(out.ready.task.polling_url.starts_with(&server.base_url()));
    let stats = server.stats();
    assert!(
        stats
            .requests
            .iter()
            .all(|r| r.host != server.hostile_authority()),
        "a request reached the hostile host"
    );
    assert_eq!(stats.counters.keys_sent_to_hostile, 0);
    assert_eq!(stats.counters.accepted, 1, "paid once");
    server.shutdown().await;
}
