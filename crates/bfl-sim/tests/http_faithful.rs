#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::field_reassign_with_default
)]
//! The HTTP face spoken to in raw HTTP/1.1 over TCP (not through bfl-core), comparing every
//! answer's shape field by field with `shared/bfl-api.md`.

use bfl_sim::{DurationModel, PollingHost, SimConfig, SimServer};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request on a fresh connection: `url` is absolute (`http://host:port/path?query`).
async fn raw(method: &str, url: &str, key: Option<&str>, body: &str) -> Answer {
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = TcpStream::connect(authority).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    if let Some(k) = key {
        req.push_str(&format!("x-key: {k}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(buf[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    Answer {
        status,
        headers,
        body: buf[split + 4..].to_vec(),
    }
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

fn quick() -> SimConfig {
    let mut c = SimConfig::default();
    c.durations.insert("*".into(), DurationModel::Fixed(0.3));
    c.queue_delay = DurationModel::Fixed(0.0);
    c
}

#[tokio::test]
async fn submit_poll_download_shapes_match_the_api() {
    let mut cfg = quick();
    cfg.result_ttl_secs = 1.0;
    let server = SimServer::start(cfg).await.unwrap();
    let base = server.base_url();

    let sub = raw(
        "POST",
        &format!("{base}/v1/flux-2-pro"),
        Some("bfl_k"),
        r#"{"prompt": "a red fox", "seed": 42, "novel_field": 1}"#,
    )
    .await;
    assert_eq!(sub.status, 200);
    assert_eq!(sub.header("content-type"), Some("application/json"));
    let s = sub.json();
    assert_eq!(
        keys(&s),
        BTreeSet::from(["id", "polling_url", "cost", "input_mp", "output_mp"])
    );
    let id = s["id"].as_str().unwrap();
    assert_eq!(id.len(), 36);
    assert_eq!(id.matches('-').count(), 4);
    let polling_url = s["polling_url"].as_str().unwrap();
    assert_eq!(polling_url, format!("{base}/v1/get_result?id={id}"));
    assert!(s["cost"].is_f64() && s["input_mp"].is_f64() && s["output_mp"].is_f64());

    let pending = raw("GET", polling_url, Some("bfl_k"), "").await;
    assert_eq!(pending.status, 200);
    let p = pending.json();
    assert_eq!(
        keys(&p),
        BTreeSet::from(["id", "status", "result", "progress", "details", "preview"])
    );
    assert_eq!(p["id"], id);
    assert_eq!(p["status"], "Pending");
    assert!(p["result"].is_null() && p["details"].is_null() && p["preview"].is_null());
    assert!(p["progress"].is_null() || (0.0..=1.0).contains(&p["progress"].as_f64().unwrap()));

    tokio::time::sleep(Duration::from_millis(350)).await;
    let ready = raw("GET", polling_url, Some("bfl_k"), "").await.json();
    assert_eq!(
        keys(&ready),
        BTreeSet::from(["id", "status", "result", "progress", "details", "preview"])
    );
    assert_eq!(ready["status"], "Ready");
    assert!(ready["progress"].is_null());
    let r = &ready["result"];
    assert_eq!(
        keys(r),
        BTreeSet::from([
            "sample",
            "prompt",
            "seed",
            "start_time",
            "end_time",
            "duration"
        ])
    );
    assert_eq!(r["seed"], 42);
    assert_eq!(r["prompt"], "a red fox");
    let (start, end) = (
        r["start_time"].as_f64().unwrap(),
        r["end_time"].as_f64().unwrap(),
    );
    assert!(start > 1.7e9 && end > start);
    assert!((r["duration"].as_f64().unwrap() - (end - start)).abs() < 1e-3);
    let version = id.split('-').nth(2).unwrap();
    assert!(version.starts_with('4'));
    assert!("89ab".contains(&id[19..20]), "{id}");
    let sample = r["sample"].as_str().unwrap();
    let delivery = format!(
        "http://{}/results/{id}/sample.jpeg?se=",
        server.delivery_authority()
    );
    assert!(sample.starts_with(&delivery), "{sample}");

    let img = raw("GET", sample, None, "").await;
    assert_eq!(img.status, 200);
    assert_eq!(img.header("content-type"), Some("image/jpeg"));
    assert!(img.body.starts_with(b"\xff\xd8\xff") && img.body.ends_with(b"\xff\xd9"));

    tokio::time::sleep(Duration::from_millis(1600)).await;
    let expired = raw("GET", sample, None, "").await;
    assert_eq!(expired.status, 403);
    assert!(String::from_utf8_lossy(&expired.body).contains("AuthenticationFailed"));

    let stats = raw("GET", &format!("{base}/__sim/stats"), None, "")
        .await
        .json();
    let task = &stats["tasks"][0];
    assert_eq!(task["id"], id);
    assert!(task["first_ready_poll_at"].as_f64().unwrap() >= task["ready_at"].as_f64().unwrap());
    assert!(task["downloaded_at"].is_f64());
    let requests = stats["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 5);
    assert_eq!(requests[0]["method"], "POST");
    assert_eq!(requests[0]["path"], "/v1/flux-2-pro");
    assert_eq!(requests[0]["host"], server.api_authority());
    assert_eq!(requests[3]["host"], server.delivery_authority());
    assert_eq!(requests[3]["key_sent"], false);
    assert_eq!(stats["counters"]["expired_downloads"], 1);
    server.shutdown().await;
}

#[tokio::test]
async fn error_bodies_match_the_api() {
    let mut cfg = quick();
    cfg.keys = vec!["bfl_good".into()];
    cfg.limits.default = 1;
    cfg.retry_after = bfl_sim::RetryAfter::Accurate;
    let server = SimServer::start(cfg).await.unwrap();
    let base = server.base_url();
    let url = format!("{base}/v1/flux-2-pro");

    for key in [None, Some("bfl_bad")] {
        let a = raw("POST", &url, key, r#"{"prompt": "x"}"#).await;
        assert_eq!(a.status, 403);
        assert_eq!(
            a.json(),
            serde_json::json!({"detail": "Not authenticated - Invalid Authentication"})
        );
    }
    let a = raw(
        "POST",
        &url,
        Some("bfl_good"),
        r#"{"prompt": 7, "width": 10}"#,
    )
    .await;
    assert_eq!(a.status, 422);
    let d = a.json();
    assert_eq!(keys(&d), BTreeSet::from(["detail"]));
    for item in d["detail"].as_array().unwrap() {
        assert_eq!(item["loc"][0], "body");
        assert!(item["msg"].is_string() && item["type"].is_string());
    }
    assert_eq!(
        raw("POST", &url, Some("bfl_good"), r#"{"prompt": "x"}"#)
            .await
            .status,
        200
    );
    let limited = raw("POST", &url, Some("bfl_good"), r#"{"prompt": "x"}"#).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), Some("1"));
    assert!(limited.json()["detail"].is_string());

    let credits = raw("GET", &format!("{base}/v1/credits"), Some("bfl_good"), "")
        .await
        .json();
    assert_eq!(keys(&credits), BTreeSet::from(["credits"]));
    assert!(credits["credits"].is_f64());
    assert_eq!(
        raw("GET", &format!("{base}/v2/nothing"), Some("bfl_good"), "")
            .await
            .status,
        404
    );
    server.shutdown().await;
}

#[tokio::test]
async fn regional_polling_url_and_hung_requests() {
    let mut cfg = quick();
    cfg.polling_host = PollingHost::Regional;
    cfg.faults.hang.poll = 1.0;
    let server = SimServer::start(cfg).await.unwrap();
    let sub = raw(
        "POST",
        &format!("{}/v1/flux-dev", server.base_url()),
        Some("bfl_k"),
        r#"{"prompt": "x"}"#,
    )
    .await
    .json();
    let url = sub["polling_url"].as_str().unwrap();
    assert!(url.starts_with(&format!(
        "http://{}/v1/get_result?id=",
        server.regional_authority()
    )));
    let hung = tokio::time::timeout(
        Duration::from_millis(300),
        raw("GET", url, Some("bfl_k"), ""),
    )
    .await;
    assert!(hung.is_err(), "a hung request must not be answered");
    assert_eq!(server.stats().counters.hung, 1);
    // Shutting down with a hung connection open must not hang.
    tokio::time::timeout(Duration::from_secs(5), server.shutdown())
        .await
        .unwrap();
}
