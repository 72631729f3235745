#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Crash safety of `bfl batch`: SIGKILL it at several moments against a standalone simulator,
//! resume each time, and check from the simulator's ground truth that every prompt got exactly
//! one image and was paid for once (apart from submits caught in the ambiguous window, which the
//! journal names).

mod support;

use bfl_sim::{SimConfig, SimServer};
use std::collections::{BTreeMap, HashMap};
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
            "--resume",
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
    let out = batch(dir, base, &[extra, &["--json"]].concat())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "resume failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

/// Jobs whose last `submitting` record has no `submitted` after it, read straight from the
/// journal's lines (independently of the code under test).
fn ambiguous_jobs(journal: &Path) -> usize {
    let text = std::fs::read_to_string(journal).unwrap();
    let mut open: HashMap<u64, bool> = HashMap::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(index) = v["index"].as_u64() else {
            continue;
        };
        match v["event"].as_str() {
            Some("submitting") => {
                open.entry(index).or_insert(true);
            }
            Some("submitted") => {
                open.insert(index, false);
            }
            _ => {}
        }
    }
    open.values().filter(|&&o| o).count()
}

#[test]
fn sigkill_at_many_moments_then_resume_loses_nothing_and_pays_once() {
    let dir = support::temp_dir("crash", "kill");
    let prompts: String = (0..JOBS).map(|i| format!("prompt number {i}\n")).collect();
    std::fs::write(dir.join("prompts.txt"), prompts).unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = SimConfig::from_json(
        r#"{"seed": 11, "durations": {"*": "lognormal:2.0,0.3"}, "queue_delay": "fixed:0.1"}"#,
    )
    .unwrap();
    let server = rt.block_on(SimServer::start(config)).unwrap();
    let base = server.base_url();

    // Kill at growing offsets into each run; every run resumes the one before.
    let mut kills = 0;
    for delay_ms in [150u64, 400, 700, 1000, 1300, 1600, 2000] {
        let mut child = batch(&dir, &base, &["--no-progress"]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL: no destructor, no flush, no goodbye
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert!(kills >= 5, "only {kills} kills landed while the batch ran");

    // Resume to the end without paying again for anything: ambiguous jobs are only reported.
    let summary = finish(&dir, &base, &[]);
    let ambiguous = summary["ambiguous"].as_u64().unwrap() as usize;
    assert_eq!(
        summary["images_written"].as_u64().unwrap() + summary["already_done"].as_u64().unwrap(),
        (JOBS - ambiguous) as u64
    );
    let paid_before = server.stats().counters.accepted as usize;
    // Every journaled job was paid exactly once; an ambiguous one at most once, unknowingly.
    assert!(
        (JOBS - ambiguous..=JOBS).contains(&paid_before),
        "{paid_before} tasks accepted for {JOBS} prompts, {ambiguous} ambiguous"
    );
    assert_eq!(
        ambiguous,
        ambiguous_jobs(&dir.join("imgs/bfl-journal.jsonl"))
    );

    // Asked to, a resume pays once more for exactly the ambiguous jobs, and completes the batch.
    let summary = finish(&dir, &base, &["--resubmit-ambiguous"]);
    assert_eq!(summary["ambiguous"], 0);
    assert_eq!(summary["run"], ambiguous);
    let paid_after = server.stats().counters.accepted as usize;
    assert_eq!(paid_after, paid_before + ambiguous);

    // Exactly one image per prompt on disk.
    let mut per_job: BTreeMap<String, usize> = BTreeMap::new();
    for entry in std::fs::read_dir(dir.join("imgs")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".jpeg") {
            *per_job.entry(name[..4].to_owned()).or_default() += 1;
            let bytes = std::fs::read(dir.join("imgs").join(&name)).unwrap();
            assert!(bytes.starts_with(b"\xff\xd8\xff"), "{name} is not a JPEG");
        }
    }
    assert_eq!(per_job.len(), JOBS);
    assert!(per_job.values().all(|&n| n == 1));

    let stats = server.stats();
    assert_eq!(stats.counters.keys_sent_to_delivery, 0);
    assert_eq!(stats.counters.expired_downloads, 0);
    eprintln!(
        "kills: {kills}; ambiguous jobs: {ambiguous} ({} of them reached the server); \
         tasks paid: {paid_after} for {JOBS} prompts",
        paid_before - (JOBS - ambiguous)
    );
    rt.block_on(server.shutdown());
}
