//! The core's side of webhook deliveries: schedule them at submit, hand them to a face, record
//! what the receiver answered. What a delivery is and how it is sent: [`crate::webhooks`].

use super::{mix, Role, Sim};
use crate::images::fnv1a;
use crate::stats::Outcome;
use crate::webhooks::{Ended, WebhookDelivery, WebhookRecord};

impl Sim {
    /// Schedules the deliveries of task `index`, drawn from the task's own stream.
    pub(super) fn schedule_webhooks(&mut self, index: usize, url: &str, secret: &str) {
        let Some(task) = self.tasks.get(index) else {
            return;
        };
        let result = (task.outcome == Outcome::Ready)
            .then(|| serde_json::to_value(self.ready_result(task, Role::Api)).ok())
            .flatten();
        let ended = Ended {
            id: &task.id,
            started: task.started,
            finished: task.finished,
            status: task.outcome.status(),
            result,
        };
        let seed = mix(
            self.cfg.seed ^ 0x7765_6268_6f6f_6b73,
            fnv1a(&[task.id.as_bytes()]),
        );
        self.webhooks
            .schedule(&self.cfg.webhooks, seed, url, secret, &ended);
    }

    /// The deliveries scheduled since the last call, for a face to send at their `due_at`.
    pub fn take_webhooks(&mut self) -> Vec<WebhookDelivery> {
        self.webhooks.take()
    }

    /// Records the receiver's answer to delivery `seq`, sent at `now` (`None`: no answer).
    pub fn webhook_answered(&mut self, seq: usize, now: f64, answer: Option<u16>) {
        self.webhooks.answered(seq, now, answer);
    }

    /// Every webhook delivery so far, sent or dropped.
    pub fn webhook_records(&self) -> &[WebhookRecord] {
        self.webhooks.records()
    }
}
