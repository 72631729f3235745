//! `GET /v1/get_result?id=…`: the task's status as of `now`, in the exact wire shape.

use super::{query_param, round_to, Sim, Task};
use crate::config::Delivery;
use crate::exchange::{Role, SimRequest, SimResponse, NOT_AUTHENTICATED};
use crate::stats::Outcome;
use serde::Serialize;
use serde_json::{json, Value};

#[derive(Serialize)]
struct PollBody<'a> {
    id: &'a str,
    status: &'a str,
    result: Option<ResultBody<'a>>,
    progress: Option<f64>,
    details: Option<Value>,
    preview: Option<Value>,
    /// The settled cost of a terminal task (the newer spec's `SettledCostResultResponse`):
    /// what `Ready` charged, 0 for the other outcomes. Absent while pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    cost: Option<f64>,
}

#[derive(Serialize)]
pub(super) struct ResultBody<'a> {
    sample: String,
    prompt: &'a str,
    seed: i64,
    start_time: f64,
    end_time: f64,
    duration: f64,
}

impl Sim {
    /// The `result` of a `Ready` task polled at `polled` (also the body of its webhook
    /// delivery).
    pub(super) fn ready_result<'a>(&self, task: &'a Task, polled: Role) -> ResultBody<'a> {
        let se = (self.cfg.epoch_unix + task.finished + self.cfg.result_ttl_secs).floor() as i64;
        let sig = self.sign(&task.id, se);
        // Same-origin delivery serves results from the host polled.
        let host = match self.cfg.delivery {
            Delivery::Separate => Role::Delivery,
            Delivery::SameOrigin => polled,
        };
        let sample = format!(
            "{}://{}/results/{}/sample.{}?se={se}&sig={sig}",
            self.hosts.scheme,
            self.hosts.authority(host),
            task.id,
            task.image.2.extension()
        );
        ResultBody {
            sample,
            prompt: &task.prompt,
            seed: task.seed,
            // Rounded as the real API's are (`1752477995.95983`, `7.566`).
            start_time: round_to(self.cfg.epoch_unix + task.started, 1e5),
            end_time: round_to(self.cfg.epoch_unix + task.finished, 1e5),
            duration: round_to(task.finished - task.started, 1e3),
        }
    }

    pub(super) fn poll(&mut self, now: f64, req: &SimRequest<'_>) -> SimResponse {
        if req.role == Role::Delivery {
            return SimResponse::detail(404, "Not Found");
        }
        if req.role != Role::Hostile && !self.authorized(req.key) {
            return SimResponse::detail(403, NOT_AUTHENTICATED);
        }
        let Some(id) = query_param(req.query, "id") else {
            return SimResponse::value(
                422,
                &json!({"detail": [{"type": "missing", "loc": ["query", "id"], "msg": "Field required", "input": null}]}),
            );
        };
        let Some(index) = self.by_id.get(id).map(|&i| i as usize) else {
            return not_found(id);
        };
        match self.count_poll(now, index) {
            None => not_found(id),
            Some(Seen::TooSoon) => SimResponse::detail(404, "Not Found"),
            Some(Seen::AgedOut) => not_found(id),
            Some(Seen::Known { terminal }) => self.status_answer(now, index, req.role, terminal),
        }
    }

    /// Counts a poll of task `index` in its ground truth, and says what the poll may see.
    fn count_poll(&mut self, now: f64, index: usize) -> Option<Seen> {
        let task = self.tasks.get_mut(index)?;
        task.polls += 1;
        if task.first_terminal_poll.is_some() {
            task.polls_after_terminal += 1;
            self.counters.polls_after_terminal += 1;
        }
        if now - task.submitted < self.cfg.quirks.not_found_after_submit_secs {
            return Some(Seen::TooSoon);
        }
        if now > task.finished + self.cfg.retention_secs {
            return Some(Seen::AgedOut);
        }
        let terminal = now >= task.finished;
        if terminal {
            task.first_terminal_poll.get_or_insert(now);
            if task.outcome == Outcome::Ready {
                task.first_ready_poll.get_or_insert(now);
            }
        }
        Some(Seen::Known { terminal })
    }

    /// The poll answer of a known task, as of `now`.
    fn status_answer(
        &mut self,
        now: f64,
        index: usize,
        polled: Role,
        terminal: bool,
    ) -> SimResponse {
        let task = &self.tasks[index];
        if !terminal {
            let mut progress = None;
            if self.cfg.progress && now >= task.started {
                let span = (task.finished - task.started).max(1e-9);
                progress = Some(self.dice.progress((now - task.started) / span));
            }
            let code = if self.cfg.quirks.accepted_while_pending {
                202
            } else {
                200
            };
            return SimResponse::json(code, pending_body(&task.id, progress));
        }
        let (status, result, details) = self.terminal_status(task, polled);
        let body = PollBody {
            id: &task.id,
            status,
            result,
            progress: None,
            details,
            preview: None,
            cost: Some(if task.outcome == Outcome::Ready {
                task.cost
            } else {
                0.0
            }),
        };
        SimResponse::serialized(200, &body)
    }

    /// A terminal task's status, result and details, in the API's words.
    fn terminal_status<'a>(
        &self,
        task: &'a Task,
        polled: Role,
    ) -> (&'static str, Option<ResultBody<'a>>, Option<Value>) {
        match task.outcome {
            Outcome::Ready => ("Ready", Some(self.ready_result(task, polled)), None),
            Outcome::Error => (
                "Error",
                None,
                Some(json!({"message": "Generation failed, please try again"})),
            ),
            Outcome::RequestModerated => (
                "Request Moderated",
                None,
                Some(json!({"Moderation Reasons": ["Derivative Works Filter"]})),
            ),
            Outcome::ContentModerated => (
                "Content Moderated",
                None,
                Some(json!({"Moderation Reasons": ["Content Filter"]})),
            ),
        }
    }
}

