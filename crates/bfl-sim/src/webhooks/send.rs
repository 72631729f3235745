//! Sending deliveries: to an in-process [`WebhookSink`] (virtual time, no sockets) or over HTTP.

use super::{WebhookDelivery, SECRET_HEADER};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// A receiver inside the process, for the virtual-time face: gets each delivery's headers and
/// body and answers an HTTP status.
pub trait WebhookSink: Send + Sync + std::fmt::Debug {
    /// Handles one delivery POSTed to `url`.
    fn deliver(&self, url: &str, headers: &http::HeaderMap, body: &[u8]) -> u16;
}

/// bfl-core's router is a sink: it answers 200 to everything, as a receiver should.
impl WebhookSink for bfl_core::webhook::WebhookRouter {
    fn deliver(&self, _url: &str, headers: &http::HeaderMap, body: &[u8]) -> u16 {
        self.handle(headers, body);
        200
    }
}

/// The headers of a delivery.
pub fn headers(delivery: &WebhookDelivery) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = http::HeaderValue::from_str(&delivery.secret) {
        h.insert(SECRET_HEADER, v);
    }
    h
}

/// A plain-HTTP client for deliveries (receivers in tests listen on loopback).
pub type HttpSender = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// A new sender.
pub fn http_sender() -> HttpSender {
    Client::builder(TokioExecutor::new()).build_http()
}

/// POSTs one delivery; its answer's status, or `None` if the receiver refused, failed or did
/// not answer within `timeout`.
pub async fn post(
    sender: &HttpSender,
    delivery: &WebhookDelivery,
    timeout: Duration,
) -> Option<u16> {
    let mut req = http::Request::new(Full::new(delivery.body.clone()));
    *req.method_mut() = http::Method::POST;
    *req.uri_mut() = delivery.url.parse().ok()?;
    *req.headers_mut() = headers(delivery);
    let resp = tokio::time::timeout(timeout, sender.request(req))
        .await
        .ok()?
        .ok()?;
    Some(resp.status().as_u16())
}
