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
use serde_json::{json, Value};
use std::cmp::Reverse;

impl Sim {
    pub(super) fn submit(&mut self, now: f64, req: &SimRequest<'_>) -> SimResponse {
        if !matches!(req.role, Role::Api | Role::Regional) {
            return SimResponse::detail(404, "Not Found");
        }
        let key = match req.key {
            Some(k) if self.authorized(Some(k)) => k,
            _ => return SimResponse::detail(403, NOT_AUTHENTICATED),
        };
        let model = req.path.trim_start_matches("/v1/");
        let body = match validate::validate(model, req.body) {
            Ok(b) => b,
            Err(items) => return SimResponse::value(422, &json!({ "detail": items })),
        };
        let cost = self.cfg.cost_of(model);
        if let Some(balance) = self.balance(key, now) {
            if balance < cost {
                return SimResponse::detail(402, "Insufficient credits");
            }
        }
        let (class, limit) = self.cfg.limits.for_model(model, now);
        let class = class.to_owned();
        let state = self.keys.entry(key.to_owned()).or_default();
        state.settle(now);
        let pool = state.pools.entry(class).or_default();
        if pool.len() >= limit {
            let next_end = pool.peek().map(|Reverse(a)| a.end.0).unwrap_or(now);
            let r = SimResponse::detail(
                429,
                &format!("You have reached the limit of {limit} active tasks. Please wait for a task to finish before submitting another."),
            );
            return self.retry_after(r, next_end - now);
        }

        // Everything about the task comes from its own stream, keyed by the seed, the request
        // (model and body) and how many times that same request was accepted before: a job gets
        // the same id, duration and outcome whatever the strategy, timing or order of submits.
        let n = self.tasks.len() as u64;
        let identity = crate::webhooks::identity(req.body, &body);
        let request_hash = fnv1a(&[model.as_bytes(), &identity]);
        let seen = self.seen.entry(request_hash).or_insert(0);
        let mut rng = SmallRng::seed_from_u64(mix(mix(self.cfg.seed, request_hash), *seen));
        *seen += 1;
        let id = task_id(&mut rng);
        let queue = self.cfg.queue_delay.sample(&mut rng);
        let duration = self.cfg.duration_model(model).sample(&mut rng);
        let prompt = body.get("prompt").and_then(Value::as_str).unwrap_or("");
        let u: f64 = rng.random();
        let mix_ = &self.cfg.outcomes;
        let outcome = if prompt.contains("sim:request-moderated") {
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
        };
        let random_seed: u32 = rng.random();
        let seed = body
            .get("seed")
            .and_then(Value::as_i64)
            .unwrap_or(i64::from(random_seed));
        let (started, finished) = if outcome == Outcome::RequestModerated {
            (now, now)
        } else {
            let mut start = now + queue;
            if let Some(cap) = self.cfg.capacity {
                if cap > 0 && self.slots.len() >= cap {
                    if let Some(Reverse(free)) = self.slots.pop() {
                        start = start.max(free.0);
                    }
                }
                self.slots.push(Reverse(At(start + duration)));
            }
            (start, start + duration)
        };
        if outcome != Outcome::RequestModerated {
            let charge = if outcome == Outcome::Ready { cost } else { 0.0 };
            pool.push(Reverse(Active {
                end: At(finished),
                held_milli: milli(cost),
                charge_milli: milli(charge),
            }));
            state.held_milli += milli(cost);
        }
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
            .unwrap_or_else(|| OutputFormat::default_for_model(model));
        let upsample = body.get("prompt_upsampling").and_then(Value::as_bool) == Some(true);
        let used_prompt = if upsample && !prompt.is_empty() {
            format!("{prompt}, highly detailed, cinematic lighting")
        } else {
            prompt.to_owned()
        };
        let out_w = body.get("width").and_then(Value::as_f64).unwrap_or(1024.0);
        let out_h = body.get("height").and_then(Value::as_f64).unwrap_or(1024.0);
        let output_mp = ((out_w * out_h / 1e6) * 100.0).round() / 100.0;
        self.by_id.insert(id.clone(), n as u32);
        self.tasks.push(Task {
            id: id.clone(),
            model: model.to_owned(),
            prompt: used_prompt,
            seed,
            submitted: now,
            started,
            finished,
            outcome,
            image: (w, h, format),
            cost,
            first_terminal_poll: None,
            first_ready_poll: None,
            polls: 0,
            polls_after_terminal: 0,
            downloads: 0,
            downloaded_at: None,
            refused_expired: false,
        });
        self.counters.accepted += 1;
        if let Some((url, secret)) = crate::webhooks::requested(&body) {
            self.schedule_webhooks(n as usize, &url, &secret);
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
            PollingHost::Same => req.role,
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
