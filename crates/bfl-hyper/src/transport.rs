//! [`HyperTransport`]: the engine's requests over hyper-util's pooled client and rustls.

use crate::bounded::BoundedConnector;
use crate::slots::RequestSlots;
use crate::wire::{Sending, Wire};
use crate::TokioRuntime;
use async_trait::async_trait;
use bfl_core::transport::{Timeout, Transport};
use bytes::Bytes;
use hyper_rustls::HttpsConnectorBuilder;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as PooledClient;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
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
/// The default bound on requests in flight at once, and on connections open to each host.
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

    /// The most requests in flight at once, and the most connections open at once to each host
    /// (default 256; at least 1): the sockets — and file descriptors — ten thousand polling
    /// tasks can open. A request waits for a free slot, a connect for a socket to its host to
    /// close, and the waits count toward the request's timeout. The socket bound is per host
    /// (scheme and authority) because an idle pooled connection keeps its place until the pool
    /// drops it ([`pool_idle_timeout`](Self::pool_idle_timeout)): warm sockets to the API host
    /// never keep a download from the delivery host waiting; in all, at most `n` sockets to
    /// each host in use. The client's driver waits for a free slot
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
        let wire = Wire {
            client,
            slots: RequestSlots::new(self.max_concurrent_requests),
            json_body_cap: self.json_body_cap,
            image_body_cap: self.image_body_cap,
        };
        Ok(HyperTransport {
            timed: Timeout::new(wire, Arc::new(TokioRuntime::new()), self.timeout),
            settings: self,
        })
    }
}

/// The real transport: hyper 1 over hyper-util's pooled client, TLS by rustls (`ring`, webpki
/// roots; no C toolchain needed).
///
/// Every request is bounded as a whole — the wait for a request slot, connect, headers and body
/// — by the smaller of the configured timeout and the task's remaining deadline
/// ([`RequestMeta::timeout`](bfl_core::transport::RequestMeta::timeout)), through
/// [`bfl_core::transport::Timeout`] on tokio's clock; a hung server ends in
/// [`TransportError::Timeout`](bfl_core::transport::TransportError::Timeout). Bodies are read
/// under a cap (JSON or image, by [`RequestKind`](bfl_core::transport::RequestKind)) and a larger
/// one ends in [`TransportError::BodyTooLarge`](bfl_core::transport::TransportError::BodyTooLarge)
/// without buffering it. [`Transport::download_to`] streams the image to a temporary file beside
/// its destination, syncs it and renames it into place.
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
    timed: Timeout<Wire>,
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
}

/// What [`Transport::ready`] returns (the boxed future `async_trait` makes).
type Readying<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

// Each method hands over the decorator's own future (no second box around it).
#[async_trait]
impl Transport for HyperTransport {
    fn send<'life0, 'async_trait>(&'life0 self, req: http::Request<Bytes>) -> Sending<'async_trait>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        self.timed.send(req)
    }

    fn download_to<'life0, 'life1, 'async_trait>(
        &'life0 self,
        req: http::Request<Bytes>,
        dest: &'life1 Path,
    ) -> Sending<'async_trait>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.timed.download_to(req, dest)
    }

    fn ready<'life0, 'async_trait>(&'life0 self) -> Readying<'async_trait>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        self.timed.ready()
    }
}
