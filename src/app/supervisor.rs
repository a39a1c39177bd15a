//! Stage supervision: each stage runs as its own task; a stage that returns an
//! error or panics is logged at `error!`, counted, and restarted with backoff,
//! at most `RestartBudget::max` times within `window`. Past the budget the
//! supervisor cancels the whole daemon and records why, so `app::run` exits
//! non-zero and the service manager restarts the process: better no daemon
//! than a daemon without eyes.
//!
//! The budget arithmetic (`RestartBudget`) is pure; `Supervisor::spawn` ties
//! it to tokio, the status board and the cancellation token.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::RngExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::status::StatusBoard;
use crate::net::Backoff;

/// The daemon's stages: a closed set, named in logs, the API and restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Connects (and reconnects) the printer link and mirrors its status.
    Printer,
    /// Drives the camera source and hands sampled frames to vision (lossy).
    Capture,
    /// Feeds frames to the classifier thread and scored frames to decision.
    Vision,
    /// The `Decider`: scored frames + printer status + G-code → verdicts.
    Decision,
    /// The action engine and its alert outbox.
    Actions,
    /// The HTTP API.
    Web,
    /// Watches the others: stuck inference, outbox backlog, counters.
    Watchdog,
}

impl Stage {
    pub const ALL: [Stage; 7] =
        [Stage::Printer, Stage::Capture, Stage::Vision, Stage::Decision, Stage::Actions, Stage::Web, Stage::Watchdog];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Printer => "printer",
            Stage::Capture => "capture",
            Stage::Vision => "vision",
            Stage::Decision => "decision",
            Stage::Actions => "actions",
            Stage::Web => "web",
            Stage::Watchdog => "watchdog",
        }
    }
}

/// How a stage ended without crashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageExit {
    /// It saw the cancellation token.
    Stopped,
    /// It has nothing more to do (a finite camera source ended); not restarted.
    Finished,
}

/// At most `max` restarts within any `window`.
#[derive(Debug, Clone)]
pub struct RestartBudget {
    pub max: u32,
    pub window: Duration,
    crashes: VecDeque<Instant>,
}

impl RestartBudget {
    pub fn new(max: u32, window: Duration) -> Self {
        RestartBudget { max, window, crashes: VecDeque::new() }
    }

    /// Records a crash at `now`; true while a restart is still allowed.
    pub fn allow(&mut self, now: Instant) -> bool {
        while self.crashes.front().is_some_and(|t| now.saturating_duration_since(*t) > self.window) {
            self.crashes.pop_front();
        }
        self.crashes.push_back(now);
        self.crashes.len() as u32 <= self.max
    }
}

/// Restart policy for every stage.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub max_restarts: u32,
    pub window: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_restarts: 5,
            window: Duration::from_secs(60),
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
        }
    }
}

/// Why the daemon gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fatal {
    pub stage: Stage,
    pub crashes: u32,
    pub window: Duration,
    pub last_error: String,
}

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stage {} crashed {} times within {} s (last: {})",
            self.stage.name(),
            self.crashes,
            self.window.as_secs(),
            self.last_error
        )
    }
}

/// Spawns and restarts stages of one group (one stop token, one tracker);
/// a stage past its budget cancels the root token, which stops every group.
#[derive(Clone)]
pub struct Supervisor {
    /// Stops this group's stages.
    cancel: CancellationToken,
    /// Cancelled when any stage runs out of restarts.
    root: CancellationToken,
    tracker: TaskTracker,
    board: Arc<StatusBoard>,
    policy: Policy,
    fatal: Arc<Mutex<Option<Fatal>>>,
}

impl Supervisor {
    /// The root group: `root` stops its stages and is cancelled on a fatal crash.
    pub fn new(root: CancellationToken, tracker: TaskTracker, board: Arc<StatusBoard>, policy: Policy) -> Self {
        Supervisor { cancel: root.clone(), root, tracker, board, policy, fatal: Arc::new(Mutex::new(None)) }
    }

    /// Another group stopped by `stop` (shut down later than the root group),
    /// sharing the root token, the board and the fatal record.
    pub fn group(&self, stop: CancellationToken, tracker: TaskTracker) -> Supervisor {
        Supervisor { cancel: stop, tracker, ..self.clone() }
    }

