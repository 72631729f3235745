#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // a test waits on the wall clock
//! Paid work on every path a user takes — a resume with no journal, another spelling of the
//! host, Ctrl-C, a full disk, a deleted image, a failed job retried — judged by the simulator's
//! ground truth (charges, 429s, downloads), the images on disk and the exit code.

mod support;

use bfl_sim::{SimConfig, SimServer};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "bfl_paid_work_test";

/// A standalone simulator on its own runtime; dropping it (server first, then the runtime that
/// runs it) stops it.
struct Sim {
    server: SimServer,
    _runtime: tokio::runtime::Runtime,
}

impl Sim {
    fn start(json: &str) -> Sim {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = rt
            .block_on(SimServer::start(SimConfig::from_json(json).unwrap()))
            .unwrap();
        Sim {
            server,
            _runtime: rt,
        }
    }
    fn accepted(&self) -> u64 {
        self.server.stats().counters.accepted
    }
}

fn prompts(dir: &Path, lines: &[&str]) {
    std::fs::write(dir.join("prompts.txt"), lines.join("\n") + "\n").unwrap();
}

/// `bfl ARGS… --base-url BASE` in `dir`, with a key, its output captured.
fn keyed(dir: &Path, base: &str, args: &[&str]) -> Command {
    let mut cmd = support::bfl(dir);
    cmd.env("BFL_API_KEY", KEY)
        .args(args)
        .args(["--base-url", base])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn batch(dir: &Path, base: &str, extra: &[&str]) -> Command {
    let args = [
        &["batch", "prompts.txt", "--out", "imgs", "--no-progress"],
        extra,
    ]
    .concat();
    keyed(dir, base, &args)
}

fn images(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("imgs"))
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".jpeg"))
            })
            .count()
        })
        .unwrap_or(0)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Sends SIGINT (as Ctrl-C does) to a child.
fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits until `path` holds at least `n` lines containing `needle`.
fn wait_for_lines(path: &Path, needle: &str, n: usize) {
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        let count = std::fs::read_to_string(path)
            .map(|t| t.lines().filter(|l| l.contains(needle)).count())
            .unwrap_or(0);
        if count >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{} never held {n} lines with {needle}", path.display());
}

