//! HTTP throughput of `get_result` on the HTTP face: a small tokio load loop (hyper client,
//! keep-alive connections) against a `SimServer` in the same process.
//!
//! `cargo run --release -p bfl-sim --example http_load -- [CONNECTIONS] [SECONDS]`
//! (defaults: 32 connections, 5 s).

use bfl_sim::{SimConfig, SimServer};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[allow(clippy::disallowed_methods)] // measuring real time is the point here
fn wall() -> std::time::Instant {
    std::time::Instant::now()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let conns: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);
    let secs: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let config = SimConfig {
        record_requests: false,
        ..SimConfig::default()
    };
    let server = SimServer::start(config).await?;
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(conns)
        .build_http();
    let submit = http::Request::post(format!("{}/v1/flux-2-pro", server.base_url()))
        .header("x-key", "bfl_load")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(br#"{"prompt": "load"}"#)))?;
    let answer = client
        .request(submit)
        .await?
        .into_body()
        .collect()
        .await?
        .to_bytes();
    let polling_url: String = serde_json::from_slice::<serde_json::Value>(&answer)?["polling_url"]
        .as_str()
        .ok_or("no polling_url")?
        .to_owned();
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = wall();
    let deadline = start + Duration::from_secs_f64(secs);
    let workers: Vec<_> = (0..conns)
        .map(|_| {
            let (client, url) = (client.clone(), polling_url.clone());
            let (done, failed) = (Arc::clone(&done), Arc::clone(&failed));
            tokio::spawn(async move {
                while wall() < deadline {
                    let Ok(req) = http::Request::get(url.as_str())
                        .header("x-key", "bfl_load")
                        .body(Full::new(Bytes::new()))
                    else {
                        return;
                    };
                    match client.request(req).await {
                        Ok(resp) if resp.status().is_success() => {
                            let _ = resp.into_body().collect().await;
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    println!(
        "get_result: {n} answers in {elapsed:.2} s over {conns} keep-alive connections = {:.0} requests/s ({} failed)",
        n as f64 / elapsed,
        failed.load(Ordering::Relaxed)
    );
    server.shutdown().await;
    Ok(())
}
