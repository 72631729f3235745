//! [`HyperTransport`]: the engine's requests over hyper-util's pooled client and rustls.

use crate::body::read_capped;
use crate::bounded::BoundedConnector;
use crate::error::request_error;
use crate::slots::{RequestSlot, RequestSlots};
use async_trait::async_trait;
use bfl_core::transport::{RequestKind, RequestMeta, Transport, TransportError};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as PooledClient;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

/// The default whole-request timeout (connect, headers and body).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The default TCP connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default cap on JSON answers (submit, poll, credits, error bodies): 1 MiB.
pub const DEFAULT_JSON_BODY_CAP: u64 = 1024 * 1024;
/// The default cap on result images: 64 MiB.
pub const DEFAULT_IMAGE_BODY_CAP: u64 = 64 * 1024 * 1024;
/// How long an idle pooled connection is kept.
pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// The default bound on requests in flight at once (and so on open connections over HTTP/1.1).
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 256;

/// Why a [`HyperTransport`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportBuildError {
    /// rustls refused the TLS configuration.
    #[error("TLS configuration: {0}")]
    Tls(String),
}

/// Settings of a [`HyperTransport`]; get one from [`HyperTransport::builder`].
#[derive(Debug, Clone)]
pub struct HyperTransportBuilder {
    timeout: Duration,
    connect_timeout: Duration,
    json_body_cap: u64,
    image_body_cap: u64,
    pool_idle_timeout: Duration,
    pool_max_idle_per_host: usize,
    max_concurrent_requests: usize,
}

impl Default for HyperTransportBuilder {
    fn default() -> Self {
        HyperTransportBuilder {
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            json_body_cap: DEFAULT_JSON_BODY_CAP,
            image_body_cap: DEFAULT_IMAGE_BODY_CAP,
            pool_idle_timeout: DEFAULT_POOL_IDLE_TIMEOUT,
            pool_max_idle_per_host: usize::MAX,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
        }
    }
}

impl HyperTransportBuilder {
    /// The most one request may take, body included (default 30 s). A request whose task has less
    /// deadline left gets that instead.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }
    /// The most a TCP connect may take (default 10 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }
    /// The largest JSON answer accepted, in bytes (default 1 MiB).
    pub fn json_body_cap(mut self, bytes: u64) -> Self {
        self.json_body_cap = bytes;
        self
    }
    /// The largest image accepted, in bytes (default 64 MiB).
    pub fn image_body_cap(mut self, bytes: u64) -> Self {
        self.image_body_cap = bytes;
        self
    }
    /// How long an idle pooled connection is kept (default 90 s).
    pub fn pool_idle_timeout(mut self, d: Duration) -> Self {
        self.pool_idle_timeout = d;
        self
    }
    /// The most idle connections kept per host (default unbounded).
    pub fn pool_max_idle_per_host(mut self, n: usize) -> Self {
        self.pool_max_idle_per_host = n;
        self
    }

    /// The most requests in flight at once, and the most connections open at once (default 256;
    /// at least 1): the sockets — and file descriptors — ten thousand polling tasks can open.
    /// A request waits for a free slot, a connect for a socket to close, and the waits count
    /// toward the request's timeout. The client's driver waits for a free slot
    /// ([`Transport::ready`]) before it builds a task's first request and each after a wait,
    /// so tasks queued here hold no request.
    pub fn max_concurrent_requests(mut self, n: usize) -> Self {
        self.max_concurrent_requests = n.max(1);
        self
    }

    /// Builds the transport: rustls with the `ring` provider and webpki roots, `http` and
    /// `https`, HTTP/1.1 and HTTP/2 (by ALPN), pooled connections. Must be called inside a tokio
    /// runtime's context only when requests are sent, not to build.
    pub fn build(self) -> Result<HyperTransport, TransportBuildError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(self.connect_timeout));
        let https = HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| TransportBuildError::Tls(e.to_string()))?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(BoundedConnector::new(http, self.max_concurrent_requests));
        let client = PooledClient::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(self.pool_idle_timeout)
            .pool_max_idle_per_host(self.pool_max_idle_per_host)
            .build(https);
        Ok(HyperTransport {
            client,
            slots: RequestSlots::new(self.max_concurrent_requests),
            settings: self,
        })
    }
}

