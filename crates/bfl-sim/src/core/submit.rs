//! `POST /v1/{model}`: auth, validation, credits, the active-task limit, then a new task.

use super::accounts::{milli, Active, At};
use super::{mix, task_id, Sim, Task};
use crate::config::PollingHost;
use crate::exchange::{Role, SimRequest, SimResponse, NOT_AUTHENTICATED};
use crate::images::{fnv1a, served_size};
use crate::stats::Outcome;
use crate::validate;
use bfl_core::api::OutputFormat;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};
use std::cmp::Reverse;

/// A submit the API would take: who asked, for what, at what price, counted against which limit.
struct Admitted<'r> {
    key: &'r str,
    model: &'r str,
    body: Map<String, Value>,
    cost: f64,
    class: String,
}

/// What a task's own random stream decides about it.
struct Drawn {
    id: String,
    queue: f64,
    duration: f64,
    outcome: Outcome,
    seed: i64,
}

impl Sim {
    pub(super) fn submit(&mut self, now: f64, req: &SimRequest<'_>) -> SimResponse {
        let a = match self.admit(now, req) {
            Ok(a) => a,
            Err(refusal) => return refusal,
        };
        let drawn = self.draw(a.model, req.body, &a.body);
        let (started, finished) = match drawn.outcome {
            Outcome::RequestModerated => (now, now),
            _ => self.schedule(now + drawn.queue, drawn.duration),
        };
        if drawn.outcome != Outcome::RequestModerated {
            self.hold(&a, finished, drawn.outcome);
        }
        let n = self.tasks.len();
        let id = drawn.id.clone();
        let task = self.new_task(now, &a, drawn, started, finished);
        self.by_id.insert(id.clone(), n as u32);
        self.tasks.push(task);
        self.counters.accepted += 1;
        self.accepted(n, req.role, &id, &a)
    }