    /// The first stage that ran out of restarts, if any.
    pub fn fatal(&self) -> Option<Fatal> {
        self.fatal.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Runs `make()` as stage `stage` until the token fires, restarting it
    /// (with a fresh `make()`) after every crash within the budget.
    pub fn spawn<F, Fut>(&self, stage: Stage, mut make: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<StageExit>> + Send + 'static,
    {
        let this = self.clone();
        self.tracker.spawn(async move {
            let p = this.policy;
            let mut budget = RestartBudget::new(p.max_restarts, p.window);
            let mut backoff = Backoff::new(p.backoff_initial, p.backoff_max);
            loop {
                this.board.stage_running(stage);
                let started = Instant::now();
                let outcome = tokio::spawn(make()).await;
                if this.cancel.is_cancelled() {
                    this.board.stage_stopped(stage);
                    return;
                }
                let error = match outcome {
                    Ok(Ok(StageExit::Finished)) => {
                        tracing::info!(stage = stage.name(), "stage finished");
                        this.board.stage_finished(stage);
                        return;
                    }
                    Ok(Ok(StageExit::Stopped)) => "stopped without being asked to".to_string(),
                    Ok(Err(e)) => format!("{e:#}"),
                    Err(join) if join.is_panic() => format!("panicked: {}", panic_text(join.into_panic())),
                    Err(join) => format!("task ended: {join}"),
                };
                // A stage that ran fine for a long while starts its backoff afresh.
                if started.elapsed() > p.window {
                    backoff.reset();
                }
                let restarts = this.board.stage_crashed(stage, &error);
                if !budget.allow(Instant::now()) {
                    tracing::error!(
                        stage = stage.name(),
                        error = %error,
                        restarts,
                        window_s = p.window.as_secs(),
                        "stage keeps crashing: stopping the daemon"
                    );
                    let fatal = Fatal { stage, crashes: restarts, window: p.window, last_error: error };
                    self::set_fatal(&this.fatal, fatal);
                    this.board.stage_failed(stage);
                    this.root.cancel();
                    return;
                }
                let delay = backoff.next_delay(rand::rng().random::<f64>());
                tracing::error!(
                    stage = stage.name(),
                    error = %error,
                    restarts,
                    retry_in_ms = delay.as_millis() as u64,
                    "stage crashed: restarting"
                );
                tokio::select! {
                    _ = this.cancel.cancelled() => {
                        this.board.stage_stopped(stage);
                        return;
                    }
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        });
    }
}

fn set_fatal(slot: &Mutex<Option<Fatal>>, fatal: Fatal) {
    let mut g = slot.lock().unwrap_or_else(|p| p.into_inner());
    if g.is_none() {
        *g = Some(fatal);
    }
}

/// The message of a panic payload.
pub fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn budget_allows_max_within_the_window_and_forgets_old_crashes() {
        let mut b = RestartBudget::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!((0..3).all(|i| b.allow(t0 + Duration::from_secs(i))));
        assert!(!b.allow(t0 + Duration::from_secs(10)), "fourth crash within a minute");
        let mut b = RestartBudget::new(3, Duration::from_secs(60));
        for i in 0..10 {
            assert!(b.allow(t0 + Duration::from_secs(i * 30)), "one crash every 30 s stays within 3 a minute");
        }
    }

    fn fast() -> Policy {
        Policy {
            max_restarts: 3,
            window: Duration::from_secs(60),
            backoff_initial: Duration::from_millis(1),
            backoff_max: Duration::from_millis(5),
        }
    }

    #[tokio::test]
    async fn a_crashing_stage_is_restarted_then_the_daemon_gives_up() {
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let board = Arc::new(StatusBoard::for_tests());
        let sup = Supervisor::new(cancel.clone(), tracker.clone(), board.clone(), fast());
        let runs = Arc::new(AtomicU32::new(0));
        let r = runs.clone();
        sup.spawn(Stage::Vision, move || {
            let n = r.fetch_add(1, Ordering::SeqCst);
            async move {
                if n % 2 == 0 {
                    anyhow::bail!("boom {n}");
                }
                panic!("kaboom {n}");
            }
        });
        tracker.close();
        tokio::time::timeout(Duration::from_secs(10), tracker.wait()).await.expect("gave up in time");
        assert!(cancel.is_cancelled(), "giving up cancels the daemon");
        assert_eq!(runs.load(Ordering::SeqCst), 4, "first run + 3 restarts");
        let fatal = sup.fatal().expect("fatal recorded");
        assert_eq!(fatal.stage, Stage::Vision);
        assert_eq!(fatal.last_error, "panicked: kaboom 3");
        let st = board.stage(Stage::Vision);
        assert_eq!(st.restarts, 4);
        assert_eq!(st.state.name(), "failed");
    }

    #[tokio::test]
    async fn a_stage_that_recovers_keeps_running_and_stops_on_cancel() {
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let board = Arc::new(StatusBoard::for_tests());
        let sup = Supervisor::new(cancel.clone(), tracker.clone(), board.clone(), fast());
        let runs = Arc::new(AtomicU32::new(0));
        let (r, c) = (runs.clone(), cancel.clone());
        sup.spawn(Stage::Web, move || {
            let n = r.fetch_add(1, Ordering::SeqCst);
            let c = c.clone();
            async move {
                if n == 0 {
                    anyhow::bail!("first start fails");
                }
                c.cancelled().await;
                Ok(StageExit::Stopped)
            }
        });
        tracker.close();
        let restarted = async {
            while runs.load(Ordering::SeqCst) < 2 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), restarted).await.expect("restarted");
        assert_eq!(board.stage(Stage::Web).state.name(), "running");
        assert_eq!(board.stage(Stage::Web).restarts, 1);
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), tracker.wait()).await.expect("stopped");
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert!(sup.fatal().is_none());
        assert_eq!(board.stage(Stage::Web).state.name(), "stopped");
    }
}
