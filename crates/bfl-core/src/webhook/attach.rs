//! The client's side: what a client with webhooks adds to a job (URL, fresh secret, inbox), and
//! the driver's wait that a delivery can cut short.

use super::router::{HintInbox, WebhookRouter};
use super::secret::WebhookSecret;
use crate::machine::{Job, Start, TaskMachine};
use crate::rt::{Now, Runtime};
use crate::strategy::StrategyFactory;
use crate::GenerationRequest;
use futures_util::future::{select, Either};
use std::sync::Arc;
use std::time::Instant;

/// The path appended to a public URL that has none.
pub const DEFAULT_PATH: &str = "/bfl/webhook";

/// A client's webhook settings: where deliveries are received, the URL the API is told, and the
/// fallback schedule of tasks that expect one.
#[derive(Debug, Clone)]
pub struct Webhooks {
    router: WebhookRouter,
    url: String,
    fallback: Arc<dyn StrategyFactory>,
}

impl Webhooks {
    /// Deliveries go to `router`; the API is told `public_url` (the root at which the receiver
    /// is reachable from the API: [`DEFAULT_PATH`] is appended unless it has a path of its own).
    pub fn new(router: WebhookRouter, public_url: &str) -> Webhooks {
        let trimmed = public_url.trim_end_matches('/');
        let has_path = trimmed
            .split_once("://")
            .is_some_and(|(_, rest)| rest.contains('/'));
        let url = if has_path {
            trimmed.to_owned()
        } else {
            format!("{trimmed}{DEFAULT_PATH}")
        };
        Webhooks {
            router,
            url,
            fallback: Arc::new(super::Fallback::default()),
        }
    }

    /// The polling schedule of a task that expects a delivery (default [`super::Fallback`]).
    pub fn with_fallback(mut self, fallback: Arc<dyn StrategyFactory>) -> Webhooks {
        self.fallback = fallback;
        self
    }

    /// The `webhook_url` every task is submitted with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The router deliveries must be handed to.
    pub fn router(&self) -> &WebhookRouter {
        &self.router
    }

    /// The fallback schedule.
    pub fn fallback(&self) -> &Arc<dyn StrategyFactory> {
        &self.fallback
    }
}

/// Gives a submit job a webhook (URL and a fresh secret) and returns the inbox its deliveries
/// will arrive in. Jobs that do not submit, requests that carry their own `webhook_url`, and
/// models whose schema forbids webhook fields are left alone.
pub(crate) fn attach(webhooks: Option<&Webhooks>, mut job: Job) -> (Job, Option<HintInbox>) {
    let Some(w) = webhooks else {
        return (job, None);
    };
    let Start::Submit(req) = &mut job.start else {
        return (job, None);
    };
    if req.get("webhook_url").is_some() || req.model().starts_with("flux-tools/") {
        return (job, None);
    }
    let Some(secret) = WebhookSecret::generate() else {
        tracing::warn!("no OS randomness for a webhook secret: this task polls instead");
        return (job, None);
    };
    let inbox = w.router.expect(secret);
    let plain = std::mem::replace(req, GenerationRequest::without_prompt(""));
    *req = plain.webhook(w.url.clone(), Some(inbox.secret().expose().to_owned()));
    (job, Some(inbox))
}

/// The driver's wait for a task with an inbox: sleeps until `until` unless a delivery arrives
/// first, which is handed to the machine (stamped with `now`) as a hint.
pub(crate) async fn wait_for_hint(
    machine: &mut TaskMachine,
    runtime: &dyn Runtime,
    until: Instant,
    inbox: &mut HintInbox,
) {
    if !inbox.is_bound() {
        if let Some(task) = machine.task() {
            inbox.bind(&task.id);
        }
    }
    if !inbox.is_bound() {
        return runtime.sleep_until(until).await;
    }
    let sleep = std::pin::pin!(runtime.sleep_until(until));
    let hint = std::pin::pin!(inbox.recv());
    if let Either::Right((hint, _)) = select(sleep, hint).await {
        machine.on_hint(Now::of(runtime), &hint);
    }
}
