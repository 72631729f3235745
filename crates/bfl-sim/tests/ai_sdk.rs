#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A third-party client against the simulator: the Vercel AI SDK's `generateImage` (`ai` 7 and
//! `@ai-sdk/black-forest-labs` 2, pinned in `tests/ai-sdk/package-lock.json`) runs in node
//! against `bfl-sim` with same-origin delivery and must get a decodable image of the size it
//! asked for; the simulator's ground truth says what the SDK really did.
//!
//! Needs `node` and `npm ci` run in `tests/ai-sdk` (`.ci/run` does both). Without them the test
//! says so and passes, unless `BFL_REQUIRE_AI_SDK=1` (set by `.ci/run`) makes that a failure.

use bfl_core::dist::DurationDist;
use bfl_sim::{Delivery, SimConfig, SimServer};
use std::path::PathBuf;
use std::process::Command;

fn project() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/ai-sdk")
}

/// Why the SDK cannot run here, if it cannot.
fn missing() -> Option<String> {
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Some("node is not installed".into());
    }
    let sdk = project().join("node_modules/@ai-sdk/black-forest-labs");
    (!sdk.is_dir()).then(|| format!("run `npm ci` in {}", project().display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vercel_ai_sdk_generates_an_image_of_the_requested_size() {
    if let Some(why) = missing() {
        assert!(
            std::env::var_os("BFL_REQUIRE_AI_SDK").is_none(),
            "BFL_REQUIRE_AI_SDK is set but the AI SDK cannot run: {why}"
        );
        eprintln!("SKIPPED: the Vercel AI SDK check needs node and its packages: {why}");
        return;
    }
    let mut cfg = SimConfig {
        delivery: Delivery::SameOrigin,
        keys: vec!["bfl_ai_sdk".into()],
        ..SimConfig::default()
    };
    cfg.durations.insert("*".into(), DurationDist::Fixed(0.5));
    let server = SimServer::start(cfg).await.unwrap();
    let base = format!("{}/v1", server.base_url());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("run.mjs")
            .current_dir(project())
            .env("BFL_SIM_BASE_URL", base)
            .env("BFL_API_KEY", "bfl_ai_sdk")
            .env("BFL_SIM_WIDTH", "512")
            .env("BFL_SIM_HEIGHT", "384")
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "generateImage failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        (seen["width"].as_u64(), seen["height"].as_u64()),
        (Some(512), Some(384))
    );
    assert_eq!(seen["format"], "jpeg");

    // The ground truth: one paid task, polled, downloaded once from the API's own origin.
    let stats = server.stats();
    assert_eq!(stats.tasks.len(), 1);
    let task = &stats.tasks[0];
    assert!(task.downloaded_at.is_some() && task.polls >= 1, "{task:?}");
    assert_eq!(stats.counters.downloads, 1);
    assert_eq!(seen["cost"], 3.0);
    // Nothing went to the delivery host; the SDK sends its key to same-origin result URLs, as
    // it is documented to (counted apart, not a leak to a foreign host).
    assert_eq!(stats.counters.keys_sent_to_delivery, 0);
    assert_eq!(stats.counters.keys_sent_to_results, 1);
    assert_eq!(stats.counters.forbidden, 0);
    server.shutdown().await;
}
