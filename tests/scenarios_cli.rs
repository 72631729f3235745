#![allow(clippy::unwrap_used)]
//! One scenario registry behind `bfl sim` and `bfl compare`: one list, one set of names, and
//! `compare` runs any scenario (S3 open loop, S4 shared key, S5 faults), figures from the
//! simulator's ground truth.

mod support;

use support::{assert_exit, bfl, stdout_json, temp_dir};

#[test]
fn compare_and_sim_print_one_list() {
    let dir = temp_dir("scenarios", "list");
    let compare = bfl(&dir).args(["compare", "--list"]).output().unwrap();
    let sim = bfl(&dir)
        .args(["sim", "--list-scenarios"])
        .output()
        .unwrap();
    assert_exit(&compare, 0);
    assert_exit(&sim, 0);
    assert_eq!(compare.stdout, sim.stdout);
    let list = String::from_utf8_lossy(&sim.stdout);
    for name in [
        "s1 ",
        "s2-burst",
        "s3-rho-0.5",
        "s3-rho-1.2",
        "s4-shared-16",
        "s5-brownout",
        "s7-slow-consumer",
    ] {
        assert!(list.contains(name), "{name} missing from:\n{list}");
    }
}

#[test]
fn compare_runs_the_shared_key_herd_and_prints_a_table() {
    let dir = temp_dir("scenarios", "s4");
    let args = [
        "compare",
        "--scenario",
        "s4-shared-16",
        "--jobs",
        "96",
        "--warmup",
        "16",
    ];
    let table = bfl(&dir)
        .args(args)
        .args(["--strategies", "fixed-2s"])
        .output()
        .unwrap();
    assert_exit(&table, 0);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("scenario s4-shared-16")
            && text.contains("429/job")
            && text.contains("ttr p99"),
        "{text}"
    );
    let json = bfl(&dir)
        .args(args)
        .args(["--strategies", "fixed-2s", "--json"])
        .output()
        .unwrap();
    assert_exit(&json, 0);
    let report = stdout_json(&json);
    assert_eq!(report["workload"], "SharedKey { clients: 16 }");
    let r = &report["results"][0];
    // 16 clients each allowed 24 by their own limiter on one key of 24: the server answers
    // 429s, and nothing is lost.
    assert!(r["rate_limited_per_job"].as_f64().unwrap() > 0.0, "{r}");
    assert_eq!(
        (
            r["jobs"].as_u64(),
            r["lost"].as_u64(),
            r["expired"].as_u64()
        ),
        (Some(96), Some(0), Some(0))
    );
    assert!(r["makespan_s"].as_f64().unwrap() >= r["makespan_lower_bound_s"].as_f64().unwrap());
}

#[test]
fn compare_runs_open_loop_and_fault_scenarios() {
    let dir = temp_dir("scenarios", "s3-s5");
    for (scenario, queued) in [("s3-rho-0.5", false), ("s5-brownout", true)] {
        let out = bfl(&dir)
            .args([
                "compare",
                "--scenario",
                scenario,
                "--jobs",
                "60",
                "--warmup",
                "10",
            ])
            .args(["--strategies", "fixed-2s", "--json"])
            .output()
            .unwrap();
        assert_exit(&out, 0);
        let report = stdout_json(&out);
        let r = &report["results"][0];
        assert_eq!(
            (r["jobs"].as_u64(), r["lost"].as_u64()),
            (Some(60), Some(0)),
            "{scenario}"
        );
        assert!(r["p99_time_to_result_s"].as_f64().unwrap() > 0.0);
        // The oracle is derived where the distribution is known (S3: lognormal, no queue).
        assert_eq!(
            report["oracle"].as_array().unwrap().is_empty(),
            queued,
            "{scenario}"
        );
    }
}

#[test]
fn sim_refuses_nonsense_flag_values() {
    let dir = temp_dir("scenarios", "flags");
    let out = bfl(&dir)
        .args(["sim", "--error-rate", "1.5"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a probability"));
}

#[test]
fn compare_runs_any_duration_the_simulator_draws_with_its_oracle() {
    let dir = temp_dir("scenarios", "uniform");
    let out = bfl(&dir)
        .args(["compare", "--duration", "uniform:4,8", "--jobs", "200"])
        .args(["--warmup", "10", "--strategies", "fixed-2s", "--json"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let report = stdout_json(&out);
    assert_eq!(report["scenario"], "custom:uniform:4,8");
    // Polls at 0, 2, 4, 6, 8 s: a task ready in (4, 6] is seen by the fourth, one in (6, 8] by
    // the fifth — 4.5 polls and 1 s of lag on average.
    let r = &report["results"][0];
    let polls = r["polls_per_job"].as_f64().unwrap();
    let lag = r["mean_lag_s"].as_f64().unwrap();
    assert!(
        (polls - 4.5).abs() < 0.15 && (lag - 1.0).abs() < 0.15,
        "{r}"
    );
    // The oracle plans for the uniform itself: one poll, at 8 s, costs 2 s of lag on average.
    let oracle = report["oracle"].as_array().unwrap();
    let one_poll = oracle
        .iter()
        .find(|p| p["polls_per_job"].as_f64() == Some(1.0))
        .unwrap_or_else(|| panic!("no one-poll schedule in {oracle:?}"));
    assert!((one_poll["mean_lag_s"].as_f64().unwrap() - 2.0).abs() < 1e-6);

    let bad = bfl(&dir)
        .args(["compare", "--duration", "uniform:8,4"])
        .output()
        .unwrap();
    assert_exit(&bad, 2);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("uniform needs low <= high"));
}
