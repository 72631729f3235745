#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Issue 10, item 8, as a user meets it: a delivery answering `200` with an empty, HTML or
//! truncated body is fetched again by `bfl generate` and `bfl batch` — the file written (and the
//! batch's `done`) is the image, and the simulator counts the download attempts.

mod support;

use bfl_core::image::sniff;
use bfl_sim::{SimConfig, SimServer};
use support::{assert_exit, bfl, stdout_json, temp_dir};

fn server(rt: &tokio::runtime::Runtime) -> SimServer {
    let config = SimConfig::from_json(r#"{"durations": {"*": "fixed:0.3"}}"#).unwrap();
    rt.block_on(SimServer::start(config)).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// The simulator's download attempts of task `id`.
fn downloads_of(server: &SimServer, id: &str) -> u32 {
    let stats = server.stats();
    stats.tasks.iter().find(|t| t.id == id).unwrap().downloads
}

#[test]
fn generate_fetches_an_empty_body_again_and_writes_the_image_over_the_old_file() {
    let dir = temp_dir("downloads", "generate");
    let rt = runtime();
    let server = server(&rt);
    std::fs::write(dir.join("fox.jpeg"), b"yesterday's fox").unwrap();
    let out = bfl(&dir)
        .env("BFL_API_KEY", "bfl_download_test")
        .args([
            "generate",
            "a fox sim:download-empty:2",
            "--out",
            "fox.jpeg",
            "--force",
        ])
        .args(["--json", "--base-url", &server.base_url()])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let json = stdout_json(&out);
    let written = std::fs::read(dir.join("fox.jpeg")).unwrap();
    assert!(sniff(&written).is_some(), "not an image: {written:?}");
    assert_eq!(json["bytes"], written.len());
    assert_eq!(downloads_of(&server, json["id"].as_str().unwrap()), 3);
    rt.block_on(server.shutdown());
}

#[test]
fn batch_marks_done_only_the_image_after_html_and_truncated_bodies() {
    let dir = temp_dir("downloads", "batch");
    let rt = runtime();
    let server = server(&rt);
    std::fs::write(
        dir.join("prompts.txt"),
        "fox sim:download-html:2\nboat sim:download-truncated\n",
    )
    .unwrap();
    let out = bfl(&dir)
        .env("BFL_API_KEY", "bfl_download_test")
        .args(["batch", "prompts.txt", "--out", "imgs"])
        .args(["--json", "--base-url", &server.base_url()])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let json = stdout_json(&out);
    assert_eq!(json["images_written"], 2);
    let stats = server.stats();
    let mut downloads: Vec<u32> = stats.tasks.iter().map(|t| t.downloads).collect();
    downloads.sort_unstable();
    assert_eq!(downloads, vec![2, 3], "one truncated body, two HTML pages");
    for item in json["items"].as_array().unwrap() {
        assert_eq!(item["status"], "done");
        let bytes = std::fs::read(dir.join(item["path"].as_str().unwrap())).unwrap();
        assert!(sniff(&bytes).is_some(), "{item}: not an image");
    }
    rt.block_on(server.shutdown());
}