/// The real transport: hyper 1 over hyper-util's pooled client, TLS by rustls (`ring`, webpki
/// roots; no C toolchain needed).
///
/// Every request is bounded as a whole — connect, headers and body — by the smaller of the
/// configured timeout and the task's remaining deadline ([`RequestMeta::timeout`]); a hung server
/// ends in [`TransportError::Timeout`]. Bodies are read under a cap (JSON or image, by
/// [`RequestKind`]) and a larger one ends in [`TransportError::BodyTooLarge`] without buffering it.
/// [`Transport::download_to`] streams the image to a temporary file beside its destination,
/// syncs it and renames it into place.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use bfl_hyper::{HyperTransport, TokioRuntime};
///
/// let transport = HyperTransport::builder().timeout(Duration::from_secs(20)).build()?;
/// let client = bfl_core::Client::builder()
///     .api_key(std::env::var("BFL_API_KEY")?)
///     .transport(Arc::new(transport))
///     .runtime(Arc::new(TokioRuntime::new()))
///     .build()?;
/// let req = bfl_core::GenerationRequest::new("flux-2-pro", "a lighthouse at dusk");
/// let out = client.generate_to_file(req, std::path::Path::new("lighthouse.jpeg")).await?;
/// println!("task {} done", out.ready.task.id);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HyperTransport {
    client: PooledClient<HttpsConnector<BoundedConnector<HttpConnector>>, Full<Bytes>>,
    slots: RequestSlots,
    settings: HyperTransportBuilder,
}

impl std::fmt::Debug for HyperTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HyperTransport")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl HyperTransport {
    /// A builder with the defaults (30 s timeout, 10 s connect, 1 MiB JSON, 64 MiB images).
    pub fn builder() -> HyperTransportBuilder {
        HyperTransportBuilder::default()
    }

    /// A transport with the default settings.
    pub fn new() -> Result<HyperTransport, TransportBuildError> {
        HyperTransport::builder().build()
    }

    /// The body cap for a request of this kind.
    fn cap_for(&self, kind: Option<RequestKind>) -> u64 {
        match kind {
            Some(RequestKind::Download) => self.settings.image_body_cap,
            _ => self.settings.json_body_cap,
        }
    }

    /// The whole-request timeout: the configured one, shortened to the task's remaining deadline.
    fn timeout_for(&self, meta: Option<RequestMeta>) -> Duration {
        match meta.and_then(|m| m.timeout) {
            Some(t) => t.min(self.settings.timeout),
            None => self.settings.timeout,
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
}

impl HyperTransport {
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

/// Runs `fut` under `limit`, turning expiry into [`TransportError::Timeout`]. (Not an `async
/// fn`, which would keep `fut` twice in its state.)
pub(crate) fn within<T>(
    limit: Duration,
    fut: impl Future<Output = Result<T, TransportError>>,
) -> impl Future<Output = Result<T, TransportError>> {
    let timed = tokio::time::timeout(limit, fut);
    async move {
        match timed.await {
            Ok(r) => r,
            Err(_) => Err(TransportError::Timeout(limit)),
        }
    }
}

/// What [`Transport::send`] returns (the boxed future `async_trait` makes).
type Sending<'a> =
    Pin<Box<dyn Future<Output = Result<http::Response<Bytes>, TransportError>> + Send + 'a>>;

#[async_trait]
impl Transport for HyperTransport {
    // Written out rather than `async fn`: an `async fn` keeps its argument twice in its state,
    // and a task waiting for a slot would hold the whole request inline; here the future
    // holds it boxed, and the exchange's own state is allocated once a slot is held.
    fn send<'life0, 'async_trait>(&'life0 self, req: http::Request<Bytes>) -> Sending<'async_trait>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        let meta = RequestMeta::of(&req);
        let kind = meta.map(|m| m.kind);
        let cap = self.cap_for(kind);
        let limit = self.timeout_for(meta);
        let req = Box::new(req);
        Box::pin(within(limit, async move {
            let slot = self.slot().await?;
            Box::pin(self.exchange(*req, kind, cap, slot)).await
        }))
    }

    async fn download_to(
        &self,
        req: http::Request<Bytes>,
        dest: &Path,
    ) -> Result<http::Response<Bytes>, TransportError> {
        let meta = RequestMeta::of(&req);
        let limit = self.timeout_for(meta);
        let image_cap = self.settings.image_body_cap;
        let json_cap = self.settings.json_body_cap;
        within(limit, async {
            let _slot = self.slot().await?;
            let resp = self.start(req).await?;
            let (parts, body) = resp.into_parts();
            if !parts.status.is_success() {
                // An error answer is JSON (or HTML), never an image: read it under the JSON cap.
                let bytes = read_capped(&parts.headers, body, json_cap).await?;
                return Ok(http::Response::from_parts(parts, bytes));
            }
            let file =
                crate::download::stream_to_file(&parts.headers, body, dest, image_cap).await?;
            tracing::debug!(path = %file.path.display(), bytes = file.len, "downloaded");
            let mut parts = parts;
            parts.extensions.insert(file);
            Ok(http::Response::from_parts(parts, Bytes::new()))
        })
        .await
    }

    async fn ready(&self) {
        self.slots.ready().await
    }
}
