//! Webhook deliveries: a submit with `webhook_url` is answered in BFL's webhook shape (no
//! `polling_url`), and when the task ends the simulator POSTs its outcome to that URL with
//! `X-Webhook-Secret: <the submitted secret>` — through the faults of [`WebhookConfig`]: a
//! lognormal delay, loss, duplicates, late (out-of-order) deliveries, forged deliveries (a wrong
//! secret claiming `Ready` while the task is still generating) and a receiver that does not answer
//! within [`WebhookConfig::timeout_secs`].
//!
//! The core only schedules: every delivery's fate is drawn at submit from the task's
//! own seeded stream, so a run is reproducible whatever the receiver does. A face takes the
//! scheduled deliveries ([`crate::Sim::take_webhooks`]), sends them at their time — over HTTP
//! ([`send::post`]) or to an in-process [`WebhookSink`] under virtual time — and reports each
//! answer back ([`crate::Sim::webhook_answered`]). Every delivery, sent or dropped, is in the
//! ground truth ([`crate::Stats::webhooks`]).

use bfl_core::dist::DurationDist;
use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub mod send;

pub use send::WebhookSink;

/// The header carrying the secret the task was submitted with.
pub const SECRET_HEADER: &str = "X-Webhook-Secret";

/// The body dialect of deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WebhookDialect {
    /// `{"task_id", "status": "SUCCESS" | "FAILED", "result"}`, as third-party receivers see it.
    #[default]
    TaskId,
    /// `{"id", "status": "Ready" | "Error" | …, "result"}`, as BFL's guide describes it.
    Id,
}

/// How deliveries behave (`SimConfig::webhooks`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Median delay from the task's end to its delivery, seconds (lognormal).
    pub delay_median_secs: f64,
    /// σ of the delay's logarithm.
    pub delay_sigma: f64,
    /// Probability that a task's delivery is never sent.
    pub drop: f64,
    /// Probability that a sent delivery is sent a second time (with its own delay).
    pub duplicate: f64,
    /// Probability that a delivery is held back [`WebhookConfig::late_secs`] more, so it arrives
    /// after deliveries of tasks that ended later.
    pub out_of_order: f64,
    /// The extra delay of an out-of-order delivery, seconds.
    pub late_secs: f64,
    /// Probability per task of an extra forged delivery: a wrong secret, claiming success
    /// halfway through the generation.
    pub forged: f64,
    /// How long the sender waits for the receiver's answer (HTTP face), seconds.
    pub timeout_secs: f64,
    /// The body dialect.
    pub dialect: WebhookDialect,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            delay_median_secs: 0.2,
            delay_sigma: 0.5,
            drop: 0.0,
            duplicate: 0.0,
            out_of_order: 0.0,
            late_secs: 2.0,
            forged: 0.0,
            timeout_secs: 5.0,
            dialect: WebhookDialect::TaskId,
        }
    }
}

/// Which delivery of a task a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryKind {
    /// The task's delivery.
    Original,
    /// A repeat of it.
    Duplicate,
    /// A forged one (wrong secret).
    Forged,
}

/// The truth about one delivery.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookRecord {
    /// The task.
    pub task_id: String,
    /// Which delivery.
    pub kind: DeliveryKind,
    /// When it is (or would have been) sent, sim seconds.
    pub due_at: f64,
    /// Never sent (the `drop` fault).
    pub dropped: bool,
    /// Held back by the `out_of_order` fault.
    pub late: bool,
    /// When it was sent, if it was.
    pub sent_at: Option<f64>,
    /// The receiver's HTTP status (`None`: not answered in time, refused, or not sent yet).
    pub answer: Option<u16>,
}

/// A delivery for a face to send at [`WebhookDelivery::due_at`].
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookDelivery {
    /// Index in the ground truth (give it back to [`crate::Sim::webhook_answered`]).
    pub seq: usize,
    /// Where to POST.
    pub url: String,
    /// The `X-Webhook-Secret` value.
    pub secret: String,
    /// The JSON body.
    pub body: Bytes,
    /// When to send it, sim seconds.
    pub due_at: f64,
}

/// What the core knows of a task when it schedules its deliveries.
#[derive(Debug, Clone)]
pub(crate) struct Ended<'a> {
    pub id: &'a str,
    pub started: f64,
    pub finished: f64,
    /// The wire status of the outcome (`Ready`, `Error`, …).
    pub status: &'a str,
    /// The poll answer's `result` for a `Ready` task.
    pub result: Option<Value>,
}

/// Scheduled deliveries and their ground truth.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    records: Vec<WebhookRecord>,
    fresh: Vec<WebhookDelivery>,
}

