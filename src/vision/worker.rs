//! The vision worker: one OS thread that owns the classifier, fed from async code.
//!
//! Owns the thread, its bounded queue (async callers wait for a slot: this
//! queue is lossless; dropping frames is capture's job, upstream), the one-shot
//! replies, a heartbeat a watchdog can read (what is running and for how long),
//! and shutdown: the thread ends when the token is cancelled or every handle is
//! dropped, after the frame in hand. A panic inside the classifier is caught,
//! reported as an error for that frame, counted, and the thread carries on.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio_util::sync::CancellationToken;

use super::{Classifier, RemoteCounts, VisionError};
use crate::domain::{Frame, FrameScore};

/// How often an idle worker looks at its cancellation token.
const IDLE_POLL: Duration = Duration::from_millis(100);

/// Options for [`VisionWorker::spawn_with`].
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Frames that may wait for the classifier (at least 1).
    pub queue: usize,
    /// Cancelling stops the worker after the frame in hand.
    pub cancel: CancellationToken,
    /// Thread name, for `top` and panics.
    pub name: String,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            queue: 2,
            cancel: CancellationToken::new(),
            name: "vision".into(),
        }
    }
}

/// What a watchdog sees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorkerHealth {
    /// How long the frame now being classified has been running (`None` when idle).
    pub busy_for: Option<Duration>,
    /// Time since the last inference finished (`None` before the first).
    pub since_last: Option<Duration>,
    pub classified: u64,
    pub failed: u64,
    pub panics: u64,
    /// False once the thread has ended.
    pub alive: bool,
    /// A remote backend's counts, as of the last frame (`None` for a local classifier).
    pub remote: Option<RemoteCounts>,
}

struct Job {
    frame: Frame,
    reply: oneshot::Sender<Result<FrameScore, VisionError>>,
    _slot: OwnedSemaphorePermit,
}

/// Counters shared between the thread and the handles. Times are microseconds
/// since `epoch` plus one (0 means "never"/"idle").
struct Shared {
    epoch: Instant,
    busy_since: AtomicU64,
    last_done: AtomicU64,
    classified: AtomicU64,
    failed: AtomicU64,
    panics: AtomicU64,
    alive: AtomicBool,
    remote: Mutex<Option<RemoteCounts>>,
}

impl Shared {
    fn stamp(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64 + 1
    }

    fn age(&self, stamp: u64) -> Option<Duration> {
        (stamp != 0).then(|| Duration::from_micros(self.stamp().saturating_sub(stamp)))
    }
}

/// Starts vision workers.
pub struct VisionWorker;

impl VisionWorker {
    /// Spawns the worker thread with default options (queue of 2, its own token).
    pub fn spawn<C: Classifier + 'static>(classifier: C) -> Result<VisionHandle, VisionError> {
        VisionWorker::spawn_with(classifier, WorkerOptions::default())
    }

    pub fn spawn_with<C: Classifier + 'static>(
        classifier: C,
        opts: WorkerOptions,
    ) -> Result<VisionHandle, VisionError> {
        let labels: Arc<[Arc<str>]> = classifier.labels().into();
        let shared = Arc::new(Shared {
            epoch: Instant::now(),
            busy_since: AtomicU64::new(0),
            last_done: AtomicU64::new(0),
            classified: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            alive: AtomicBool::new(true),
            remote: Mutex::new(classifier.remote_counts()),
        });
        let (tx, rx) = mpsc::channel::<Job>();
        let cancel = opts.cancel.clone();
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name(opts.name.clone())
            .spawn(move || run(classifier, rx, thread_shared, cancel))
            .map_err(|e| VisionError::Runtime(format!("cannot start the vision thread: {e}")))?;
        Ok(VisionHandle {
            tx,
            slots: Arc::new(Semaphore::new(opts.queue.max(1))),
            shared,
            labels,
            cancel: opts.cancel,
            thread: Arc::new(Mutex::new(Some(thread))),
        })
    }
}

