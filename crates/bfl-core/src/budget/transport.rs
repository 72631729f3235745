//! [`Budgeted`]: a [`Transport`] decorator that takes a grant of a [`RequestBudget`] before
//! each request to a host that may receive the key.

use super::RequestBudget;
use crate::auth::KeyPolicy;
use crate::rt::Runtime;
use crate::transport::{RequestKind, RequestMeta, Transport, TransportError};
use async_trait::async_trait;
use bytes::Bytes;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A request's precedence in the budget's line: a submit (or a credits call, or anything not a
/// poll) is certainly useful — it fills a slot a finished task freed — so it gets the budget's
/// whole head start (`Duration::MAX`, capped by [`BudgetConfig::head_start`]); a poll gets none,
/// so polls are served in the order they fell due (each was due when its strategy's wait ended).
///
/// [`BudgetConfig::head_start`]: super::BudgetConfig::head_start
pub fn precedence_of(meta: Option<RequestMeta>) -> Duration {
    match meta.map(|m| m.kind) {
        Some(RequestKind::Poll) => Duration::ZERO,
        _ => Duration::MAX,
    }
}

/// `inner`, with every request to a host of `key_hosts` (the hosts that may receive the key: the
/// API, its regional polling hosts) first granted by `budget`. Requests to other hosts — result
/// downloads from the delivery host — pass at once and are not counted.
#[derive(Debug)]
pub struct Budgeted {
    inner: Arc<dyn Transport>,
    budget: Arc<RequestBudget>,
    runtime: Arc<dyn Runtime>,
    key_hosts: KeyPolicy,
}

impl Budgeted {
    /// Wraps `inner`.
    pub fn new(
        inner: Arc<dyn Transport>,
        budget: Arc<RequestBudget>,
        runtime: Arc<dyn Runtime>,
        key_hosts: KeyPolicy,
    ) -> Budgeted {
        Budgeted {
            inner,
            budget,
            runtime,
            key_hosts,
        }
    }

    async fn admit(&self, req: &http::Request<Bytes>) {
        if !self.key_hosts.allows(req.uri()) {
            return;
        }
        let meta = RequestMeta::of(req);
        let precedence = precedence_of(meta);
        let waited = self.budget.acquire(&*self.runtime, precedence).await;
        if !waited.is_zero() {
            tracing::debug!(
                kind = meta.map_or("other", |m| m.kind.as_str()),
                waited_ms = waited.as_secs_f64() * 1e3,
                head_start = !precedence.is_zero(),
                "request budget: held back"
            );
        }
    }
}

#[async_trait]
impl Transport for Budgeted {
    async fn send(
        &self,
        req: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        self.admit(&req).await;
        self.inner.send(req).await
    }

    async fn download_to(
        &self,
        req: http::Request<Bytes>,
        dest: &Path,
    ) -> Result<http::Response<Bytes>, TransportError> {
        self.admit(&req).await;
        self.inner.download_to(req, dest).await
    }

    async fn ready(&self) {
        self.inner.ready().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::BudgetConfig;
    use futures_util::FutureExt;
    use std::time::Instant;

    /// A clock that never moves; sleeping never ends.
    struct Frozen(Instant);

    #[async_trait]
    impl Runtime for Frozen {
        fn now(&self) -> Instant {
            self.0
        }
        fn wall_now(&self) -> std::time::SystemTime {
            std::time::SystemTime::UNIX_EPOCH
        }
        async fn sleep_until(&self, _deadline: Instant) {
            std::future::pending::<()>().await
        }
    }

    struct Answers;

    #[async_trait]
    impl Transport for Answers {
        async fn send(
            &self,
            _req: http::Request<Bytes>,
        ) -> Result<http::Response<Bytes>, TransportError> {
            Ok(http::Response::new(Bytes::new()))
        }
    }

    fn request(url: &str, kind: RequestKind) -> http::Request<Bytes> {
        let mut req = http::Request::new(Bytes::new());
        *req.uri_mut() = url.parse().unwrap();
        req.extensions_mut().insert(RequestMeta {
            kind,
            timeout: None,
        });
        req
    }

    #[test]
    fn only_requests_to_key_hosts_spend_the_budget() {
        #[allow(clippy::disallowed_methods)] // an arbitrary, frozen moment
        let now = Instant::now();
        let budget = Arc::new(RequestBudget::new(BudgetConfig::per_second(1.0)).unwrap());
        let t = Budgeted::new(
            Arc::new(Answers),
            Arc::clone(&budget),
            Arc::new(Frozen(now)),
            KeyPolicy::for_base(&"https://api.bfl.ai".parse().unwrap()),
        );
        let poll = "https://api.bfl.ai/v1/get_result?id=1";
        assert!(t
            .send(request(poll, RequestKind::Poll))
            .now_or_never()
            .is_some());
        assert!(
            t.send(request(poll, RequestKind::Poll))
                .now_or_never()
                .is_none(),
            "the second request this second waits"
        );
        let sample = "https://delivery-eu1.bfl.ai/results/x.jpeg";
        assert!(
            t.send(request(sample, RequestKind::Download))
                .now_or_never()
                .is_some(),
            "a download from the delivery host neither counts nor waits"
        );
        assert_eq!(budget.stats().granted, 1);
        assert_eq!(
            budget.stats().waiting,
            0,
            "the dropped request left the line"
        );
    }

    #[test]
    fn submits_have_precedence_and_polls_none() {
        let meta = |kind| {
            Some(RequestMeta {
                kind,
                timeout: Some(Duration::from_secs(1)),
            })
        };
        assert_eq!(precedence_of(meta(RequestKind::Poll)), Duration::ZERO);
        assert_eq!(precedence_of(meta(RequestKind::Submit)), Duration::MAX);
        assert_eq!(precedence_of(meta(RequestKind::Credits)), Duration::MAX);
    }
}
