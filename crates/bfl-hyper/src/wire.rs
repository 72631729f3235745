//! [`Wire`]: the requests themselves over hyper-util's pooled client — a request slot, the
//! exchange, body caps, streaming downloads — with no timeout of its own ([`HyperTransport`]
//! bounds it with [`bfl_core::transport::Timeout`]).
//!
//! [`HyperTransport`]: crate::HyperTransport

use crate::body::read_capped;
use crate::bounded::BoundedConnector;
use crate::error::request_error;
use crate::slots::{RequestSlot, RequestSlots};
use async_trait::async_trait;
use bfl_core::transport::{RequestKind, RequestMeta, Transport, TransportError};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as PooledClient;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;

/// The pooled client the transport sends with.
pub(crate) type Pooled = PooledClient<HttpsConnector<BoundedConnector<HttpConnector>>, Full<Bytes>>;

/// The pooled client, its request slots and the body caps.
#[derive(Clone)]
pub(crate) struct Wire {
    pub(crate) client: Pooled,
    pub(crate) slots: RequestSlots,
    /// The cap on JSON answers (and on any error answer).
    pub(crate) json_body_cap: u64,
    /// The cap on result images.
    pub(crate) image_body_cap: u64,
}

impl Wire {
    /// The body cap for a request of this kind.
    fn cap_for(&self, kind: Option<RequestKind>) -> u64 {
        match kind {
            Some(RequestKind::Download) => self.image_body_cap,
            _ => self.json_body_cap,
        }
    }

    /// Waits for a free request slot (held until the answer's body is read).
    async fn slot(&self) -> Result<RequestSlot, TransportError> {
        self.slots
            .acquire()
            .await
            .ok_or_else(|| TransportError::InvalidRequest("the transport was shut down".into()))
    }

    /// Sends the request head and body; returns the answer with its body still unread.
    async fn start(
        &self,
        req: http::Request<Bytes>,
    ) -> Result<http::Response<Incoming>, TransportError> {
        check_uri(req.uri())?;
        let (parts, body) = req.into_parts();
        let req = http::Request::from_parts(parts, Full::new(body));
        self.client.request(req).await.map_err(request_error)
    }

    /// Sends `req` holding `_slot` and reads the answer's body under `cap`.
    async fn exchange(
        &self,
        req: http::Request<Bytes>,
        kind: Option<RequestKind>,
        cap: u64,
        _slot: RequestSlot,
    ) -> Result<http::Response<Bytes>, TransportError> {
        let resp = self.start(req).await?;
        let (parts, body) = resp.into_parts();
        let bytes = read_capped(&parts.headers, body, cap).await?;
        if kind == Some(RequestKind::Download) && parts.status.is_success() {
            tracing::debug!(bytes = bytes.len(), "downloaded");
        }
        Ok(http::Response::from_parts(parts, bytes))
    }
}

/// Refuses what the pooled client cannot send, before it gets there.
fn check_uri(uri: &http::Uri) -> Result<(), TransportError> {
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(h)) if !h.is_empty() => Ok(()),
        _ => Err(TransportError::InvalidRequest(format!(
            "expected an absolute http(s) URL, got {uri:?}"
        ))),
    }
}

/// What [`Transport::send`] returns (the boxed future `async_trait` makes).
pub(crate) type Sending<'a> =
    Pin<Box<dyn Future<Output = Result<http::Response<Bytes>, TransportError>> + Send + 'a>>;

#[async_trait]
impl Transport for Wire {
    // Written out rather than `async fn`: an `async fn` keeps its argument twice in its state,
    // and a task waiting for a slot would hold the whole request inline; here the future
    // holds it boxed, and the exchange's own state is allocated once a slot is held.
    fn send<'life0, 'async_trait>(&'life0 self, req: http::Request<Bytes>) -> Sending<'async_trait>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        let kind = RequestMeta::of(&req).map(|m| m.kind);
        let cap = self.cap_for(kind);
        let req = Box::new(req);
        Box::pin(async move {
            let slot = self.slot().await?;
            Box::pin(self.exchange(*req, kind, cap, slot)).await
        })
    }

    async fn download_to(
        &self,
        req: http::Request<Bytes>,
        dest: &Path,
    ) -> Result<http::Response<Bytes>, TransportError> {
        let _slot = self.slot().await?;
        let resp = self.start(req).await?;
        let (parts, body) = resp.into_parts();
        if !parts.status.is_success() {
            // An error answer is JSON (or HTML), never an image: read it under the JSON cap.
            let bytes = read_capped(&parts.headers, body, self.json_body_cap).await?;
            return Ok(http::Response::from_parts(parts, bytes));
        }
        let file = crate::download::stream_to_file(&parts.headers, body, dest, self.image_body_cap)
            .await?;
        tracing::debug!(path = %file.path.display(), bytes = file.len, "downloaded");
        let mut parts = parts;
        parts.extensions.insert(file);
        Ok(http::Response::from_parts(parts, Bytes::new()))
    }

    async fn ready(&self) {
        self.slots.ready().await
    }
}
