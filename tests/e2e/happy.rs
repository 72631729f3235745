//! The happy path: several models and every output format, streamed to files and in memory.

use crate::common::*;
use bfl_core::Image;
use bfl_core::{GenerationRequest, OutputFormat};
use bfl_sim::stats::{Outcome, RequestKind};

fn decode(bytes: &[u8], format: OutputFormat) -> (u32, u32) {
    let expected = match format {
        OutputFormat::Jpeg => image::ImageFormat::Jpeg,
        OutputFormat::Png => image::ImageFormat::Png,
        OutputFormat::Webp => image::ImageFormat::WebP,
    };
    assert_eq!(image::guess_format(bytes).unwrap(), expected);
    let img = image::load_from_memory_with_format(bytes, expected).unwrap();
    (img.width(), img.height())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_models_and_formats_stream_valid_images_to_files() {
    let server = start(scenario()).await;
    // Exactly one download per task is asserted below, so no request may time out.
    let client = unhurried_client(&server);
    let dir = scratch_dir("happy");
    let jobs = [
        ("flux-2-pro", OutputFormat::Jpeg),
        ("flux-2-pro", OutputFormat::Png),
        ("flux-dev", OutputFormat::Webp),
        ("flux-kontext-pro", OutputFormat::Png),
        ("flux-kontext-max", OutputFormat::Jpeg),
        ("flux-pro-1.1-ultra", OutputFormat::Webp),
        ("flux-2-klein-4b", OutputFormat::Jpeg),
    ];
    let runs = jobs.iter().enumerate().map(|(i, (model, format))| {
        let client = client.clone();
        let dest = dir.join(format!("{i}-{model}.{}", format.extension()));
        let req = GenerationRequest::new(*model, format!("a lighthouse, take {i}"))
            .seed(i as i64)
            .output_format(*format);
        async move {
            let out = client.generate_to_file(req, &dest).await;
            (dest, out)
        }
    });
    let results = within_deadline(join_all(runs)).await;
    for ((dest, out), (model, format)) in results.into_iter().zip(jobs) {
        let out = out.unwrap_or_else(|e| panic!("{model} {format:?}: {e}"));
        let Image::File(file) = &out.image else {
            panic!("expected a file, got {:?}", out.image)
        };
        assert_eq!(file.path, dest);
        let bytes = std::fs::read(&dest).unwrap();
        assert_eq!(bytes.len() as u64, file.len);
        let (w, h) = decode(&bytes, format);
        assert!(w > 0 && h > 0);
        assert_eq!(out.ready.task.model, model);
    }
    // Only the images are left: no temporary files.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), jobs.len());

    let stats = server.stats();
    assert_key_safety(&server, &stats);
    assert_no_poll_after_terminal(&stats);
    assert_eq!(stats.tasks.len(), jobs.len(), "one task per job");
    assert_eq!(
        count(&stats, RequestKind::Submit),
        jobs.len(),
        "one submit per job"
    );
    for t in &stats.tasks {
        assert_eq!(t.outcome, Outcome::Ready);
        assert_eq!(t.downloads, 1, "{t:?}");
        assert!(!t.expired);
        // 0.35 s of work polled every 50 ms: about 8 polls, never wildly more.
        assert!((1..=20).contains(&t.polls), "{} polls: {t:?}", t.polls);
        // Detection lag is bounded by the poll interval plus a request's time.
        let lag = t.first_ready_poll_at.unwrap() - t.ready_at.unwrap();
        assert!(lag < 0.3, "lag {lag}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_to_memory_and_credits() {
    let server = start(scenario()).await;
    let client = client(&server);
    let out = within_deadline(client.generate(
        GenerationRequest::new("flux-2-flex", "a red fox in snow").output_format(OutputFormat::Png),
    ))
    .await
    .unwrap();
    let Image::Memory(bytes) = &out.image else {
        panic!("expected bytes in memory")
    };
    decode(bytes, OutputFormat::Png);
    assert!(client.credits().await.unwrap() > 0.0);
    let stats = server.stats();
    assert_key_safety(&server, &stats);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_from_the_environment_reaches_the_simulator() {
    let server = start(scenario()).await;
    let base = server.base_url();
    let vars = move |name: &str| match name {
        "BFL_API_KEY" => Some(KEY.to_owned()),
        "BFL_BASE_URL" => Some(base.clone()),
        "BFL_REGION" => Some("eu".to_owned()),
        _ => None,
    };
    // BFL_BASE_URL wins over BFL_REGION; the rest are the presets of `bfl_hyper`.
    let client = bfl_hyper::builder_from_vars(vars)
        .unwrap()
        .strategy(std::sync::Arc::new(bfl_core::strategy::Fixed::every(
            POLL_EVERY,
        )))
        .build()
        .unwrap();
    assert!(!format!("{client:?}").contains(KEY));
    let out = within_deadline(client.generate(GenerationRequest::new("flux-2-pro", "env")))
        .await
        .unwrap();
    assert!(!out.image.is_empty());
    let stats = server.stats();
    assert_key_safety(&server, &stats);
    server.shutdown().await;
}