#[test]
fn resume_without_a_journal_is_an_error_and_pays_nothing() {
    let sim = Sim::start(r#"{"seed": 1}"#);
    let dir = support::temp_dir("paid", "no-journal");
    prompts(&dir, &["a fox"]);
    let out = batch(&dir, &sim.server.base_url(), &["--resume"])
        .output()
        .unwrap();
    support::assert_exit(&out, 2);
    assert!(text(&out).contains("no journal at"), "{}", text(&out));
    assert_eq!(sim.accepted(), 0);
}

#[test]
fn another_spelling_of_the_host_is_refused_by_name_then_allowed_without_losing_a_task() {
    let sim = Sim::start(r#"{"seed": 2, "durations": {"*": "lognormal:3.0,0.2"}}"#);
    let dir = support::temp_dir("paid", "spelling");
    let lines: Vec<String> = (0..30).map(|i| format!("prompt {i}")).collect();
    prompts(&dir, &lines.iter().map(String::as_str).collect::<Vec<_>>());
    let base = sim.server.base_url();
    let journal = dir.join("imgs/bfl-journal.jsonl");
    let mut child = batch(&dir, &base, &[]).spawn().unwrap();
    // Killed once the first 24 are accepted and before any finishes (3 s jobs): no submit is in
    // flight, so nothing is ambiguous and every paid task must come back through the resume.
    wait_for_lines(&journal, "\"submitted\"", 24);
    child.kill().unwrap();
    child.wait().unwrap();

    let other = base.replace("127.0.0.1", "localhost");
    let out = batch(&dir, &other, &["--resume"]).output().unwrap();
    support::assert_exit(&out, 2);
    let said = text(&out);
    assert!(said.contains(&base) && said.contains(&other), "{said}");
    let paid = sim.accepted();

    // Told it is the same server: the 127.0.0.1 polling URLs are polled by id at localhost.
    let out = batch(&dir, &other, &["--resume", "--allow-new-base", "--json"])
        .output()
        .unwrap();
    support::assert_exit(&out, 0);
    assert_eq!(images(&dir), 30);
    assert_eq!(
        sim.accepted(),
        30,
        "paid {paid} before; every task paid once"
    );
    let stats = sim.server.stats();
    assert_eq!(stats.counters.keys_sent_to_delivery, 0);
}

#[test]
fn ctrl_c_finishes_the_paid_tasks_and_a_second_stops_at_once_naming_each_task() {
    let sim = Sim::start(r#"{"seed": 3, "durations": {"*": "lognormal:2.0,0.2"}}"#);
    let dir = support::temp_dir("paid", "ctrl-c");
    let lines: Vec<String> = (0..60).map(|i| format!("prompt {i}")).collect();
    prompts(&dir, &lines.iter().map(String::as_str).collect::<Vec<_>>());
    let base = sim.server.base_url();
    let journal = dir.join("imgs/bfl-journal.jsonl");

    // One Ctrl-C: no new submits; the paid tasks in flight finish; exit 130.
    let child = batch(&dir, &base, &["--json"]).spawn().unwrap();
    wait_for_lines(&journal, "\"submitted\"", 5);
    interrupt(&child);
    let out = child.wait_with_output().unwrap();
    support::assert_exit(&out, 130);
    let summary = support::stdout_json(&out);
    assert_eq!(summary["interrupted"], true);
    let paid = sim.accepted();
    assert!(paid < 60, "the interrupt stopped nothing: {paid} paid");
    assert_eq!(
        images(&dir) as u64,
        paid,
        "every paid task in flight was finished"
    );
    assert_eq!(summary["unfinished"], serde_json::json!([]));

    // Two Ctrl-Cs: stops at once and names every unfinished task with its command.
    let child = batch(&dir, &base, &["--resume"]).spawn().unwrap();
    wait_for_lines(&journal, "\"submitted\"", paid as usize + 5);
    interrupt(&child);
    // Long enough for the submits in flight at the first Ctrl-C to be answered (else a POST cut
    // by the second is rightly ambiguous, and this test is about naming paid tasks).
    std::thread::sleep(Duration::from_millis(500));
    interrupt(&child);
    let out = child.wait_with_output().unwrap();
    support::assert_exit(&out, 130);
    let said = text(&out);
    assert!(said.contains("interrupted: no new submits"), "{said}");
    let named = said.matches("bfl resume ").count();
    let paid_now = sim.accepted() as usize;
    assert_eq!(
        named,
        paid_now - images(&dir),
        "each paid task without its image is named: {said}"
    );

    // And a plain resume finishes the batch, paying for nothing twice.
    let out = batch(&dir, &base, &["--resume"]).output().unwrap();
    support::assert_exit(&out, 0);
    assert_eq!(images(&dir), 60);
    assert_eq!(sim.accepted(), 60);
    assert!(sim.server.stats().counters.rate_limited <= 2);
}

#[test]
fn an_interrupted_generate_prints_its_paid_task_and_bfl_resume_gets_the_image() {
    let sim = Sim::start(r#"{"seed": 4, "durations": {"*": "fixed:3.0"}}"#);
    let dir = support::temp_dir("paid", "generate");
    let base = sim.server.base_url();
    let args = ["generate", "a fox", "--out", "fox.jpeg", "--json"];
    let child = keyed(&dir, &base, &args).spawn().unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    while sim.accepted() == 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    interrupt(&child);
    let out = child.wait_with_output().unwrap();
    support::assert_exit(&out, 130);
    let v = support::stdout_json(&out);
    assert_eq!(v["may_have_been_charged"], true);
    let id = v["id"].as_str().unwrap().to_owned();
    let url = v["polling_url"].as_str().unwrap().to_owned();

    let args = ["resume", &id, "--polling-url", &url, "--out", "fox.jpeg"];
    let out = keyed(&dir, &base, &args).output().unwrap();
    support::assert_exit(&out, 0);
    let bytes = std::fs::read(dir.join("fox.jpeg")).unwrap();
    assert!(bytes.starts_with(b"\xff\xd8\xff"));
    assert_eq!(sim.accepted(), 1, "paid once");
}

#[test]
fn generate_refuses_a_directory_before_paying() {
    let sim = Sim::start(r#"{"seed": 5}"#);
    let dir = support::temp_dir("paid", "gen-dir");
    std::fs::create_dir_all(dir.join("existing.jpeg")).unwrap();
    let args = ["generate", "a fox", "--out", "existing.jpeg"];
    let out = keyed(&dir, &sim.server.base_url(), &args).output().unwrap();
    support::assert_exit(&out, 2);
    assert!(text(&out).contains("directory"), "{}", text(&out));
    assert_eq!(sim.server.stats().counters.submits, 0);
}

#[test]
fn a_deleted_image_is_fetched_again_and_a_failed_job_is_retried_only_when_asked() {
    let sim = Sim::start(r#"{"seed": 6, "durations": {"*": "fixed:0.5"}}"#);
    let dir = support::temp_dir("paid", "refetch");
    prompts(&dir, &["a fox", "a cat sim:error", "an owl"]);
    let base = sim.server.base_url();
    let out = batch(&dir, &base, &[]).output().unwrap();
    support::assert_exit(&out, 1);
    assert_eq!(images(&dir), 2);
    assert_eq!(sim.accepted(), 3);

    let fox = dir.join("imgs/0001-a-fox.jpeg");
    std::fs::remove_file(&fox).unwrap();
    let downloads = sim.server.stats().counters.downloads;
    let out = batch(&dir, &base, &["--resume", "--json"])
        .output()
        .unwrap();
    support::assert_exit(&out, 1); // the failed job is still failed
    assert!(fox.exists(), "the deleted image was not fetched again");
    assert_eq!(sim.accepted(), 3, "fetching again pays nothing");
    assert_eq!(sim.server.stats().counters.downloads, downloads + 1);
    let summary = support::stdout_json(&out);
    assert_eq!(summary["failed"]["generation_failed"], 1);

    let out = batch(&dir, &base, &["--resume", "--retry-failed"])
        .output()
        .unwrap();
    assert!(text(&out).contains("pays again"), "{}", text(&out));
    assert_eq!(sim.accepted(), 4, "exactly the failed job was paid again");
}

#[test]
fn an_interrupted_sim_batch_resumes_to_completion() {
    let dir = support::temp_dir("paid", "sim-resume");
    let lines: Vec<String> = (0..10).map(|i| format!("prompt {i}")).collect();
    prompts(&dir, &lines.iter().map(String::as_str).collect::<Vec<_>>());
    let sim_batch = |extra: &[&str]| {
        let mut cmd = support::bfl(&dir);
        cmd.args([
            "batch",
            "prompts.txt",
            "--sim",
            "--out",
            "imgs",
            "--no-progress",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        cmd
    };
    let journal = dir.join("imgs/bfl-journal.jsonl");
    let child = sim_batch(&[]).spawn().unwrap();
    wait_for_lines(&journal, "\"submitted\"", 3);
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(100));
    interrupt(&child);
    support::assert_exit(&child.wait_with_output().unwrap(), 130);
    let before = images(&dir);
    assert!(before < 10);
    let out = sim_batch(&["--resume"]).output().unwrap();
    support::assert_exit(&out, 0);
    assert!(
        text(&out).contains("no money is at stake"),
        "{}",
        text(&out)
    );
    assert_eq!(images(&dir), 10);
}

/// Mounts a tmpfs of `size` at `dir` (root only); `false` where this machine cannot.
fn mount_tmpfs(dir: &Path, size: &str) -> bool {
    std::fs::create_dir_all(dir).unwrap();
    Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Writes a file until the disk is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 4096];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
}

#[test]
fn a_full_disk_stops_new_submits_and_a_resume_after_freeing_space_pays_nothing_twice() {
    let dir = support::temp_dir("paid", "full-disk");
    let imgs = dir.join("imgs");
    if !mount_tmpfs(&imgs, "8m") {
        eprintln!(
            "skipped: cannot mount a tmpfs here (needs root); the full-disk path is untested"
        );
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&imgs);
    let sim = Sim::start(r#"{"seed": 7, "durations": {"*": "lognormal:2.0,0.2"}}"#);
    let lines: Vec<String> = (0..60).map(|i| format!("prompt {i}")).collect();
    prompts(&dir, &lines.iter().map(String::as_str).collect::<Vec<_>>());
    let base = sim.server.base_url();
    let journal = imgs.join("bfl-journal.jsonl");
    let child = batch(&dir, &base, &["--json"]).spawn().unwrap();
    wait_for_lines(&journal, "\"submitted\"", 10);
    let filler = imgs.join("filler");
    fill(&filler);
    let out = child.wait_with_output().unwrap();
    support::assert_exit(&out, 1);
    let summary = support::stdout_json(&out);
    assert!(summary["stopped"].is_string(), "{summary}");
    let paid = sim.accepted();
    assert!(paid < 60, "submits went on with the disk full: {paid} paid");
    // Every paid task is in the journal: nothing was lost to the full disk.
    let journal_text = std::fs::read_to_string(&journal).unwrap();
    let journaled = journal_text
        .lines()
        .filter(|l| l.contains("\"submitted\""))
        .count() as u64;
    assert_eq!(journaled, paid);

    std::fs::remove_file(&filler).unwrap();
    let out = batch(&dir, &base, &["--resume"]).output().unwrap();
    support::assert_exit(&out, 0);
    assert_eq!(images(&dir), 60);
    assert_eq!(sim.accepted(), 60, "a job was paid twice");
    assert_eq!(sim.server.stats().counters.expired_downloads, 0);
}

#[test]
fn a_submit_that_timed_out_says_it_may_have_been_charged() {
    let sim = Sim::start(r#"{"seed": 8, "faults": {"lost_answer": {"submit": 1.0}}}"#);
    let dir = support::temp_dir("paid", "timeout");
    let args = [
        "generate",
        "a fox",
        "--out",
        "fox.jpeg",
        "--json",
        "--timeout",
        "2",
    ];
    let out = keyed(&dir, &sim.server.base_url(), &args).output().unwrap();
    support::assert_exit(&out, 1);
    let v = support::stdout_json(&out);
    assert_eq!(v["may_have_been_charged"], true, "{v}");
    assert_eq!(sim.accepted(), 1, "the server did take it");
    assert_eq!(sim.server.stats().counters.submits, 1, "never resent");
}

#[test]
fn a_batch_whose_every_polling_url_is_foreign_is_journaled_and_finished_at_the_api_host() {
    let sim =
        Sim::start(r#"{"seed": 9, "polling_host": "hostile", "durations": {"*": "fixed:0.5"}}"#);
    let dir = support::temp_dir("paid", "foreign");
    let lines: Vec<String> = (0..30).map(|i| format!("prompt {i}")).collect();
    prompts(&dir, &lines.iter().map(String::as_str).collect::<Vec<_>>());
    let out = batch(&dir, &sim.server.base_url(), &[]).output().unwrap();
    support::assert_exit(&out, 0);
    assert_eq!(images(&dir), 30);
    assert_eq!(sim.accepted(), 30);
    let journal = std::fs::read_to_string(dir.join("imgs/bfl-journal.jsonl")).unwrap();
    assert_eq!(journal.matches("\"submitted\"").count(), 30);
    let stats = sim.server.stats();
    assert_eq!(stats.counters.keys_sent_to_hostile, 0);
    assert!(stats
        .requests
        .iter()
        .all(|r| r.host != sim.server.hostile_authority()));
}

#[test]
fn credits_running_out_stops_the_batch_charges_nothing_twice_and_says_what_to_do() {
    // 30 credits, 3 a task: ten can be paid for. The twenty submits go out at once (the key's
    // limit is 24), so the server takes ten and refuses ten with 402.
    let sim = Sim::start(r#"{"seed": 9, "credits": 30, "durations": {"*": "fixed:0.5"}}"#);
    let dir = support::temp_dir("paid", "credits");
    let lines: Vec<String> = (1..=20).map(|i| format!("prompt number {i}")).collect();
    prompts(&dir, &lines.iter().map(String::as_str).collect::<Vec<_>>());
    let base = sim.server.base_url();
    let out = batch(&dir, &base, &[]).output().unwrap();
    support::assert_exit(&out, 4);
    let counters = sim.server.stats().counters;
    assert_eq!((counters.accepted, counters.payment_required), (10, 10));
    assert_eq!(counters.submits, 20, "a 402 is never retried");
    assert_eq!(images(&dir), 10, "every paid task's image is on disk");
    let said = text(&out);
    assert!(said.contains("insufficient credits (402)"), "{said}");
    assert!(
        said.contains("10 job(s) not taken (nothing charged for them)")
            && said.contains("--resume"),
        "{said}"
    );

    // A resume while the key is still empty pays nothing and re-downloads nothing: only the
    // ten refused jobs are tried again, and refused again.
    let downloads = counters.downloads;
    let out = batch(&dir, &base, &["--resume"]).output().unwrap();
    support::assert_exit(&out, 4);
    let counters = sim.server.stats().counters;
    assert_eq!(counters.accepted, 10, "nothing paid twice");
    assert_eq!(counters.downloads, downloads, "no image fetched twice");
    assert!(
        counters.submits <= 30,
        "only the refused jobs were tried again"
    );
    assert_eq!(images(&dir), 10);
}
