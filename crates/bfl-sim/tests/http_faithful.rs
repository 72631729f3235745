#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::field_reassign_with_default
)]
//! The HTTP face spoken to in raw HTTP/1.1 over TCP (not through bfl-core), comparing every
//! answer's shape field by field with `shared/bfl-api.md`.

use bfl_core::dist::DurationDist;
use bfl_sim::{PollingHost, SimConfig, SimServer};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

mod common;
use common::raw;

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

fn quick() -> SimConfig {
    let mut c = SimConfig::default();
    c.durations.insert("*".into(), DurationDist::Fixed(0.3));
    c.queue_delay = DurationDist::Fixed(0.0);
    c
}

#[tokio::test]
async fn submit_poll_download_shapes_match_the_api() {
    let mut cfg = quick();
    // `se` is whole seconds, rounded down: a 2 s TTL leaves a URL 1–2 s to live.
    cfg.result_ttl_secs = 2.0;
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
        BTreeSet::from(["id", "status", "result", "progress", "details", "preview", "cost"])
    );
    // The settled cost, as the newer spec's `SettledCostResultResponse` carries it.
    assert_eq!(ready["cost"], s["cost"]);
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
    assert_eq!(
        img.status,
        200,
        "{sample} {}",
        String::from_utf8_lossy(&img.body)
    );
    assert_eq!(img.header("content-type"), Some("image/jpeg"));
    assert!(img.body.starts_with(b"\xff\xd8\xff") && img.body.ends_with(b"\xff\xd9"));

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let expired = raw("GET", sample, None, "").await;
    // An expired SAS URL, as Azure Blob Storage refuses it.
    assert_eq!(expired.status, 403);
    assert_eq!(expired.header("content-type"), Some("application/xml"));
    assert_eq!(
        expired.header("x-ms-error-code"),
        Some("AuthenticationFailed")
    );
    let xml = String::from_utf8_lossy(&expired.body);
    assert!(xml.starts_with("<?xml") && xml.contains("<Code>AuthenticationFailed</Code>"));
    assert!(
        xml.contains("Signature not valid in the specified time frame"),
        "{xml}"
    );

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
    let summary = raw("GET", &format!("{base}/__sim/summary"), None, "")
        .await
        .json();
    assert_eq!(summary["tasks"], 1);
    assert_eq!(summary["detection_lag"]["n"], 1);
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

