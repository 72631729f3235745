//! Issue 10, item 8: a `200` whose body is not the image (empty, an HTML page, short of its
//! `Content-Length`) is fetched again, never saved as the image, and never replaces an existing
//! file. The simulator's `sim:download-KIND:N` prompt token serves the bad bodies; its ground
//! truth counts the download attempts.

use crate::common::*;
use bfl_core::image::{sniff, BadImage};
use bfl_core::transport::{temp_path_for, TransportError};
use bfl_core::{ErrorKind, GenerationRequest, Image, OutputFormat};
use bfl_sim::{SimServer, TaskTruth};
use std::path::Path;

const OLD: &[u8] = b"an image paid for yesterday";

/// The simulator's record of the only task.
fn only_task(server: &SimServer) -> TaskTruth {
    let stats = server.stats();
    assert_eq!(stats.tasks.len(), 1, "{:?}", stats.tasks);
    stats.tasks[0].clone()
}

fn assert_no_part_file(dest: &Path) {
    assert!(!temp_path_for(dest).exists(), "a .part file was left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_are_downloaded_again_then_the_image_replaces_the_old_file() {
    for kind in ["empty", "html", "truncated"] {
        let server = start(scenario()).await;
        let dir = scratch_dir(kind);
        let dest = dir.join("fox.jpeg");
        std::fs::write(&dest, OLD).unwrap();
        let req = GenerationRequest::new("flux-2-pro", format!("fox sim:download-{kind}:2"));
        let out = within_deadline(client(&server).generate_to_file(req, &dest))
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let task = only_task(&server);
        assert_eq!(task.downloads, 3, "{kind}: two bad bodies, then the image");
        assert!(task.downloaded_at.is_some(), "{kind}");
        let written = std::fs::read(&dest).unwrap();
        assert_eq!(sniff(&written), Some(OutputFormat::Jpeg), "{kind}");
        assert!(matches!(out.image, Image::File(f) if f.len == written.len() as u64));
        assert_no_part_file(&dest);
        server.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_memory_download_is_checked_too() {
    let server = start(scenario()).await;
    let req = GenerationRequest::new("flux-2-pro", "fox sim:download-html:3");
    let out = within_deadline(client(&server).generate(req))
        .await
        .unwrap();
    assert_eq!(only_task(&server).downloads, 4);
    let Image::Memory(bytes) = out.image else {
        panic!("expected the image in memory");
    };
    assert_eq!(sniff(&bytes), Some(OutputFormat::Jpeg));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_past_the_failure_cap_fail_retryably_and_leave_the_old_file() {
    for (kind, cause) in [
        ("empty", "result body is empty"),
        (
            "html",
            "result body is not an image (starts with \"<html><head><title>Acces…\")",
        ),
        // Hyper itself sees the connection close short of the Content-Length.
        ("truncated", "reading the body"),
    ] {
        let server = start(scenario()).await;
        let dir = scratch_dir(kind);
        let dest = dir.join("fox.jpeg");
        std::fs::write(&dest, OLD).unwrap();
        let req = GenerationRequest::new("flux-2-pro", format!("fox sim:download-{kind}:1000"));
        let err = within_deadline(client(&server).generate_to_file(req, &dest))
            .await
            .unwrap_err();
        let task = only_task(&server);
        // The first try and the 12 retries of the consecutive-failure cap.
        assert_eq!(task.downloads, 13, "{kind}");
        assert_eq!(task.downloaded_at, None, "{kind}");
        assert_eq!(
            std::fs::read(&dest).unwrap(),
            OLD,
            "{kind}: the old file was replaced"
        );
        assert_no_part_file(&dest);
        assert_eq!(err.kind(), ErrorKind::Transport, "{kind}: {err}");
        assert!(err.is_retryable(), "{kind}");
        assert_eq!(err.task_id(), Some(task.id.as_str()), "{kind}");
        assert!(err.to_string().contains(cause), "{kind}: {err}");
        let Some(source) = err.transport_error().cloned() else {
            panic!("{kind}: {err:?}")
        };
        match kind {
            "empty" => assert_eq!(source, TransportError::BadImage(BadImage::Empty)),
            "html" => assert!(matches!(
                source,
                TransportError::BadImage(BadImage::NotAnImage { .. })
            )),
            _ => assert!(matches!(source, TransportError::Protocol(_)), "{source:?}"),
        }
        server.shutdown().await;
    }
}
