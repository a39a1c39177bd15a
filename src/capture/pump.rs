//! The frame pump: drives one `FrameSource` as a task and fans its frames out
//! without ever making the source wait.
//!
//! ```text
//!  source ──next_frame()──► pump task ──send_replace──► watch<Option<Frame>>  (live view: every frame)
//!                                │
//!                                └──► sampler ──one per interval──► FrameQueue (drop-oldest, counted) ──► next()
//! ```
//!
//! The live-view watch follows the source's native rate. The consumer
//! (inference) gets at most one frame per `interval_ms`: the newest at that
//! moment, or the first one to arrive after the interval has passed. With no
//! interval every frame goes to the queue (offline evaluation, tests).
//! Frames that are never queued (sampled out, dropped) leave gaps in `seq`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::queue::FrameQueue;
use super::stats::{CaptureState, CaptureStats, FpsMeter};
use super::{CameraConfig, CaptureError, FrameSource};
use crate::domain::{Frame, Timestamp};

/// How the pump hands frames to its consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PumpConfig {
    /// At most one frame per this interval goes to the queue; `None`: every frame.
    pub sample_interval: Option<Duration>,
    /// Queue capacity (at least 1); the oldest frame is dropped when it is full.
    pub queue: usize,
}

impl PumpConfig {
    /// `interval_ms` and `queue` from `[camera]`.
    pub fn from_camera(cfg: &CameraConfig) -> Self {
        PumpConfig { sample_interval: Some(Duration::from_millis(cfg.interval_ms.max(1))), queue: cfg.queue }
    }

    /// Every frame to the queue (drop-oldest still applies when the consumer lags).
    pub fn every_frame(queue: usize) -> Self {
        PumpConfig { sample_interval: None, queue }
    }
}

/// Why a pump stopped.
#[derive(Debug)]
pub enum PumpExit {
    /// Its cancellation token fired, or its handle was dropped.
    Cancelled,
    /// A finite source ran out of frames.
    Ended,
    /// The source cannot work; the error says why.
    Failed(CaptureError),
}

/// The consumer's side of a running pump. Dropping it stops the pump.
#[derive(Debug)]
pub struct CaptureHandle {
    name: Arc<str>,
    queue: Arc<FrameQueue>,
    latest: watch::Receiver<Option<Frame>>,
    stats: Arc<CaptureStats>,
    task: Mutex<Option<JoinHandle<PumpExit>>>,
    stop: Option<DropGuard>,
}

impl CaptureHandle {
    /// The next sampled frame, waiting for it; `None` once the pump has stopped and
    /// the queue is drained. Several consumers may call it: each frame goes to one.
    /// Cancel-safe.
    pub async fn next(&self) -> Option<Frame> {
        self.queue.pop().await
    }

    /// A receiver of the newest frame at the source's native rate, for the live view
    /// and snapshots. `None` until the first frame.
    pub fn latest(&self) -> watch::Receiver<Option<Frame>> {
        self.latest.clone()
    }

    pub fn stats(&self) -> Arc<CaptureStats> {
        self.stats.clone()
    }

    /// The source's name, as found in `Frame::source`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Frames waiting in the queue.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Waits until the pump stops (by itself or by cancellation) and says why.
    pub async fn join(mut self) -> PumpExit {
        // Joining must not stop the pump: disarm the drop guard first.
        if let Some(g) = self.stop.take() {
            let _ = g.disarm();
        }
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        match task {
            Some(t) => match t.await {
                Ok(exit) => exit,
                Err(e) => PumpExit::Failed(CaptureError::Fatal {
                    source_name: self.name.to_string(),
                    message: format!("capture task failed: {e}"),
                }),
            },
            None => PumpExit::Cancelled,
        }
    }
}

/// Starts pumping `source` until it ends, fails, `cancel` fires or the handle is dropped.
///
/// # Panics
/// Like `tokio::spawn`, when called outside a Tokio runtime.
pub fn spawn(source: Box<dyn FrameSource>, cfg: PumpConfig, cancel: CancellationToken) -> CaptureHandle {
    let stats = source.stats();
    let name: Arc<str> = source.name().into();
    let queue = Arc::new(FrameQueue::new(cfg.queue, stats.clone()));
    let (latest_tx, latest_rx) = watch::channel(None);
    let token = cancel.child_token();
    let task = tokio::spawn(run(source, cfg, latest_tx, queue.clone(), stats.clone(), token.clone()));
    CaptureHandle {
        name,
        queue,
        latest: latest_rx,
        stats,
        task: Mutex::new(Some(task)),
        stop: Some(token.drop_guard()),
    }
}

async fn run(
    mut source: Box<dyn FrameSource>,
    cfg: PumpConfig,
    latest_tx: watch::Sender<Option<Frame>>,
    queue: Arc<FrameQueue>,
    stats: Arc<CaptureStats>,
    cancel: CancellationToken,
) -> PumpExit {
    let camera: Arc<str> = source.name().into();
    let sampler = cfg
        .sample_interval
        .map(|every| tokio::spawn(sample(latest_tx.subscribe(), queue.clone(), every, cancel.clone())));
    let direct = sampler.is_none();
    stats.set_state(CaptureState::Starting);
    let mut fps = FpsMeter::new();
    tracing::debug!(camera = &*camera, "capture started");
    let exit = loop {
        let next = tokio::select! {
            biased;
            _ = cancel.cancelled() => break PumpExit::Cancelled,
            r = source.next_frame() => r,
        };
        match next {
            Ok(frame) => {
                stats.record_frame(Timestamp::now());
                stats.set_state(CaptureState::Streaming);
                if let Some(rate) = fps.tick(std::time::Instant::now()) {
                    stats.set_fps(rate);
                }
                if direct {
                    queue.push(frame.clone());
                }
                latest_tx.send_replace(Some(frame));
            }
            Err(CaptureError::Ended) => break PumpExit::Ended,
            Err(CaptureError::Cancelled) => break PumpExit::Cancelled,
            Err(e @ CaptureError::Fatal { .. }) => break PumpExit::Failed(e),
        }
    };
    match &exit {
        PumpExit::Cancelled => stats.set_state(CaptureState::Stopped),
        PumpExit::Ended => {
            stats.set_state(CaptureState::Ended);
            tracing::info!(camera = &*camera, frames = stats.frames(), "capture source ended");
        }
        PumpExit::Failed(e) => {
            stats.record_error(e.to_string());
            stats.set_state(CaptureState::Failed);
            tracing::error!(camera = &*camera, error = %e, "capture source failed");
        }
    }
    // Closing the watch lets the sampler hand over the last frame and finish.
    drop(latest_tx);
    drop(source);
    if let Some(s) = sampler {
        let _ = s.await;
    }
    queue.close();
    exit
}

/// Moves the newest frame to the queue at most once per `every`.
async fn sample(
    mut rx: watch::Receiver<Option<Frame>>,
    queue: Arc<FrameQueue>,
    every: Duration,
    cancel: CancellationToken,
) {
    let mut next_due: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            changed = rx.changed() => if changed.is_err() { return },
        }
        if let Some(due) = next_due {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep_until(due) => {}
            }
        }
        let newest = rx.borrow_and_update().clone();
        if let Some(frame) = newest {
            queue.push(frame);
            next_due = Some(tokio::time::Instant::now() + every);
        }
    }
}

#[cfg(test)]
#[path = "pump_tests.rs"]
mod tests;
