//! `--webhook-listen ADDR [--webhook-url PUBLIC_URL]` of `bfl generate` and `bfl batch`: a
//! receiver on `ADDR`, tasks submitted with a webhook to `PUBLIC_URL`, each delivery confirmed
//! with one poll, and sparse fallback polling meanwhile.

use bfl_core::webhook::Fallback;
use bfl_core::ClientBuilder;
use bfl_hyper::WebhookReceiver;
use clap::Args;
use std::net::SocketAddr;
use std::sync::Arc;

/// Webhook flags.
#[derive(Debug, Clone, Args)]
pub struct WebhookArgs {
    /// Receive webhook deliveries on this address (e.g. `0.0.0.0:8788`; port 0: any free port).
    #[arg(long, value_name = "ADDR")]
    pub webhook_listen: Option<SocketAddr>,
    /// The root URL at which that receiver is reachable from the API (default
    /// `http://ADDR`, right for `--sim` and for a receiver on the same machine).
    #[arg(long, value_name = "PUBLIC_URL", requires = "webhook_listen")]
    pub webhook_url: Option<String>,
    /// While a delivery is awaited, poll first after FIRST seconds, then every EVERY seconds.
    #[arg(long, value_name = "FIRST,EVERY", default_value = "12,4",
          value_parser = crate::compare::webhooks::parse_fallback)]
    pub webhook_fallback: Fallback,
}

/// Starts the receiver the flags ask for and gives the client its webhooks.
pub(super) async fn listen(
    args: &WebhookArgs,
    builder: ClientBuilder,
) -> std::io::Result<(ClientBuilder, Option<WebhookReceiver>)> {
    let Some(addr) = args.webhook_listen else {
        return Ok((builder, None));
    };
    let receiver = WebhookReceiver::bind(addr).await?;
    let public = args
        .webhook_url
        .clone()
        .unwrap_or_else(|| receiver.local_url());
    tracing::info!(listen = %receiver.local_addr(), public = %public, "webhook receiver started");
    let builder = builder
        .webhooks(receiver.router(), public)
        .webhook_fallback(Arc::new(args.webhook_fallback));
    Ok((builder, Some(receiver)))
}

/// One line for people: what the receiver saw.
pub(super) fn summary(receiver: &WebhookReceiver) -> String {
    let c = receiver.router().counters();
    format!(
        "webhooks: {} accepted, {} duplicate, {} unknown task, {} forged, {} malformed",
        c.accepted, c.duplicate, c.unknown_task, c.forged, c.malformed
    )
}
