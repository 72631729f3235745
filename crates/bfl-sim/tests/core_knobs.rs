#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::field_reassign_with_default
)]
//! Every knob of the scenario, observed through the core directly (cheap: no sockets, no clock).

use bfl_core::dist::DurationDist;
use bfl_sim::{Hosts, Outcome, PollingHost, RetryAfter, Role, Sim, SimConfig, SimRequest};
use serde_json::Value;

const KEY: &str = "bfl_test";

fn sim(cfg: SimConfig) -> Sim {
    Sim::new(cfg, Hosts::virtual_names())
}

fn fixed(cfg: &mut SimConfig, secs: f64) {
    cfg.durations.insert("*".into(), DurationDist::Fixed(secs));
    cfg.queue_delay = DurationDist::Fixed(0.0);
}

fn submit_as(
    sim: &mut Sim,
    now: f64,
    model: &str,
    body: &str,
    key: Option<&str>,
) -> (u16, Value, Vec<(&'static str, String)>) {
    let path = format!("/v1/{model}");
    let r = sim.handle(
        now,
        &SimRequest {
            role: Role::Api,
            method: "POST",
            path: &path,
            query: None,
            key,
            body: body.as_bytes(),
        },
    );
    let v = serde_json::from_slice(&r.body_bytes()).unwrap_or(Value::Null);
    (r.status, v, r.headers)
}

fn submit(sim: &mut Sim, now: f64) -> (u16, Value) {
    let (s, v, _) = submit_as(sim, now, "flux-2-pro", r#"{"prompt": "a fox"}"#, Some(KEY));
    (s, v)
}

fn poll(sim: &mut Sim, now: f64, id: &str) -> (u16, Value) {
    let q = format!("id={id}");
    let r = sim.handle(
        now,
        &SimRequest {
            role: Role::Api,
            method: "GET",
            path: "/v1/get_result",
            query: Some(&q),
            key: Some(KEY),
            body: b"",
        },
    );
    (
        r.status,
        serde_json::from_slice(&r.body_bytes()).unwrap_or(Value::Null),
    )
}

fn get(sim: &mut Sim, now: f64, url: &str, key: Option<&str>) -> bfl_sim::SimResponse {
    let uri: http::Uri = url.parse().unwrap();
    let role = sim
        .hosts()
        .role_of(uri.authority().unwrap().as_str())
        .unwrap();
    sim.handle(
        now,
        &SimRequest {
            role,
            method: "GET",
            path: uri.path(),
            query: uri.query(),
            key,
            body: b"",
        },
    )
}

fn near(x: f64, want: f64, tol: f64) -> bool {
    (x - want).abs() <= tol
}

#[test]
fn poll_5xx_rate_is_observed() {
    let mut cfg = SimConfig::default();
    cfg.faults.server_error.poll = 0.10;
    let mut s = sim(cfg);
    let (_, v) = submit(&mut s, 0.0);
    let id = v["id"].as_str().unwrap().to_owned();
    let n = 20_000;
    let errors = (0..n)
        .filter(|i| poll(&mut s, 0.001 * f64::from(*i), &id).0 >= 500)
        .count();
    let rate = errors as f64 / f64::from(n);
    assert!(near(rate, 0.10, 0.01), "5xx rate {rate}");
    assert_eq!(s.counters().server_errors, errors as u64);
}

#[test]
fn active_limit_answers_429_with_the_configured_retry_after() {
    for (mode, want) in [
        (RetryAfter::Absent, None),
        (RetryAfter::Accurate, Some("10")),
        (RetryAfter::Fixed(0), Some("0")),
        (RetryAfter::Fixed(86_400), Some("86400")),
    ] {
        let mut cfg = SimConfig::default();
        fixed(&mut cfg, 10.0);
        cfg.retry_after = mode;
        let mut s = sim(cfg);
        for _ in 0..24 {
            assert_eq!(submit(&mut s, 0.0).0, 200);
        }
        let (status, body, headers) =
            submit_as(&mut s, 0.0, "flux-2-pro", r#"{"prompt": "x"}"#, Some(KEY));
        assert_eq!(status, 429);
        assert!(body["detail"].is_string());
        let ra = headers
            .iter()
            .find(|(k, _)| *k == "retry-after")
            .map(|(_, v)| v.as_str());
        assert_eq!(ra, want, "{mode}");
        // Another key has its own slots; the first key gets one back when a task finishes.
        assert_eq!(
            submit_as(
                &mut s,
                0.0,
                "flux-2-pro",
                r#"{"prompt": "x"}"#,
                Some("bfl_other")
            )
            .0,
            200
        );
        assert_eq!(submit(&mut s, 10.0).0, 200);
    }
}

#[test]
fn kontext_max_has_its_own_limit_of_6_and_the_limit_follows_its_schedule() {
    let mut cfg = SimConfig::default();
    fixed(&mut cfg, 100.0);
    cfg.limits.schedule = vec![(50.0, 12)];
    let mut s = sim(cfg);
    let body = r#"{"prompt": "x"}"#;
    for _ in 0..6 {
        assert_eq!(
            submit_as(&mut s, 0.0, "flux-kontext-max", body, Some(KEY)).0,
            200
        );
    }
    assert_eq!(
        submit_as(&mut s, 0.0, "flux-kontext-max", body, Some(KEY)).0,
        429
    );
    for _ in 0..10 {
        assert_eq!(submit(&mut s, 0.0).0, 200);
    }
    assert_eq!(submit(&mut s, 60.0).0, 200); // 11 active, limit now 12
    assert_eq!(submit(&mut s, 60.0).0, 200); // 12
    assert_eq!(submit(&mut s, 60.0).0, 429);
}

#[test]
fn outcome_mix_and_forced_outcomes() {
    let mut cfg = SimConfig::default();
    fixed(&mut cfg, 1.0);
    cfg.limits.default = 1_000_000;
    cfg.outcomes.error = 0.1;
    cfg.outcomes.request_moderated = 0.05;
    cfg.outcomes.content_moderated = 0.05;
    let mut s = sim(cfg);
    let n = 10_000;
    for _ in 0..n {
        submit(&mut s, 0.0);
    }
    let tasks = s.tasks(0.0);
    let share = |o| tasks.iter().filter(|t| t.outcome == o).count() as f64 / f64::from(n);
    assert!(near(share(Outcome::Error), 0.10, 0.015));
    assert!(near(share(Outcome::RequestModerated), 0.05, 0.01));
    assert!(near(share(Outcome::ContentModerated), 0.05, 0.01));
    // Request Moderated is decided at submit and seen on the first poll; the others at the end.
    let rm = tasks
        .iter()
        .find(|t| t.outcome == Outcome::RequestModerated)
        .unwrap();
    assert_eq!(poll(&mut s, 0.01, &rm.id).1["status"], "Request Moderated");
    let cm = tasks
        .iter()
        .find(|t| t.outcome == Outcome::ContentModerated)
        .unwrap()
        .id
        .clone();
    assert_eq!(poll(&mut s, 0.5, &cm).1["status"], "Pending");
    let (_, v) = poll(&mut s, 1.5, &cm);
    assert_eq!(v["status"], "Content Moderated");
    assert!(v["result"].is_null());
    let (_, v, _) = submit_as(
        &mut s,
        2.0,
        "flux-2-pro",
        r#"{"prompt": "boom sim:error"}"#,
        Some(KEY),
    );
    let (_, v) = poll(&mut s, 3.5, v["id"].as_str().unwrap());
    assert_eq!(v["status"], "Error");
}

#[test]
fn progress_is_absent_while_queued_and_coarse_while_generating() {
    let mut cfg = SimConfig::default();
    cfg.durations.insert("*".into(), DurationDist::Fixed(10.0));
    cfg.queue_delay = DurationDist::Fixed(2.0);
    let mut s = sim(cfg.clone());
    let (_, v) = submit(&mut s, 0.0);
    let id = v["id"].as_str().unwrap().to_owned();
    let (_, queued) = poll(&mut s, 1.0, &id);
    assert_eq!(queued["status"], "Pending");
    assert!(queued["progress"].is_null());
    let (_, mid) = poll(&mut s, 7.0, &id);
    let p = mid["progress"].as_f64().unwrap();
    assert!(
        (0.0..=0.9).contains(&p) && ((p * 10.0).round() - p * 10.0).abs() < 1e-9,
        "{p}"
    );
    cfg.progress = false;
    let mut s = sim(cfg);
    let (_, v) = submit(&mut s, 0.0);
    assert!(poll(&mut s, 7.0, v["id"].as_str().unwrap()).1["progress"].is_null());
}

#[test]
fn auth_validation_and_credits() {
    let mut cfg = SimConfig::default();
    fixed(&mut cfg, 5.0);
    cfg.keys = vec![KEY.into()];
    cfg.credits = Some(7.0);
    cfg.default_cost = 3.0;
    let mut s = sim(cfg);
    for key in [None, Some(""), Some("bfl_wrong")] {
        let (status, v, _) = submit_as(&mut s, 0.0, "flux-2-pro", r#"{"prompt": "x"}"#, key);
        assert_eq!(status, 403);
        assert_eq!(
            v,
            serde_json::json!({"detail": "Not authenticated - Invalid Authentication"})
        );
    }
    let (status, v, _) = submit_as(
        &mut s,
        0.0,
        "flux-2-pro",
        r#"{"width": 8, "unknown": 1}"#,
        Some(KEY),
    );
    assert_eq!(status, 422);
    let items = v["detail"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for item in items {
        assert!(item["loc"].is_array() && item["msg"].is_string() && item["type"].is_string());
    }
    // Only the spec's models exist: an unknown one is 404, as BFL answers.
    let (status, v, _) = submit_as(
        &mut s,
        0.0,
        "flux-9-future",
        r#"{"prompt": "x"}"#,
        Some(KEY),
    );
    assert_eq!(
        (status, v),
        (404, serde_json::json!({"detail": "Not Found"}))
    );
    assert_eq!((s.counters().submits, s.counters().other), (4, 1));
    assert_eq!(submit(&mut s, 0.0).0, 200);
    // The first submit holds its 3 credits at once: 4 left, a second fits, a third does not.
    assert_eq!(submit(&mut s, 0.0).0, 200);
    assert_eq!(submit(&mut s, 0.0).0, 402);
    assert_eq!(s.counters().payment_required, 1);
    let r = get(&mut s, 6.0, "https://api.sim.invalid/v1/credits", Some(KEY));
    let credits: Value = serde_json::from_slice(&r.body_bytes()).unwrap();
    assert_eq!(credits["credits"], 1.0);
}

#[test]
fn ready_answer_result_url_expiry_and_retention() {
    let mut cfg = SimConfig::default();
    fixed(&mut cfg, 5.0);
    cfg.retention_secs = 1000.0;
    let mut s = sim(cfg);
    let (_, v) = submit_as(
        &mut s,
        0.0,
        "flux-2-pro",
        r#"{"prompt": "a fox", "seed": 42, "output_format": "png", "width": 1024, "height": 768}"#,
        Some(KEY),
    )
    .into_first_two();
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(
        v["polling_url"],
        format!("https://api.sim.invalid/v1/get_result?id={id}")
    );
    let (status, ready) = poll(&mut s, 5.0, &id);
    assert_eq!(status, 200);
    let r = &ready["result"];
    assert_eq!(r["seed"], 42);
    assert_eq!(r["prompt"], "a fox");
    let (start, end) = (
        r["start_time"].as_f64().unwrap(),
        r["end_time"].as_f64().unwrap(),
    );
    assert!(near(r["duration"].as_f64().unwrap(), end - start, 1e-3));
    assert!(near(end - start, 5.0, 1e-4));
    let sample = r["sample"].as_str().unwrap();
    assert!(
        sample.starts_with("https://delivery.sim.invalid/results/") && sample.contains(".png?se=")
    );
    let img = get(&mut s, 100.0, sample, None);
    assert_eq!(img.status, 200);
    assert!(img.body_bytes().starts_with(b"\x89PNG"));
    assert_eq!(s.counters().keys_sent_to_delivery, 0);
    get(&mut s, 101.0, sample, Some(KEY));
    assert_eq!(s.counters().keys_sent_to_delivery, 1);
    // A tampered signature and an expired URL are refused like a signed-URL store.
    assert_eq!(
        get(&mut s, 101.0, &sample.replace("sig=", "sig=0"), None).status,
        403
    );
    assert_eq!(get(&mut s, 606.0, sample, None).status, 403);
    assert_eq!(poll(&mut s, 1004.0, &id).1["status"], "Ready");
    assert_eq!(poll(&mut s, 1006.0, &id).1["status"], "Task not found");
    assert_eq!(
        poll(&mut s, 0.0, "no-such-id").1["status"],
        "Task not found"
    );
    let truth = &s.tasks(2000.0)[0];
    assert_eq!(truth.first_ready_poll_at, Some(5.0));
    assert_eq!(truth.downloaded_at, Some(100.0));
    assert!(!truth.expired);
}

trait FirstTwo {
    fn into_first_two(self) -> (u16, Value);
}
impl FirstTwo for (u16, Value, Vec<(&'static str, String)>) {
    fn into_first_two(self) -> (u16, Value) {
        (self.0, self.1)
    }
}

#[test]
fn an_undownloaded_result_counts_as_expired() {
    let mut cfg = SimConfig::default();
    fixed(&mut cfg, 1.0);
    let mut s = sim(cfg);
    submit(&mut s, 0.0);
    assert!(!s.tasks(600.0)[0].expired);
    assert!(s.tasks(602.0)[0].expired);
}

#[test]
fn quirks_brownouts_hangs_and_mangled_bodies() {
    let mut cfg = SimConfig::default();
    fixed(&mut cfg, 10.0);
    cfg.quirks.accepted_while_pending = true;
    cfg.quirks.not_found_after_submit_secs = 1.0;
    cfg.faults.brownouts = vec![(20.0, 30.0)];
    cfg.retry_after = RetryAfter::Accurate;
    let mut s = sim(cfg);
    let (_, v) = submit(&mut s, 0.0);
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(poll(&mut s, 0.5, &id).0, 404);
    assert_eq!(poll(&mut s, 2.0, &id).0, 202);
    assert_eq!(poll(&mut s, 11.0, &id).0, 200);
    let q = format!("id={id}");
    let r = s.handle(
        25.0,
        &SimRequest {
            role: Role::Api,
            method: "GET",
            path: "/v1/get_result",
            query: Some(&q),
            key: Some(KEY),
            body: b"",
        },
    );
    assert_eq!(r.status, 503);
    assert!(r.headers.contains(&("retry-after", "5".to_owned())));

    let mut cfg = SimConfig::default();
    cfg.faults.hang.poll = 0.2;
    cfg.faults.malformed.poll = 0.2;
    cfg.faults.truncated.poll = 0.2;
    let mut s = sim(cfg);
    let (_, v) = submit(&mut s, 0.0);
    let q = format!("id={}", v["id"].as_str().unwrap());
    let (mut hung, mut bad) = (0, 0);
    for i in 0..5000 {
        let r = s.handle(
            f64::from(i),
            &SimRequest {
                role: Role::Api,
                method: "GET",
                path: "/v1/get_result",
                query: Some(&q),
                key: Some(KEY),
                body: b"",
            },
        );
        if r.hang {
            hung += 1;
        } else if serde_json::from_slice::<Value>(&r.body_bytes()).is_err() {
            bad += 1;
        }
    }
    assert!(near(f64::from(hung) / 5000.0, 0.2, 0.03), "hung {hung}");
    // 80 % answered; of those 20 % malformed, then 20 % of the rest truncated: 0.8 × 0.36.
    assert!(near(f64::from(bad) / 5000.0, 0.8 * 0.36, 0.03), "bad {bad}");
}

#[test]
fn latency_base_jitter_and_spikes() {
    let mut cfg = SimConfig::default();
    cfg.faults.latency.base = 0.1;
    cfg.faults.latency.jitter = 0.1;
    cfg.faults.latency.spike_windows = vec![(100.0, 200.0)];
    let mut s = sim(cfg);
    let r = s.handle(
        0.0,
        &SimRequest {
            role: Role::Api,
            method: "GET",
            path: "/v1/credits",
            query: None,
            key: Some(KEY),
            body: b"",
        },
    );
    assert!((0.1..=0.2).contains(&r.delay));
    let r = s.handle(
        150.0,
        &SimRequest {
            role: Role::Api,
            method: "GET",
            path: "/v1/credits",
            query: None,
            key: Some(KEY),
            body: b"",
        },
    );
    assert!((0.5..=1.0).contains(&r.delay), "{}", r.delay);
}

#[test]
fn regional_and_hostile_polling_urls() {
    for (host, authority) in [
        (PollingHost::Regional, "api.eu1.sim.invalid"),
        (PollingHost::Hostile, "api.sim-evil.invalid"),
    ] {
        let mut cfg = SimConfig::default();
        cfg.polling_host = host;
        let mut s = sim(cfg);
        let (_, v) = submit(&mut s, 0.0);
        let url = v["polling_url"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("https://{authority}/v1/get_result?id=")),
            "{url}"
        );
        let r = get(&mut s, 1.0, url, None);
        // The regional host wants the key; the hostile one answers without it.
        assert_eq!(
            r.status,
            if host == PollingHost::Hostile {
                200
            } else {
                403
            }
        );
        get(&mut s, 1.0, url, Some(KEY));
        assert_eq!(
            s.counters().keys_sent_to_hostile,
            u64::from(host == PollingHost::Hostile)
        );
    }
}

#[test]
fn nothing_panics_on_odd_requests() {
    let mut s = sim(SimConfig::default());
    for (role, method, path, query, body) in [
        (Role::Api, "POST", "/v1/", None, &b"{}"[..]),
        (Role::Api, "POST", "/v1/flux-2-pro", None, b"\xff\xfe"),
        (Role::Api, "POST", "/v1/flux-2-pro", None, b"null"),
        (Role::Api, "DELETE", "/v1/get_result", Some("id=x"), b""),
        (Role::Api, "GET", "/v1/get_result", None, b""),
        (Role::Api, "GET", "/v1/get_result", Some("id"), b""),
        (Role::Delivery, "GET", "/results/", Some("se=x&sig="), b""),
        (Role::Delivery, "GET", "/v1/credits", None, b""),
        (Role::Hostile, "POST", "/v1/flux-2-pro", None, b"{}"),
    ] {
        let r = s.handle(
            0.0,
            &SimRequest {
                role,
                method,
                path,
                query,
                key: Some(KEY),
                body,
            },
        );
        assert!(
            (400..500).contains(&r.status) || r.status == 200,
            "{method} {path}: {}",
            r.status
        );
    }
}

#[test]
fn a_jobs_attributes_do_not_depend_on_timing_or_order() {
    let mk = || {
        let mut c = SimConfig::default();
        c.seed = 99;
        c.outcomes.error = 0.3;
        c.faults.server_error.poll = 0.3;
        sim(c)
    };
    let (mut a, mut b) = (mk(), mk());
    let body = |i: u32| format!(r#"{{"prompt": "job {i}"}}"#);
    for i in 0..20 {
        let t = f64::from(i);
        submit_as(&mut a, t, "flux-2-pro", &body(i), Some(KEY));
        // Another order, other times, and polls in between must not change the jobs.
        submit_as(&mut b, 3.0 * t, "flux-2-pro", &body(19 - i), Some(KEY));
        let id = a.tasks(t)[i as usize].id.clone();
        for _ in 0..i {
            poll(&mut a, t, &id);
        }
    }
    let by_id = |s: &Sim| {
        let mut v: Vec<_> = s
            .tasks(0.0)
            .into_iter()
            .map(|t| {
                (
                    t.id,
                    ((t.finished_at - t.submitted_at) * 1e6).round(),
                    t.outcome,
                )
            })
            .collect();
        v.sort_by(|x, y| x.0.cmp(&y.0));
        v
    };
    assert_eq!(by_id(&a), by_id(&b));
}

#[test]
fn server_capacity_queues_tasks_first_come_first_served() {
    let mut cfg = SimConfig::default();
    fixed(&mut cfg, 10.0);
    cfg.capacity = Some(2);
    let mut s = sim(cfg);
    for key in ["bfl_a", "bfl_b", "bfl_c", "bfl_d", "bfl_e"] {
        submit_as(&mut s, 0.0, "flux-2-pro", r#"{"prompt": "x"}"#, Some(key));
    }
    let starts: Vec<f64> = s.tasks(0.0).iter().map(|t| t.started_at).collect();
    assert_eq!(starts, [0.0, 0.0, 10.0, 10.0, 20.0]);
}

#[test]
fn download_extra_slows_successful_downloads_only() {
    let mut cfg = SimConfig::default();
    fixed(&mut cfg, 1.0);
    cfg.faults.latency.download_extra = 30.0;
    let mut s = sim(cfg);
    let (_, v) = submit(&mut s, 0.0);
    let (_, r) = poll(&mut s, 2.0, v["id"].as_str().unwrap());
    let sample = r["result"]["sample"].as_str().unwrap().to_owned();
    assert_eq!(get(&mut s, 3.0, &sample, None).delay, 30.0);
    assert_eq!(
        get(&mut s, 3.0, &sample.replace("sig=", "sig=1"), None).delay,
        0.0
    );
}

#[test]
fn a_lost_submit_answer_still_creates_the_task() {
    let mut cfg = SimConfig::default();
    cfg.faults.lost_answer.submit = 1.0;
    let mut s = sim(cfg);
    let r = s.handle(
        0.0,
        &SimRequest {
            role: Role::Api,
            method: "POST",
            path: "/v1/flux-2-pro",
            query: None,
            key: Some(KEY),
            body: br#"{"prompt": "x"}"#,
        },
    );
    assert!(r.hang);
    assert_eq!(s.task_count(), 1);
    assert_eq!(s.counters().hung, 1);
}
