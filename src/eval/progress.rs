//! Progress on long runs: a bar with rate and ETA on stderr when stderr is a
//! terminal; otherwise an `info` log line every 10 %, so CI logs show that a
//! run is alive without drowning in redraws. Cheap to clone and to share
//! between worker threads.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress reporter for `len` steps.
#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
    what: Arc<str>,
    len: u64,
    done: Arc<AtomicU64>,
    logged_tenths: Arc<AtomicU64>,
    quiet: bool,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Progress({}, {}/{})", self.what, self.done.load(Ordering::Relaxed), self.len)
    }
}

impl Progress {
    /// A bar (terminal) or 10 % log lines (otherwise).
    pub fn new(len: u64, what: &str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
            if let Ok(style) =
                ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} {per_sec:>9} ETA {eta_precise}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(what.to_string());
            bar
        });
        Progress { bar, what: Arc::from(what), len, done: Arc::default(), logged_tenths: Arc::default(), quiet: false }
    }

    /// Reports nothing (tests, benchmarks, library callers).
    pub fn hidden(len: u64) -> Progress {
        Progress {
            bar: None,
            what: Arc::from(""),
            len,
            done: Arc::default(),
            logged_tenths: Arc::default(),
            quiet: true,
        }
    }

    pub fn inc(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(b) = &self.bar {
            b.inc(n);
        } else if !self.quiet && self.len > 0 {
            let tenths = done * 10 / self.len;
            let prev = self.logged_tenths.fetch_max(tenths, Ordering::Relaxed);
            if tenths > prev {
                tracing::info!(task = %self.what, done, total = self.len, "progress {}%", tenths * 10);
            }
        }
    }

    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
