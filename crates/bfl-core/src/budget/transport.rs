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

    /// The budget.
    pub fn budget(&self) -> &Arc<RequestBudget> {
        &self.budget
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
}
