//! A small webhook receiver: a hyper server that hands every delivery to a
//! [`WebhookRouter`] (which verifies it, dedupes it by task id and wakes the task) and answers
//! `200` at once.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use bfl_hyper::WebhookReceiver;
//! // Listen on every interface; BFL reaches this machine at https://hooks.example.com.
//! let receiver = WebhookReceiver::bind("0.0.0.0:8788".parse()?).await?;
//! let client = bfl_hyper::builder_from_env()?
//!     .webhooks(receiver.router(), "https://hooks.example.com")
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! An app with its own HTTP server mounts no receiver: its route hands the request's headers and
//! raw body to [`WebhookRouter::handle`] and answers 2xx, e.g. in axum
//! `post(|headers: HeaderMap, body: Bytes| async move { router.handle(&headers, &body); "ok" })`.

use bfl_core::webhook::{Delivery, WebhookRouter, DEFAULT_PATH};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The largest delivery body read by default (a delivery is a small JSON object).
pub const DEFAULT_WEBHOOK_BODY_CAP: usize = 256 << 10;

/// How a [`WebhookReceiver`] serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverOptions {
    /// Deliveries are accepted on paths starting with this (default `/bfl/webhook`, what
    /// `ClientBuilder::webhooks` appends to a bare public URL).
    pub path_prefix: String,
    /// The largest body read; a larger one is answered 413 unread.
    pub body_cap: usize,
    /// How long a connection may take to send its request headers.
    pub header_timeout: Duration,
}

impl Default for ReceiverOptions {
    fn default() -> Self {
        ReceiverOptions {
            path_prefix: DEFAULT_PATH.to_owned(),
            body_cap: DEFAULT_WEBHOOK_BODY_CAP,
            header_timeout: Duration::from_secs(10),
        }
    }
}

/// A running receiver. Dropping it without [`WebhookReceiver::shutdown`] leaves it serving
/// until the runtime ends.
#[derive(Debug)]
pub struct WebhookReceiver {
    router: WebhookRouter,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl WebhookReceiver {
    /// Listens on `addr` (port 0: any free port) with a fresh router and default options.
    pub async fn bind(addr: SocketAddr) -> io::Result<WebhookReceiver> {
        WebhookReceiver::bind_with(addr, WebhookRouter::new(), ReceiverOptions::default()).await
    }

    /// Listens on `addr`, handing deliveries to `router`.
    pub async fn bind_with(
        addr: SocketAddr,
        router: WebhookRouter,
        options: ReceiverOptions,
    ) -> io::Result<WebhookReceiver> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let served = Arc::new((router.clone(), options));
        let task = tokio::spawn(accept_loop(listener, served, stopped));
        tracing::info!(%addr, "webhook receiver listening");
        Ok(WebhookReceiver {
            router,
            addr,
            stop,
            task,
        })
    }

    /// The router to give `ClientBuilder::webhooks`.
    pub fn router(&self) -> WebhookRouter {
        self.router.clone()
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<local address>`: the public URL when the API can reach this machine directly
    /// (the simulator on loopback).
    pub fn local_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops listening and drops open connections.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

type Served = Arc<(WebhookRouter, ReceiverOptions)>;

async fn accept_loop(listener: TcpListener, served: Served, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let served = Arc::clone(&served);
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let timeout = served.1.header_timeout;
            let service = service_fn(move |req| answer(Arc::clone(&served), req));
            let conn = http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(timeout)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                _ = stop.changed() => {}
            }
        });
    }
}

async fn answer(
    served: Served,
    req: http::Request<Incoming>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let (router, options) = &*served;
    if !req.uri().path().starts_with(&options.path_prefix) {
        return Ok(reply(404, "not found"));
    }
    if req.method() != http::Method::POST {
        return Ok(reply(405, "POST only"));
    }
    let (parts, body) = req.into_parts();
    let Ok(body) = Limited::new(body, options.body_cap).collect().await else {
        return Ok(reply(413, "body too large or broken"));
    };
    let delivery = router.handle(&parts.headers, &body.to_bytes());
    tracing::debug!(?delivery, "webhook");
    // 2xx whatever the verdict: a sender learns nothing from which check failed.
    Ok(reply(200, verdict_word(&delivery)))
}

fn verdict_word(d: &Delivery) -> &'static str {
    match d {
        Delivery::Accepted { .. } | Delivery::Duplicate | Delivery::NotTerminal => "ok",
        _ => "ignored",
    }
}

fn reply(status: u16, text: &'static str) -> http::Response<Full<Bytes>> {
    let mut r = http::Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    r
}
