//! Shared set-up: a fast scenario, a fast client, bounded runs.

use bfl_core::dist::DurationDist;
use bfl_core::strategy::Fixed;
use bfl_core::RetryPolicy;
use bfl_core::{Client, ClientBuilder};
use bfl_hyper::{HyperTransport, TokioRuntime};
use bfl_sim::{SimConfig, SimServer, Stats};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The key every test client sends.
pub(crate) const KEY: &str = "bfl_e2e_secret_key";
/// Every task's deadline: each test must end well inside it.
pub(crate) const DEADLINE: Duration = Duration::from_secs(8);
/// The poll interval of the test strategy.
pub(crate) const POLL_EVERY: Duration = Duration::from_millis(50);
/// The transport's own whole-request timeout (a hung request ends here).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_millis(400);

/// A scenario of short generations (0.3 s after a 0.05 s queue), small images, seed 7.
pub(crate) fn scenario() -> SimConfig {
    let mut c = SimConfig {
        seed: 7,
        queue_delay: DurationDist::Fixed(0.05),
        // Thumbnails: a full-size image takes longer to encode in a debug build than the
        // 400 ms request timeout allows.
        image_max_side: 64,
        ..SimConfig::default()
    };
    c.durations.insert("*".into(), DurationDist::Fixed(0.3));
    c
}

/// Retries scaled down to the scenario's durations; server hints clamped to [50 ms, 1 s].
pub(crate) fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(200),
        min_hint: Duration::from_millis(50),
        max_hint: Duration::from_secs(1),
        ..RetryPolicy::default()
    }
}

/// A client builder aimed at `server`: real transport, tokio runtime, 50 ms polls.
pub(crate) fn builder(server: &SimServer) -> ClientBuilder {
    let transport = HyperTransport::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    Client::builder()
        .api_key(KEY)
        .base_url(server.base_url())
        .transport(Arc::new(transport))
        .runtime(Arc::new(TokioRuntime::new()))
        .strategy(Arc::new(Fixed::every(POLL_EVERY)))
        .retry_policy(fast_retries())
        .deadline(DEADLINE)
        .seed(11)
}

/// A client for `server` whose requests may take 5 s: for tests that count requests on a
/// healthy server, where a loaded machine must not turn a slow answer into a retry.
pub(crate) fn unhurried_client(server: &SimServer) -> Client {
    let transport = HyperTransport::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    builder(server)
        .transport(Arc::new(transport))
        .build()
        .unwrap()
}

/// A client for `server` with the defaults above.
pub(crate) fn client(server: &SimServer) -> Client {
    builder(server).build().unwrap()
}

/// Starts a simulator.
pub(crate) async fn start(config: SimConfig) -> SimServer {
    SimServer::start(config).await.unwrap()
}

/// Runs `fut`, failing the test if it outlives the deadline (plus slack for the last request).
pub(crate) async fn within_deadline<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE + Duration::from_secs(2), fut)
        .await
        .expect("a task outlived its deadline")
}

/// A fresh directory under the system's temp dir.
pub(crate) fn scratch_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "bfl-e2e-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Key safety, from the server's log: the key went with every API request and with none to the
/// delivery or hostile hosts.
pub(crate) fn assert_key_safety(server: &SimServer, stats: &Stats) {
    let c = &stats.counters;
    assert_eq!(c.keys_sent_to_delivery, 0, "key sent to the delivery host");
    assert_eq!(c.keys_sent_to_hostile, 0, "key sent to a hostile host");
    for r in &stats.requests {
        if r.host == server.delivery_authority() || r.host == server.hostile_authority() {
            assert!(!r.key_sent, "key sent with {r:?}");
        }
        if r.host == server.api_authority() {
            assert!(r.key_sent, "API request without the key: {r:?}");
        }
    }
}

/// No task was polled after an answer showed it terminal (needs well-formed terminal answers).
pub(crate) fn assert_no_poll_after_terminal(stats: &Stats) {
    for t in &stats.tasks {
        assert_eq!(
            t.polls_after_terminal, 0,
            "task polled after terminal: {t:?}"
        );
    }
}

/// Counts requests of a kind in the server's log.
pub(crate) fn count(stats: &Stats, kind: bfl_sim::stats::RequestKind) -> usize {
    stats.requests.iter().filter(|r| r.kind == kind).count()
}

/// Runs futures concurrently on the runtime's workers; answers in input order.
pub(crate) async fn join_all<F>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