impl Outbox {
    /// Draws the fate of a task's deliveries from `seed` and schedules them.
    pub(crate) fn schedule(
        &mut self,
        cfg: &WebhookConfig,
        seed: u64,
        url: &str,
        secret: &str,
        task: &Ended<'_>,
    ) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let delay = DurationDist::LogNormal {
            median: cfg.delay_median_secs.max(0.0),
            sigma: cfg.delay_sigma.max(0.0),
        };
        let body = Bytes::from(payload(cfg.dialect, task).to_string());
        let dropped = rng.random::<f64>() < cfg.drop;
        let copies = if rng.random::<f64>() < cfg.duplicate {
            2
        } else {
            1
        };
        for n in 0..copies {
            let late = rng.random::<f64>() < cfg.out_of_order;
            let extra = if late { cfg.late_secs.max(0.0) } else { 0.0 };
            let due = task.finished + delay.sample(&mut rng) + extra;
            let kind = [DeliveryKind::Original, DeliveryKind::Duplicate][n];
            self.push(url, secret, &body, due, kind, dropped, late, task.id);
        }
        if rng.random::<f64>() < cfg.forged {
            let forged = Ended {
                status: "Ready",
                ..task.clone()
            };
            let body = Bytes::from(payload(cfg.dialect, &forged).to_string());
            let due = task.started + (task.finished - task.started) / 2.0;
            let wrong = format!("forged-{:016x}", rng.random::<u64>());
            self.push(
                url,
                &wrong,
                &body,
                due,
                DeliveryKind::Forged,
                false,
                false,
                task.id,
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        url: &str,
        secret: &str,
        body: &Bytes,
        due_at: f64,
        kind: DeliveryKind,
        dropped: bool,
        late: bool,
        task_id: &str,
    ) {
        let seq = self.records.len();
        self.records.push(WebhookRecord {
            task_id: task_id.to_owned(),
            kind,
            due_at,
            dropped,
            late,
            sent_at: None,
            answer: None,
        });
        if !dropped {
            self.fresh.push(WebhookDelivery {
                seq,
                url: url.to_owned(),
                secret: secret.to_owned(),
                body: body.clone(),
                due_at,
            });
        }
    }

    /// The deliveries scheduled since the last call.
    pub(crate) fn take(&mut self) -> Vec<WebhookDelivery> {
        std::mem::take(&mut self.fresh)
    }

    /// Records that delivery `seq` was sent at `now` and answered `answer`.
    pub(crate) fn answered(&mut self, seq: usize, now: f64, answer: Option<u16>) {
        if let Some(r) = self.records.get_mut(seq) {
            r.sent_at = Some(now);
            r.answer = answer;
        }
    }

    /// Every delivery so far.
    pub(crate) fn records(&self) -> &[WebhookRecord] {
        &self.records
    }
}

/// The body of a delivery in `dialect`.
fn payload(dialect: WebhookDialect, task: &Ended<'_>) -> Value {
    let result = task.result.clone().unwrap_or(Value::Null);
    match dialect {
        WebhookDialect::Id => json!({"id": task.id, "status": task.status, "result": result}),
        WebhookDialect::TaskId => {
            let status = match task.status {
                "Ready" => "SUCCESS",
                "Error" => "FAILED",
                other => other,
            };
            let mut v = json!({"task_id": task.id, "status": status, "result": result});
            if status != "SUCCESS" {
                v["error"] = json!(task.status);
            }
            v
        }
    }
}

/// The bytes that identify a submit for the task's seeded stream: the body without its webhook
/// fields (a client draws a fresh secret for every task) — so a job meets the same duration and
/// outcome whether or not it asked for a webhook, and polling and webhook runs face the same jobs.
pub(crate) fn identity<'a>(
    raw: &'a [u8],
    body: &serde_json::Map<String, Value>,
) -> std::borrow::Cow<'a, [u8]> {
    if !body.contains_key("webhook_secret") && !body.contains_key("webhook_url") {
        return std::borrow::Cow::Borrowed(raw);
    }
    let mut rest = body.clone();
    rest.remove("webhook_secret");
    rest.remove("webhook_url");
    std::borrow::Cow::Owned(serde_json::to_vec(&rest).unwrap_or_default())
}

/// Reads `webhook_url` and `webhook_secret` from a validated submit body.
pub(crate) fn requested(body: &serde_json::Map<String, Value>) -> Option<(String, String)> {
    let url = body.get("webhook_url")?.as_str()?.to_owned();
    let secret = body
        .get("webhook_secret")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    Some((url, secret))
}
