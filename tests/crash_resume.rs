#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Crash safety of `bfl batch`: SIGKILL it at several moments against a standalone simulator,
//! resume each time, and check from the simulator's ground truth that every prompt got exactly
//! one image and was paid for once (apart from submits caught in the ambiguous window, which the
//! journal names).

mod support;

use bfl_sim::{SimConfig, SimServer};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const JOBS: usize = 60;

fn batch(dir: &Path, base_url: &str, extra: &[&str]) -> Command {
    let mut cmd = support::bfl(dir);
    cmd.env("BFL_API_KEY", "bfl_crash_test")
        .args([
            "batch",
            "prompts.txt",
            "--out",
            "imgs",
            "--base-url",
            base_url,
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs a resume to its end and returns its JSON summary.
fn finish(dir: &Path, base: &str, extra: &[&str]) -> serde_json::Value {
    let out = batch(dir, base, &[extra, &["--resume", "--json"]].concat())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    // Exit 0 exactly when every job has its image; 1 when some are left ambiguous.
    let expected = if summary["ambiguous"] == 0 { 0 } else { 1 };
    assert_eq!(
        out.status.code(),
        Some(expected),
        "resume: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    summary
}

/// Jobs whose last `submitting` record was answered by nothing (no `submitted`, `refused` or
/// non-ambiguous `failed` after it), read straight from the journal's lines (independently of
/// the code under test).
fn ambiguous_jobs(journal: &Path) -> usize {
    let text = std::fs::read_to_string(journal).unwrap();
    let mut submitted: HashSet<u64> = HashSet::new();
    let mut open: HashMap<u64, bool> = HashMap::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(index) = v["index"].as_u64() else {
            continue;
        };
        let answered = match v["event"].as_str() {
            Some("submitting") => false,
            Some("submitted") => {
                submitted.insert(index);
                true
            }
            Some("refused") => true,
            Some("failed") => v["ambiguous"] != true,
            _ => continue,
        };
        open.insert(index, !answered && !submitted.contains(&index));
    }
    open.values().filter(|&&o| o).count()
}

/// Task ids the journal knows, read straight from its lines.
fn journaled_ids(journal: &Path) -> HashSet<String> {
    let text = std::fs::read_to_string(journal).unwrap();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "submitted")
        .filter_map(|v| v["id"].as_str().map(str::to_owned))
        .collect()
}

#[allow(clippy::disallowed_methods)] // a test's own wall clock, to compare with the server's
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// One crash-and-resume trial: 5 SIGKILLs 2–4 s apart (seeded), each run resuming the last.
/// Returns (ambiguous jobs left by the kills, orphans: tasks paid but never journaled).
fn crash_trial(trial: u64) -> (usize, usize) {
    let dir = support::temp_dir("crash", &format!("kill-{trial}"));
    let prompts: String = (0..JOBS).map(|i| format!("prompt number {i}\n")).collect();
    std::fs::write(dir.join("prompts.txt"), prompts).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = SimConfig::from_json(
        r#"{"seed": 11, "durations": {"*": "lognormal:8.0,0.3"}, "queue_delay": "fixed:0.1"}"#,
    )
    .unwrap();
    let server = rt.block_on(SimServer::start(config)).unwrap();
    let base = server.base_url();
    let journal = dir.join("imgs/bfl-journal.jsonl");

    let mut kills = Vec::new();
    let mut ms = 2_000 + trial * 377;
    for run in 0..5 {
        let resume: &[&str] = if run == 0 { &[] } else { &["--resume"] };
        let mut child = batch(&dir, &base, &[resume, &["--no-progress"]].concat())
            .spawn()
            .unwrap();
        ms = 2_000 + (ms * 7_919 + 104_729) % 2_000; // 2–4 s, a different spread per trial
        std::thread::sleep(Duration::from_millis(ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL: no destructor, no flush, no goodbye
            kills.push(unix_now());
        }
        child.wait().unwrap();
    }
    assert!(
        kills.len() >= 3,
        "only {} kills landed while the batch ran",
        kills.len()
    );

    let stats = server.stats();
    let known = journaled_ids(&journal);
    let orphans: Vec<_> = stats
        .tasks
        .iter()
        .filter(|t| !known.contains(&t.id))
        .collect();
    // Only a POST in flight at a kill can be paid without its id on disk.
    for t in &orphans {
        let at = stats.epoch_unix + t.submitted_at;
        assert!(
            kills
                .iter()
                .any(|k| (at - 1.0..=*k + 0.05).contains(k) || (*k - at).abs() < 1.0),
            "task {} was accepted at {at:.3}, not just before a kill ({kills:?})",
            t.id
        );
    }
    let ambiguous = ambiguous_jobs(&journal);
    assert!(ambiguous >= orphans.len());
    assert!(
        ambiguous <= 2 * kills.len(),
        "{ambiguous} ambiguous jobs for {} kills",
        kills.len()
    );

    // A plain resume: with nothing ambiguous, everything (exit 0); else it names them and pays
    // nothing more.
    let summary = finish(&dir, &base, &[]);
    if ambiguous == 0 {
        assert_eq!(
            summary["images_written"].as_u64().unwrap() + summary["already_done"].as_u64().unwrap(),
            JOBS as u64
        );
        assert_eq!(summary["failed"], serde_json::json!({}), "{summary}");
    }
    assert_eq!(summary["ambiguous"].as_u64().unwrap() as usize, ambiguous);
    assert_eq!(
        server.stats().counters.accepted as usize,
        JOBS - ambiguous + orphans.len()
    );
    if ambiguous > 0 {
        let summary = finish(&dir, &base, &["--resubmit-ambiguous"]);
        assert_eq!(summary["ambiguous"], 0);
        assert_eq!(summary["run"].as_u64().unwrap() as usize, ambiguous);
    }
    let stats = server.stats();
    // Every prompt paid once, except the orphans a kill made (paid once more on request).
    assert_eq!(stats.counters.accepted as usize, JOBS + orphans.len());
    assert!(
        stats.counters.rate_limited <= 5,
        "{} 429s: resumed tasks must hold their slots",
        stats.counters.rate_limited
    );
    assert_eq!(stats.counters.keys_sent_to_delivery, 0);
    assert_eq!(stats.counters.expired_downloads, 0);
    assert_one_image_per_prompt(&dir.join("imgs"));
    rt.block_on(server.shutdown());
    eprintln!(
        "trial {trial}: kills {}; ambiguous {ambiguous} ({} reached the server); 429s {}; paid {} for {JOBS}",
        kills.len(),
        orphans.len(),
        stats.counters.rate_limited,
        stats.counters.accepted
    );
    (ambiguous, orphans.len())
}

fn assert_one_image_per_prompt(dir: &Path) {
    let mut per_job: BTreeMap<String, usize> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".jpeg") {
            *per_job.entry(name[..4].to_owned()).or_default() += 1;
            let bytes = std::fs::read(dir.join(&name)).unwrap();
            assert!(bytes.starts_with(b"\xff\xd8\xff"), "{name} is not a JPEG");
        }
    }
    assert_eq!(per_job.len(), JOBS);
    assert!(per_job.values().all(|&n| n == 1));
}

#[test]
fn sigkill_five_times_then_resume_loses_nothing_and_pays_once() {
    let trials: u64 = std::env::var("BFL_CRASH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let (mut ambiguous, mut orphans) = (0, 0);
    for trial in 0..trials {
        let (a, o) = crash_trial(trial);
        ambiguous += a;
        orphans += o;
    }
    eprintln!("{trials} trials: {ambiguous} ambiguous jobs, {orphans} of them paid");
}
