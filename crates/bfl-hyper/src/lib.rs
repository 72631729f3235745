//! # bfl-hyper
//!
//! The real transport for [`bfl_core`] — hyper 1, hyper-util's pooled client, rustls with the
//! `ring` provider and webpki roots — and the tokio runtime adapter.
//!
//! - [`HyperTransport`]: whole-request timeouts bounded by the task's remaining deadline, body-size
//!   caps enforced while reading, streaming downloads to a file renamed into place;
//! - [`TokioRuntime`]: the engine's clocks and sleep on tokio (works with a paused test clock);
//! - [`client_from_env`], [`builder_from_env`], [`client_builder`]: a ready client in one line;
//! - [`WebhookReceiver`]: a small server for webhook deliveries (see [`receiver`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // BFL_API_KEY=bfl_… (and optionally BFL_REGION=eu or BFL_BASE_URL=…)
//! let client = bfl_hyper::client_from_env()?;
//! let req = bfl_core::GenerationRequest::new("flux-2-pro", "a red fox in snow");
//! let out = client.generate_to_file(req, std::path::Path::new("fox.jpeg")).await?;
//! println!("{} bytes from task {}", out.image.len(), out.ready.task.id);
//! # Ok(()) }
//! ```
//!
//! Tracing: the engine's driver (in `bfl-core`) opens one `task` span per task (model, id) with
//! events for submit, each poll (status, progress and next delay),
//! retries and the outcome; this transport adds a `downloaded` event inside it.

mod body;
mod bounded;
mod download;
mod env;
mod error;
pub mod receiver;
mod runtime;
mod slots;
mod transport;
mod wire;

pub use env::{
    builder_from_env, builder_from_vars, client_builder, client_from_env, region_base_url,
    EnvError, BASE_URL_VAR, KEY_VAR, REGION_VAR,
};
pub use receiver::{ReceiverOptions, WebhookReceiver, DEFAULT_WEBHOOK_BODY_CAP};
pub use runtime::TokioRuntime;
pub use transport::{
    HyperTransport, HyperTransportBuilder, TransportBuildError, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_IMAGE_BODY_CAP, DEFAULT_JSON_BODY_CAP, DEFAULT_MAX_CONCURRENT_REQUESTS,
    DEFAULT_POOL_IDLE_TIMEOUT, DEFAULT_TIMEOUT,
};
