#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The webhook receiver on loopback: 200 at once for deliveries (forged ones only counted), 413
//! over the body cap, 405 for other methods, 404 off its path prefix.

use bfl_core::webhook::{WebhookRouter, WebhookSecret};
use bfl_hyper::{ReceiverOptions, WebhookReceiver};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn request(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{head}\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out).await;
    out
}

#[tokio::test]
async fn deliveries_are_answered_at_once_and_only_verified_ones_wake_a_task() {
    let router = WebhookRouter::new();
    let options = ReceiverOptions {
        body_cap: 1024,
        ..ReceiverOptions::default()
    };
    let receiver =
        WebhookReceiver::bind_with("127.0.0.1:0".parse().unwrap(), router.clone(), options)
            .await
            .unwrap();
    let addr = receiver.local_addr();
    let mut inbox = router.expect(WebhookSecret::from_value("right"));
    inbox.bind("t1");
    let body = br#"{"task_id":"t1","status":"SUCCESS"}"#;
    let forged = request(
        addr,
        "POST /bfl/webhook HTTP/1.1\r\nX-Webhook-Secret: wrong",
        body,
    )
    .await;
    assert!(forged.starts_with("HTTP/1.1 200"), "{forged}");
    let good = request(
        addr,
        "POST /bfl/webhook/any HTTP/1.1\r\nX-Webhook-Secret: right",
        body,
    )
    .await;
    assert!(good.starts_with("HTTP/1.1 200"), "{good}");
    let again = request(
        addr,
        "POST /bfl/webhook HTTP/1.1\r\nX-Webhook-Secret: right",
        body,
    )
    .await;
    assert!(again.starts_with("HTTP/1.1 200"), "{again}");
    let big = request(addr, "POST /bfl/webhook HTTP/1.1", &[b' '; 4096]).await;
    assert!(big.starts_with("HTTP/1.1 413"), "{big}");
    let get = request(addr, "GET /bfl/webhook HTTP/1.1", b"").await;
    assert!(get.starts_with("HTTP/1.1 405"), "{get}");
    let elsewhere = request(
        addr,
        "POST /other HTTP/1.1\r\nX-Webhook-Secret: right",
        body,
    )
    .await;
    assert!(elsewhere.starts_with("HTTP/1.1 404"), "{elsewhere}");
    let c = router.counters();
    assert_eq!((c.forged, c.accepted, c.duplicate), (1, 1, 1));
    assert_eq!(inbox.recv().await.status, bfl_core::Status::Ready);
    receiver.shutdown().await;
}
