//! Live counters of a batch, shown as a progress bar (on a terminal) and kept for the summary.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counts of a running batch.
#[derive(Debug, Default)]
pub struct Counters {
    /// Jobs the server accepted.
    pub submitted: AtomicU64,
    /// Jobs terminal on the server (their active slot is free).
    pub terminal: AtomicU64,
    /// Jobs with their image on disk.
    pub done: AtomicU64,
    /// Jobs that ended without an image.
    pub failed: AtomicU64,
    /// 429 answers.
    pub rate_limited: AtomicU64,
}

impl Counters {
    fn get(n: &AtomicU64) -> u64 {
        n.load(Ordering::Relaxed)
    }
    /// Adds one to a counter.
    pub fn bump(n: &AtomicU64) {
        n.fetch_add(1, Ordering::Relaxed);
    }
    /// Jobs submitted and not yet terminal.
    pub fn active(&self) -> u64 {
        Self::get(&self.submitted).saturating_sub(Self::get(&self.terminal))
    }
}

/// A progress bar over the counters; hidden when stderr is not a terminal or when asked.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar over `jobs` jobs.
    pub fn new(jobs: u64, visible: bool) -> Progress {
        let bar = ProgressBar::with_draw_target(
            Some(jobs),
            if visible {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg} ETA {eta}",
        ) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar }
    }

    /// Redraws the message from the counters.
    pub fn update(&self, c: &Counters) {
        let done = Counters::get(&c.done);
        let failed = Counters::get(&c.failed);
        self.bar.set_position(done + failed);
        self.bar.set_message(format!(
            "submitted {} · active {} · done {done} · failed {failed} · 429s {}",
            Counters::get(&c.submitted),
            c.active(),
            Counters::get(&c.rate_limited),
        ));
    }

    /// Prints a line above the bar (on stderr alone when the bar is hidden).
    pub fn println(&self, line: impl AsRef<str>) {
        if self.bar.is_hidden() {
            eprintln!("{}", line.as_ref());
        } else {
            self.bar.println(line);
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