    /// Refuses a submit as the API would — wrong host, key, body, credits, or the key's
    /// active-task limit reached — or admits it.
    fn admit<'r>(&mut self, now: f64, req: &SimRequest<'r>) -> Result<Admitted<'r>, SimResponse> {
        if !matches!(req.role, Role::Api | Role::Regional) {
            return Err(SimResponse::detail(404, "Not Found"));
        }
        let key = match req.key {
            Some(k) if self.authorized(Some(k)) => k,
            _ => return Err(SimResponse::detail(403, NOT_AUTHENTICATED)),
        };
        let model = req.path.trim_start_matches("/v1/");
        let body = validate::validate(model, req.body)
            .map_err(|items| SimResponse::value(422, &json!({ "detail": items })))?;
        let cost = self.cfg.cost_of(model);
        if let Some(balance) = self.balance(key, now) {
            if balance < cost {
                return Err(SimResponse::detail(402, "Insufficient credits"));
            }
        }
        let (class, limit) = self.cfg.limits.for_model(model, now);
        let class = class.to_owned();
        let state = self.keys.entry(key.to_owned()).or_default();
        state.settle(now);
        let pool = state.pools.entry(class.clone()).or_default();
        if pool.len() >= limit {
            let next_end = pool.peek().map(|Reverse(a)| a.end.0).unwrap_or(now);
            let r = SimResponse::detail(
                429,
                &format!("You have reached the limit of {limit} active tasks. Please wait for a task to finish before submitting another."),
            );
            return Err(self.retry_after(r, next_end - now));
        }
        Ok(Admitted {
            key,
            model,
            body,
            cost,
            class,
        })
    }

    /// Everything about the task comes from its own stream, keyed by the seed, the request
    /// (model and body) and how many times that same request was accepted before: a job gets
    /// the same id, duration and outcome whatever the strategy, timing or order of submits.
    fn draw(&mut self, model: &str, raw: &[u8], body: &Map<String, Value>) -> Drawn {
        let identity = crate::webhooks::identity(raw, body);
        let request_hash = fnv1a(&[model.as_bytes(), &identity]);
        let seen = self.seen.entry(request_hash).or_insert(0);
        let mut rng = SmallRng::seed_from_u64(mix(mix(self.cfg.seed, request_hash), *seen));
        *seen += 1;
        let id = task_id(&mut rng);
        let queue = self.cfg.queue_delay.sample(&mut rng);
        let duration = self.cfg.duration_model(model).sample(&mut rng);
        let prompt = body.get("prompt").and_then(Value::as_str).unwrap_or("");
        let outcome = self.outcome(prompt, rng.random());
        let random_seed: u32 = rng.random();
        let seed = body
            .get("seed")
            .and_then(Value::as_i64)
            .unwrap_or(i64::from(random_seed));
        Drawn {
            id,
            queue,
            duration,
            outcome,
            seed,
        }
    }

    /// The outcome a prompt asks for (`sim:…`), else the configured mix's for the draw `u`.
    fn outcome(&self, prompt: &str, u: f64) -> Outcome {
        let mix_ = &self.cfg.outcomes;
        if prompt.contains("sim:request-moderated") {
            Outcome::RequestModerated
        } else if prompt.contains("sim:content-moderated") {
            Outcome::ContentModerated
        } else if prompt.contains("sim:error") {
            Outcome::Error
        } else if u < mix_.request_moderated {
            Outcome::RequestModerated
        } else if u < mix_.request_moderated + mix_.error {
            Outcome::Error
        } else if u < mix_.request_moderated + mix_.error + mix_.content_moderated {
            Outcome::ContentModerated
        } else {
            Outcome::Ready
        }
    }

    /// When a generation that may start at `start` runs, given the server's capacity.
    fn schedule(&mut self, start: f64, duration: f64) -> (f64, f64) {
        let mut start = start;
        if let Some(cap) = self.cfg.capacity {
            if cap > 0 && self.slots.len() >= cap {
                if let Some(Reverse(free)) = self.slots.pop() {
                    start = start.max(free.0);
                }
            }
            self.slots.push(Reverse(At(start + duration)));
        }
        (start, start + duration)
    }

    /// Holds the task's active slot and its cost until `finished` (charged only if `Ready`).
    fn hold(&mut self, a: &Admitted<'_>, finished: f64, outcome: Outcome) {
        let charge = if outcome == Outcome::Ready {
            a.cost
        } else {
            0.0
        };
        let state = self.keys.entry(a.key.to_owned()).or_default();
        state
            .pools
            .entry(a.class.clone())
            .or_default()
            .push(Reverse(Active {
                end: At(finished),
                held_milli: milli(a.cost),
                charge_milli: milli(charge),
            }));
        state.held_milli += milli(a.cost);
    }

    fn new_task(
        &self,
        now: f64,
        a: &Admitted<'_>,
        drawn: Drawn,
        started: f64,
        finished: f64,
    ) -> Task {
        let body = &a.body;
        let (w, h) = served_size(
            body.get("width").and_then(Value::as_u64),
            body.get("height").and_then(Value::as_u64),
            body.get("aspect_ratio").and_then(Value::as_str),
            self.cfg.image_max_side,
        );
        let format = body
            .get("output_format")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| OutputFormat::default_for_model(a.model));
        let prompt = body.get("prompt").and_then(Value::as_str).unwrap_or("");
        let upsample = body.get("prompt_upsampling").and_then(Value::as_bool) == Some(true);
        let used_prompt = if upsample && !prompt.is_empty() {
            format!("{prompt}, highly detailed, cinematic lighting")
        } else {
            prompt.to_owned()
        };
        Task {
            id: drawn.id,
            model: a.model.to_owned(),
            prompt: used_prompt,
            seed: drawn.seed,
            submitted: now,
            started,
            finished,
            outcome: drawn.outcome,
            image: (w, h, format),
            cost: a.cost,
            first_terminal_poll: None,
            first_ready_poll: None,
            polls: 0,
            polls_after_terminal: 0,
            downloads: 0,
            downloaded_at: None,
            refused_expired: false,
        }
    }

    /// The `200` to an accepted submit (task `n`): BFL's webhook shape when the request asked
    /// for a webhook, else the id and polling URL.
    fn accepted(&mut self, n: usize, role: Role, id: &str, a: &Admitted<'_>) -> SimResponse {
        let out_w = a
            .body
            .get("width")
            .and_then(Value::as_f64)
            .unwrap_or(1024.0);
        let out_h = a
            .body
            .get("height")
            .and_then(Value::as_f64)
            .unwrap_or(1024.0);
        let output_mp = ((out_w * out_h / 1e6) * 100.0).round() / 100.0;
        let cost = a.cost;
        if let Some((url, secret)) = crate::webhooks::requested(&a.body) {
            self.schedule_webhooks(n, &url, &secret);
            // BFL's webhook answer shape: no `polling_url`.
            return SimResponse::value(
                200,
                &json!({
                    "id": id,
                    "status": "Pending",
                    "webhook_url": url,
                    "cost": cost,
                    "input_mp": 0.0,
                    "output_mp": output_mp,
                }),
            );
        }
        let poll_role = match self.cfg.polling_host {
            PollingHost::Same => role,
            PollingHost::Regional => Role::Regional,
            PollingHost::Hostile => Role::Hostile,
        };
        let polling_url = format!(
            "{}://{}/v1/get_result?id={id}",
            self.hosts.scheme,
            self.hosts.authority(poll_role)
        );
        SimResponse::value(
            200,
            &json!({
                "id": id,
                "polling_url": polling_url,
                "cost": cost,
                "input_mp": 0.0,
                "output_mp": output_mp,
            }),
        )
    }
}
