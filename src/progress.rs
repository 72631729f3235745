//! Live counters of a batch, shown as a progress bar (on a terminal) or as a plain line every
//! few seconds (CI logs, `--no-progress`), and kept for the summary.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Seconds between plain progress lines (default 10), for logs without a terminal.
pub const EVERY_VAR: &str = "BFL_PROGRESS_EVERY";

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

/// A progress bar over the counters on a terminal; otherwise (`visible` false) a plain line on
/// stderr at most every [`EVERY_VAR`] seconds, so a CI log shows a long batch moving.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    /// Plain lines: the interval, and the elapsed time of the last line.
    plain: Option<(Duration, Mutex<Duration>)>,
}

impl Progress {
    /// Progress over `jobs` jobs.
    pub fn new(jobs: u64, visible: bool) -> Progress {
        let bar = ProgressBar::with_draw_target(
            Some(jobs),
            if visible {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        // A short fixed bar and a message cut to the terminal's width: nothing wraps at 80 columns.
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} {elapsed_precise} {bar:16} {pos}/{len} {wide_msg}",
        ) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        let plain = (!visible).then(|| (plain_interval(), Mutex::new(Duration::ZERO)));
        if visible {
            on_screen(Some(bar.clone()));
        }
        Progress { bar, plain }
    }

    /// Redraws the message from the counters (or prints it, when its interval has passed).
    pub fn update(&self, c: &Counters) {
        let done = Counters::get(&c.done);
        let failed = Counters::get(&c.failed);
        self.bar.set_position(done + failed);
        // indicatif's estimate reads "0s" before anything finished: shown once it means something.
        let eta = if done + failed > 0 {
            format!(" · ETA {} s", self.bar.eta().as_secs())
        } else {
            String::new()
        };
        let message = format!(
            // The most telling first: at 80 columns the end is cut.
            "done {done} · failed {failed} · active {}{eta} · 429s {} · submitted {}",
            c.active(),
            Counters::get(&c.rate_limited),
            Counters::get(&c.submitted),
        );
        if let Some((every, last)) = &self.plain {
            let now = self.bar.elapsed();
            if let Ok(mut last) = last.lock() {
                if now.saturating_sub(*last) >= *every {
                    *last = now;
                    eprintln!(
                        "[{:>5.0} s] {}/{} {message}",
                        now.as_secs_f64(),
                        done + failed,
                        self.bar.length().unwrap_or(0)
                    );
                }
            }
        }
        self.bar.set_message(message);
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
        on_screen(None);
        self.bar.finish_and_clear();
    }
}

fn plain_interval() -> Duration {
    std::env::var(EVERY_VAR)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(Duration::from_secs(10), Duration::from_secs_f64)
}

/// One generation's status on stderr: a spinner line on a terminal; otherwise a plain line each
/// time the status (or the server's progress, by tenths) changes.
#[derive(Debug)]
pub struct TaskStatus {
    bar: Option<ProgressBar>,
    last: String,
}

impl TaskStatus {
    /// A status line; `bar` for a terminal, else plain lines.
    pub fn new(bar: bool) -> TaskStatus {
        let bar = bar.then(|| {
            let b = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}") {
                b.set_style(style);
            }
            b.enable_steady_tick(Duration::from_millis(200));
            on_screen(Some(b.clone()));
            b
        });
        TaskStatus {
            bar,
            last: String::new(),
        }
    }

    /// Shows where the task stands.
    pub fn show(&mut self, p: &bfl_core::Progress) {
        let id = p.task_id.as_deref().map(bfl_core::server_text);
        let status = p.status.as_ref().map_or("submitted", |s| s.as_str());
        let pending = p.status.as_ref().is_none_or(|s| !s.is_terminal());
        let progress = p
            .progress
            .filter(|_| pending)
            .map(|f| format!(" {:.0}%", (f.clamp(0.0, 1.0) * 10.0).floor() * 10.0))
            .unwrap_or_default();
        let line = format!(
            "task {}: {}{progress}",
            id.as_deref().unwrap_or("?"),
            bfl_core::server_text(status)
        );
        match &self.bar {
            Some(bar) => bar.set_message(format!("{line} · {} polls", p.polls)),
            None if line != self.last => eprintln!("{line}"),
            None => {}
        }
        self.last = line;
    }

    /// Removes the spinner.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            on_screen(None);
            bar.finish_and_clear();
        }
    }
}

impl Drop for TaskStatus {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The bar on the terminal now, if any: log lines (`-v`) are written around it, so none leaves a
/// stale copy of the bar in the scrollback.
static ON_SCREEN: std::sync::Mutex<Option<ProgressBar>> = std::sync::Mutex::new(None);

fn on_screen(bar: Option<ProgressBar>) {
    if let Ok(mut current) = ON_SCREEN.lock() {
        *current = bar;
    }
}

/// Stderr for the log (a `tracing_subscriber` writer): each write hides the bar on the
/// terminal, if there is one, writes, and redraws it.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = ON_SCREEN.lock().ok().and_then(|b| b.clone());
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf))?,
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
