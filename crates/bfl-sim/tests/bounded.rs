#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The HTTP face under abuse: every bound holds and is visible in the ground truth.

use bfl_core::dist::DurationDist;
use bfl_sim::http::{Bounds, ServerOptions};
use bfl_sim::{HttpLoad, Role, Sim, SimConfig, SimRequest, SimServer};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod common;
use common::raw;

async fn start(bounds: Bounds) -> SimServer {
    let mut cfg = SimConfig::default();
    cfg.durations.insert("*".into(), DurationDist::Fixed(0.3));
    let opts = ServerOptions {
        bounds,
        ..ServerOptions::default()
    };
    SimServer::start_with(cfg, opts).await.unwrap()
}

fn load(server: &SimServer) -> HttpLoad {
    server.stats().http.unwrap()
}

/// Waits until `f` holds of the server's load (the server works on its own tasks).
async fn eventually(server: &SimServer, f: impl Fn(&HttpLoad) -> bool) -> HttpLoad {
    for _ in 0..200 {
        let l = load(server);
        if f(&l) {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    load(server)
}

/// Reads until the server closes the connection (or 5 s pass): what it sent.
async fn until_closed(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf))
        .await
        .ok()
        .map(|_| buf)
}

#[tokio::test]
async fn connections_over_the_limit_are_closed_at_accept() {
    let server = start(Bounds {
        max_connections: 2,
        ..Bounds::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(TcpStream::connect(server.api_authority()).await.unwrap());
    }
    assert_eq!(
        eventually(&server, |l| l.open_connections == 2)
            .await
            .open_connections,
        2
    );
    let mut third = TcpStream::connect(server.api_authority()).await.unwrap();
    let _ = third
        .write_all(b"GET /v1/credits HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert_eq!(
        until_closed(&mut third).await,
        Some(Vec::new()),
        "closed unanswered"
    );
    let l = load(&server);
    assert_eq!(
        (l.open_connections, l.max_connections, l.connections_refused),
        (2, 2, 1)
    );
    // A slot frees when a connection ends.
    drop(held.pop());
    eventually(&server, |l| l.open_connections == 1).await;
    let ok = raw(
        "GET",
        &format!("{}/v1/credits", server.base_url()),
        Some("bfl_k"),
        "",
    )
    .await;
    assert_eq!(ok.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn slow_headers_are_cut_off() {
    let server = start(Bounds {
        header_read_timeout: Duration::from_millis(300),
        ..Bounds::default()
    })
    .await;
    let mut slow = TcpStream::connect(server.api_authority()).await.unwrap();
    slow.write_all(b"GET /v1/credits HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let sent = until_closed(&mut slow)
        .await
        .expect("the server must close it");
    // hyper answers a header timeout with 408 or just closes; either way nothing is served.
    assert!(
        sent.is_empty() || sent.starts_with(b"HTTP/1.1 408"),
        "{sent:?}"
    );
    let l = eventually(&server, |l| l.header_timeouts == 1).await;
    assert_eq!((l.header_timeouts, l.open_connections), (1, 0));
    assert_eq!(server.stats().counters.requests, 0);
    server.shutdown().await;
}

#[tokio::test]
async fn request_bodies_share_one_budget() {
    let server = start(Bounds {
        body_budget: 1000,
        ..Bounds::default()
    })
    .await;
    let url = format!("{}/v1/flux-2-pro", server.base_url());
    // One client sends 800 of a 900-byte body and stalls: those bytes are held.
    let mut stalled = TcpStream::connect(server.api_authority()).await.unwrap();
    let head =
        "POST /v1/flux-2-pro HTTP/1.1\r\nHost: x\r\nx-key: bfl_k\r\nContent-Length: 900\r\n\r\n";
    stalled.write_all(head.as_bytes()).await.unwrap();
    let body = format!(r#"{{"prompt": "{}"}}"#, "a".repeat(900 - 14));
    stalled.write_all(&body.as_bytes()[..800]).await.unwrap();
    let l = eventually(&server, |l| l.body_bytes_in_flight == 800).await;
    assert_eq!(l.body_bytes_in_flight, 800);
    // Another 300-byte body does not fit: 503, retryable, nothing processed.
    let other = format!(r#"{{"prompt": "{}"}}"#, "b".repeat(300 - 14));
    let refused = raw("POST", &url, Some("bfl_k"), &other).await;
    assert_eq!(
        (refused.status, refused.header("retry-after")),
        (503, Some("1"))
    );
    assert_eq!(load(&server).bodies_refused, 1);
    assert_eq!(server.stats().counters.requests, 0);
    // The stalled body completes and is served; then the budget is free again.
    stalled.write_all(&body.as_bytes()[800..]).await.unwrap();
    let mut answer = [0u8; 12];
    stalled.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    eventually(&server, |l| l.body_bytes_in_flight == 0).await;
    assert_eq!(raw("POST", &url, Some("bfl_k"), &other).await.status, 200);
    assert_eq!(server.stats().counters.accepted, 2);
    server.shutdown().await;
}

#[test]
fn the_request_log_is_a_ring_with_its_cap_in_the_stats() {
    let cfg = SimConfig {
        request_log_cap: 5,
        ..SimConfig::default()
    };
    let mut sim = Sim::new(cfg, bfl_sim::Hosts::virtual_names());
    for i in 0..8 {
        let q = format!("id=task-{i}");
        let req = SimRequest {
            role: Role::Api,
            method: "GET",
            path: "/v1/get_result",
            query: Some(&q),
            key: Some("bfl_k"),
            body: b"",
        };
        sim.handle(f64::from(i), &req);
    }
    let stats = sim.stats(8.0);
    assert_eq!(stats.counters.requests, 8);
    assert_eq!(
        (
            stats.request_log.cap,
            stats.request_log.kept,
            stats.request_log.dropped
        ),
        (5, 5, 3)
    );
    let kept: Vec<&str> = stats.requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(kept.first(), Some(&"/v1/get_result?id=task-3"));
    assert_eq!(kept.last(), Some(&"/v1/get_result?id=task-7"));
    let json = serde_json::to_value(&stats).unwrap();
    assert_eq!(json["request_log"]["cap"], 5);
}