#[tokio::test]
async fn parallel_submits_cannot_overspend_and_the_settled_cost_is_reported() {
    let mut cfg = quick();
    cfg.credits = Some(30.0);
    cfg.default_cost = 3.0;
    let server = SimServer::start(cfg).await.unwrap();
    let url = format!("{}/v1/flux-2-pro", server.base_url());
    let submits = (0..20).map(|i| {
        let url = url.clone();
        tokio::spawn(async move {
            let body = format!(r#"{{"prompt": "fox {i}"}}"#);
            raw("POST", &url, Some("bfl_k"), &body).await.status
        })
    });
    let mut statuses = Vec::new();
    for s in submits {
        statuses.push(s.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [[200; 10], [402; 10]].concat());
    let credits_url = format!("{}/v1/credits", server.base_url());
    let left = raw("GET", &credits_url, Some("bfl_k"), "").await.json();
    assert_eq!(left["credits"], 0.0);
    let stats = server.stats();
    assert_eq!(
        (stats.counters.accepted, stats.counters.payment_required),
        (10, 10)
    );

    // A task that fails is not charged: its hold comes back, and its settled cost is 0.
    let cfg2 = {
        let mut c = quick();
        c.credits = Some(3.0);
        c
    };
    let server2 = SimServer::start(cfg2).await.unwrap();
    let url2 = format!("{}/v1/flux-2-pro", server2.base_url());
    let failed = raw("POST", &url2, Some("bfl_k"), r#"{"prompt": "sim:error"}"#)
        .await
        .json();
    assert_eq!(failed["cost"], 3.0, "the estimate");
    let again = raw("POST", &url2, Some("bfl_k"), r#"{"prompt": "x"}"#).await;
    assert_eq!(
        again.status, 402,
        "the estimate is held while the task runs"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let done = raw(
        "GET",
        failed["polling_url"].as_str().unwrap(),
        Some("bfl_k"),
        "",
    )
    .await
    .json();
    assert_eq!(
        (&done["status"], &done["cost"]),
        (&"Error".into(), &0.0.into())
    );
    let credits2 = format!("{}/v1/credits", server2.base_url());
    assert_eq!(
        raw("GET", &credits2, Some("bfl_k"), "").await.json()["credits"],
        3.0
    );
    server.shutdown().await;
    server2.shutdown().await;
}

#[tokio::test]
async fn only_the_spec_endpoints_and_limits_exist() {
    let server = SimServer::start(quick()).await.unwrap();
    let base = server.base_url();
    let typo = raw(
        "POST",
        &format!("{base}/v1/flux-nope"),
        Some("bfl_k"),
        r#"{"prompt": "x"}"#,
    )
    .await;
    assert_eq!(
        (typo.status, typo.json()),
        (404, serde_json::json!({"detail": "Not Found"}))
    );
    let huge = raw(
        "POST",
        &format!("{base}/v1/flux-2-pro"),
        Some("bfl_k"),
        r#"{"prompt": "x", "width": 99999, "height": 99999}"#,
    )
    .await;
    assert_eq!(huge.status, 422);
    let item = &huge.json()["detail"][0];
    assert_eq!(
        (&item["type"], &item["loc"]),
        (&"value_error".into(), &serde_json::json!(["body"]))
    );
    let stats = server.stats();
    assert_eq!(
        (
            stats.counters.accepted,
            stats.counters.other,
            stats.counters.validation_errors
        ),
        (0, 1, 1)
    );
    server.shutdown().await;
}

/// Submits `body` and polls until terminal; the last poll answer.
async fn run_task(base: &str, body: &str) -> Value {
    let sub = raw(
        "POST",
        &format!("{base}/v1/flux-2-pro"),
        Some("bfl_k"),
        body,
    )
    .await
    .json();
    let url = sub["polling_url"].as_str().unwrap().to_owned();
    loop {
        let p = raw("GET", &url, Some("bfl_k"), "").await.json();
        if p["status"] != "Pending" {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn same_origin_delivery_serves_images_of_the_requested_size_on_the_api_host() {
    let cfg = SimConfig {
        delivery: bfl_sim::Delivery::SameOrigin,
        ..quick()
    };
    let server = SimServer::start(cfg).await.unwrap();
    let base = server.base_url();
    let ready = run_task(
        &base,
        r#"{"prompt": "x", "width": 640, "height": 352, "output_format": "png"}"#,
    )
    .await;
    let sample = ready["result"]["sample"].as_str().unwrap();
    assert!(sample.starts_with(&format!("{base}/results/")), "{sample}");
    let img = raw("GET", sample, Some("bfl_k"), "").await;
    assert_eq!(img.status, 200);
    let decoded = image::load_from_memory(&img.body).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (640, 352));
    let c = server.stats().counters;
    // The key went to the result path of the API's own origin: counted, and not a leak to
    // the delivery host.
    assert_eq!(
        (c.downloads, c.keys_sent_to_results, c.keys_sent_to_delivery),
        (1, 1, 0)
    );
    server.shutdown().await;

    // With separate delivery (the default) the API host has no result paths.
    let server = SimServer::start(quick()).await.unwrap();
    let base = server.base_url();
    let ready = run_task(&base, r#"{"prompt": "x"}"#).await;
    let sample = ready["result"]["sample"].as_str().unwrap();
    let on_api = sample.replace(server.delivery_authority(), server.api_authority());
    assert_eq!(raw("GET", &on_api, None, "").await.status, 404);
    let img = raw("GET", sample, None, "").await;
    let decoded = image::load_from_memory(&img.body).unwrap();
    assert_eq!(
        (decoded.width(), decoded.height()),
        (1024, 1024),
        "BFL's default size"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn sim_config_changes_knobs_mid_run() {
    let server = SimServer::start(quick()).await.unwrap();
    let base = server.base_url();
    let config_url = format!("{base}/__sim/config");
    let got = raw("GET", &config_url, None, "").await.json();
    assert_eq!(got["config"]["outcomes"]["error"], 0.0);
    assert!(got["now"].is_f64());
    assert_eq!(
        run_task(&base, r#"{"prompt": "a"}"#).await["status"],
        "Ready"
    );

    let patched = raw(
        "PATCH",
        &config_url,
        None,
        r#"{"outcomes": {"error": 1.0}}"#,
    )
    .await;
    assert_eq!(patched.status, 200);
    assert_eq!(patched.json()["config"]["outcomes"]["error"], 1.0);
    assert_eq!(
        run_task(&base, r#"{"prompt": "b"}"#).await["status"],
        "Error"
    );

    // A brownout from now on: every API request answers 503.
    let now = raw("GET", &config_url, None, "").await.json()["now"]
        .as_f64()
        .unwrap();
    let brownout = format!(
        r#"{{"faults": {{"brownouts": [[{now}, {}]]}}}}"#,
        now + 60.0
    );
    assert_eq!(raw("POST", &config_url, None, &brownout).await.status, 200);
    let sub = raw(
        "POST",
        &format!("{base}/v1/flux-2-pro"),
        Some("bfl_k"),
        r#"{"prompt": "c"}"#,
    )
    .await;
    assert_eq!(sub.status, 503);

    // A nonsense value is refused and changes nothing.
    let bad = raw(
        "PATCH",
        &config_url,
        None,
        r#"{"outcomes": {"error": 1.5}}"#,
    )
    .await;
    assert_eq!(bad.status, 422);
    assert!(bad.json()["detail"]
        .as_str()
        .unwrap()
        .contains("outcomes.error"));
    let after = server.with_sim(|s, _| s.config().clone());
    assert_eq!(
        (after.outcomes.error, after.faults.brownouts.len()),
        (1.0, 1)
    );
    // Control requests are not part of the ground truth.
    assert_eq!(server.stats().counters.server_errors, 1);
    server.shutdown().await;
}