fn run<C: Classifier>(mut classifier: C, rx: mpsc::Receiver<Job>, shared: Arc<Shared>, cancel: CancellationToken) {
    let _alive = AliveGuard(shared.clone());
    let mut failing_in_a_row: u64 = 0;
    loop {
        if cancel.is_cancelled() {
            tracing::debug!("vision worker cancelled");
            break;
        }
        let job = match rx.recv_timeout(IDLE_POLL) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => {
                tracing::debug!("vision worker: every handle dropped");
                break;
            }
        };
        if job.reply.is_closed() {
            continue; // the caller gave up (cancelled or timed out); do not spend an inference on it
        }
        shared.busy_since.store(shared.stamp(), Ordering::Release);
        let seq = job.frame.seq;
        let result = match catch_unwind(AssertUnwindSafe(|| classifier.classify(&job.frame))) {
            Ok(r) => r,
            Err(panic) => {
                shared.panics.fetch_add(1, Ordering::Relaxed);
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                tracing::error!(frame_seq = seq, panic = %msg, "classifier panicked; frame dropped, worker continues");
                Err(VisionError::Runtime(format!("classifier panicked: {msg}")))
            }
        };
        shared.busy_since.store(0, Ordering::Release);
        shared.last_done.store(shared.stamp(), Ordering::Release);
        if let Some(counts) = classifier.remote_counts() {
            *shared.remote.lock().unwrap_or_else(|p| p.into_inner()) = Some(counts);
        }
        match &result {
            Ok(_) => {
                shared.classified.fetch_add(1, Ordering::Relaxed);
                if failing_in_a_row > 0 {
                    tracing::info!(frames_failed = failing_in_a_row, "frames are being scored again");
                }
                failing_in_a_row = 0;
            }
            Err(e) => {
                shared.failed.fetch_add(1, Ordering::Relaxed);
                failing_in_a_row += 1;
                // A camera sending bad frames would flood the log: say it at 1, 10, 100… in a row.
                if is_power_of_ten(failing_in_a_row) {
                    tracing::warn!(frame_seq = seq, frames_failed = failing_in_a_row, error = %e, "frame not scored");
                } else {
                    tracing::debug!(frame_seq = seq, frames_failed = failing_in_a_row, error = %e, "frame not scored");
                }
            }
        }
        let _ = job.reply.send(result); // the caller may have stopped waiting; nothing to do then
    }
}

fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

struct AliveGuard(Arc<Shared>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.alive.store(false, Ordering::Release);
    }
}

/// Async access to a vision worker. Clones share the worker; it stops when the
/// token is cancelled or the last clone is dropped.
#[derive(Clone)]
pub struct VisionHandle {
    tx: mpsc::Sender<Job>,
    slots: Arc<Semaphore>,
    shared: Arc<Shared>,
    labels: Arc<[Arc<str>]>,
    cancel: CancellationToken,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl std::fmt::Debug for VisionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VisionHandle").field("health", &self.health()).finish()
    }
}

impl VisionHandle {
    /// Scores one frame on the worker thread. Waits for a queue slot, then for the result.
    /// `Err(VisionError::Stopped)` once the worker is shutting down.
    pub async fn classify(&self, frame: Frame) -> Result<FrameScore, VisionError> {
        let slot = tokio::select! {
            s = self.slots.clone().acquire_owned() => s.map_err(|_| VisionError::Stopped)?,
            _ = self.cancel.cancelled() => return Err(VisionError::Stopped),
        };
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job {
                frame,
                reply,
                _slot: slot,
            })
            .map_err(|_| VisionError::Stopped)?;
        tokio::select! {
            r = rx => r.unwrap_or(Err(VisionError::Stopped)),
            _ = self.cancel.cancelled() => Err(VisionError::Stopped),
        }
    }

    /// Class labels in the classifier's output order.
    pub fn labels(&self) -> &[Arc<str>] {
        &self.labels
    }

    /// The heartbeat: a watchdog restarts the worker when `busy_for` grows too long or `alive` is false.
    pub fn health(&self) -> WorkerHealth {
        let s = &self.shared;
        WorkerHealth {
            busy_for: s.age(s.busy_since.load(Ordering::Acquire)),
            since_last: s.age(s.last_done.load(Ordering::Acquire)),
            classified: s.classified.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            panics: s.panics.load(Ordering::Relaxed),
            alive: s.alive.load(Ordering::Acquire),
            remote: *s.remote.lock().unwrap_or_else(|p| p.into_inner()),
        }
    }

    /// Asks the worker to stop after the frame in hand; pending and later calls get `Stopped`.
    pub fn stop(&self) {
        self.cancel.cancel();
        self.slots.close();
    }

    /// Stops the worker and waits for its thread to end (off the async runtime).
    pub async fn shutdown(self) {
        self.stop();
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = thread {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }

    /// Stops the worker and waits at most `limit` for its thread to end; false when it is still
    /// inside a call (a stuck inference): the thread is left to end when the call returns, or
    /// with the process. Nothing blocking is left behind on the runtime.
    pub async fn shutdown_within(self, limit: Duration) -> bool {
        self.stop();
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        let Some(t) = thread else { return true };
        let deadline = tokio::time::Instant::now() + limit;
        while !t.is_finished() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = t.join();
        true
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn failures_are_logged_at_powers_of_ten() {
        let logged: Vec<u64> = (1..=2000).filter(|n| super::is_power_of_ten(*n)).collect();
        assert_eq!(logged, [1, 10, 100, 1000]);
    }
}
