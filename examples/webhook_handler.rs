//! Webhooks in an app's own HTTP server: no `WebhookReceiver`, just the framework-agnostic
//! handler `WebhookRouter::handle(headers, body)` mounted on one route of the app's router (here
//! a plain hyper `service_fn`; an axum or actix route is the same three lines).
//!
//! `cargo run --example webhook_handler`

use bfl_core::webhook::WebhookRouter;
use bfl_core::GenerationRequest;
use bfl_sim::{SimConfig, SimServer};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// The app's router: its own routes, and the webhook route.
async fn app(
    router: WebhookRouter,
    req: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = req.into_parts();
    let text = match (parts.method.as_str(), parts.uri.path()) {
        ("POST", "/hooks/bfl") => {
            let body = match Limited::new(body, 64 << 10).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => Bytes::new(),
            };
            // Verify, dedupe, wake the task; answer 2xx whatever the verdict.
            let delivery = router.handle(&parts.headers, &body);
            format!("{delivery:?}")
        }
        ("GET", "/") => "the app's home page".to_owned(),
        _ => "not found".to_owned(),
    };
    Ok(http::Response::new(Full::new(Bytes::from(text))))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let router = WebhookRouter::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let public = format!("http://{}/hooks/bfl", listener.local_addr()?);
    let served = router.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let router = served.clone();
            let service = service_fn(move |req| app(router.clone(), req));
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    let sim = SimServer::start(SimConfig::default()).await?;
    let client = bfl_hyper::client_builder()?
        .api_key("bfl_example")
        .base_url(sim.base_url())
        // A URL with a path is used as is.
        .webhooks(router.clone(), &public)
        .build()?;
    let out = client
        .generate(GenerationRequest::new("flux-2-pro", "a lighthouse at dusk"))
        .await?;
    let stats = sim.stats();
    println!(
        "{} bytes from task {}; the server saw {} poll(s); router {:?}",
        out.image.len(),
        out.ready.task.id,
        stats.counters.polls,
        router.counters()
    );
    sim.shutdown().await;
    Ok(())
}
