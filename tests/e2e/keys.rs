//! Key safety, from the simulator's log: never to delivery; to a regional polling host only when
//! allowed; never anywhere near a hostile polling URL.

use crate::common::*;
use bfl_core::{ErrorKind, GenerationRequest};
use bfl_sim::stats::RequestKind;
use bfl_sim::PollingHost;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regional_polling_host_gets_the_key_only_when_allowed() {
    let mut config = scenario();
    config.polling_host = PollingHost::Regional;
    let server = start(config).await;

    // Not allowed: refused before any poll is sent.
    let err = within_deadline(client(&server).generate(GenerationRequest::new("flux-2-pro", "x")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ForeignPollingUrl, "{err}");
    let stats = server.stats();
    assert_eq!(count(&stats, RequestKind::Poll), 0);

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
async fn a_hostile_polling_url_is_refused_before_any_request_reaches_it() {
    let mut config = scenario();
    config.polling_host = PollingHost::Hostile;
    let server = start(config).await;
    let err = within_deadline(client(&server).generate(GenerationRequest::new("flux-2-pro", "x")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ForeignPollingUrl, "{err}");
    // The task id is kept (paid work is not forgotten), the key is not in the message.
    assert!(err.task().is_some() || err.to_string().contains("get_result"));
    assert!(!err.to_string().contains(KEY));
    let stats = server.stats();
    assert!(
        stats
            .requests
            .iter()
            .all(|r| r.host != server.hostile_authority()),
        "a request reached the hostile host"
    );
    assert_eq!(stats.counters.keys_sent_to_hostile, 0);
    server.shutdown().await;
}
