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

/// A request's precedence in the budget's line.
///
/// Submits, credits and downloads are certainly useful: `Duration::MAX` (the budget caps it).
/// A poll's is its task's age since the server accepted it — `deadline` (the client's, which
/// every task gets afresh at acceptance) less the request's [`RequestMeta::timeout`], the
/// task's remaining deadline. A request without metadata is taken for certainly useful.
pub fn precedence_of(meta: Option<RequestMeta>, deadline: Duration) -> Duration {
    match meta {
        Some(RequestMeta {
            kind: RequestKind::Poll,
            timeout: Some(left),
        }) => deadline.saturating_sub(left),
        Some(RequestMeta {
            kind: RequestKind::Poll,
            timeout: None,
        }) => Duration::ZERO,
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
    deadline: Duration,
}

impl Budgeted {
    /// Wraps `inner`; `deadline` is the tasks' deadline from acceptance (see [`precedence_of`]).
    pub fn new(
        inner: Arc<dyn Transport>,
        budget: Arc<RequestBudget>,
        runtime: Arc<dyn Runtime>,
        key_hosts: KeyPolicy,
        deadline: Duration,
    ) -> Budgeted {
        Budgeted {
            inner,
            budget,
            runtime,
            key_hosts,
            deadline,
        }
    }

    /// The budget.
    pub fn budget(&self) -> &Arc<RequestBudget> {
        &self.budget
    }

    async fn admit(&self, req: &http::Request<Bytes>) {
        if !self.key_hosts.allows(req.uri()) {
            return;
        }
        let meta = RequestMeta::of(req);
        let precedence = precedence_of(meta, self.deadline);
        let waited = self.budget.acquire(&*self.runtime, precedence).await;
        if !waited.is_zero() {
            tracing::debug!(
                kind = meta.map_or("other", |m| m.kind.as_str()),
                waited_ms = waited.as_secs_f64() * 1e3,
                precedence_ms = precedence
                    .min(self.budget.config().precedence_cap())
                    .as_millis() as u64,
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
}