/// The body of a `Pending` answer — byte for byte what serde writes for its [`PollBody`] (a test
/// checks), written straight into one buffer: most answers of a run are these, and the
/// generic path escaped every key and walked every empty field.
fn pending_body(id: &str, progress: Option<f64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(br#"{"id":"#);
    // Writing to a `Vec` cannot fail; the id and the number go through serde's own escaping
    // and float formatting.
    let _ = serde_json::to_writer(&mut out, id);
    out.extend_from_slice(br#","status":"Pending","result":null,"progress":"#);
    let _ = serde_json::to_writer(&mut out, &progress);
    out.extend_from_slice(br#","details":null,"preview":null}"#);
    out
}

/// What a counted poll may see of its task.
enum Seen {
    /// Within the quirk's not-found window after the submit: a bare 404.
    TooSoon,
    /// Past its retention: `Task not found`.
    AgedOut,
    /// The task, terminal or not.
    Known {
        /// Whether it is terminal as of the poll.
        terminal: bool,
    },
}

/// The API's `Task not found` answer for `id`.
fn not_found(id: &str) -> SimResponse {
    let body = PollBody {
        id,
        status: "Task not found",
        result: None,
        progress: None,
        details: None,
        preview: None,
        cost: None,
    };
    SimResponse::serialized(200, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_body_is_what_serde_writes_for_it() {
        for id in ["0a1b-2c3d", "quote \" back\\slash \u{1}", ""] {
            for progress in [
                None,
                Some(0.0),
                Some(0.4),
                Some(1.0 / 3.0),
                Some(1e-7),
                Some(f64::NAN),
            ] {
                let body = PollBody {
                    id,
                    status: "Pending",
                    result: None,
                    progress,
                    details: None,
                    preview: None,
                    cost: None,
                };
                let want = serde_json::to_vec(&body).unwrap();
                assert_eq!(pending_body(id, progress), want, "{id:?} {progress:?}");
            }
        }
    }
}
