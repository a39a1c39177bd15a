//! The vision stage: takes frames from the hand-off queue, scores each on the
//! classifier's own OS thread (`vision::VisionWorker`) and sends the scored
//! frame to decision. With `crop_to_print` (a calibrated camera, no fixed
//! `[vision] roi`), while the decision stage publishes the expected print's
//! region of interest (`StatusBoard::overlay`), the region is cropped (on the
//! blocking pool) and classified too: the frame's scores are those of the pass
//! with the higher failure probability, its brightness and fingerprint those of
//! the whole frame, and its latency the sum.
//!
//! Channel policy: scored frames go to decision on a bounded **lossless**
//! channel (`send` waits); when decision is slow, the wait propagates to the
//! hand-off queue, which drops the oldest frames. A frame that cannot be
//! decoded is logged by the worker, counted and skipped. A worker that stops
//! (its thread died, or the watchdog gave up on a stuck inference) is an
//! error: the supervisor restarts this stage and the pool starts a new worker.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::app::status::StatusBoard;
use crate::app::supervisor::StageExit;
use crate::capture::FrameQueue;
use crate::domain::{Frame, FrameScore};
use crate::vision::{
    AnyClassifier, Classifier, RemoteCounts, VisionConfig, VisionError, VisionHandle, VisionWorker, WorkerOptions,
};

/// A frame with its scores, on its way to decision.
#[derive(Debug, Clone)]
pub struct Scored {
    pub frame: Frame,
    pub score: FrameScore,
}

/// Builds a classifier (on the blocking pool: loading a model takes a while).
pub type ClassifierFactory = Arc<dyn Fn() -> Result<Box<dyn Classifier>, VisionError> + Send + Sync>;

/// The real classifier from `[vision]` (the built-in model unless configured; `backend` picks ONNX Runtime
/// here or an inference server).
pub fn onnx_factory(cfg: VisionConfig) -> ClassifierFactory {
    Arc::new(move || Ok(Box::new(AnyClassifier::from_config(&cfg)?) as Box<dyn Classifier>))
}

struct Boxed(Box<dyn Classifier>);

impl Classifier for Boxed {
    fn labels(&self) -> &[Arc<str>] {
        self.0.labels()
    }

    fn classify(&mut self, frame: &Frame) -> Result<crate::domain::FrameScore, VisionError> {
        self.0.classify(frame)
    }

    fn remote_counts(&self) -> Option<RemoteCounts> {
        self.0.remote_counts()
    }
}

/// The current vision worker, started on first use and again after it stopped. With several
/// printers (`app::farm`) every camera's vision stage shares one pool: one model in memory, one
/// inference thread, frames served in arrival order.
pub struct VisionPool {
    factory: ClassifierFactory,
    current: Mutex<Option<VisionHandle>>,
    /// Held while a worker starts, so several cameras asking at once load the model once.
    starting: tokio::sync::Mutex<()>,
    cancel: CancellationToken,
}

impl VisionPool {
    pub fn new(factory: ClassifierFactory, cancel: CancellationToken) -> Arc<VisionPool> {
        Arc::new(VisionPool { factory, current: Mutex::new(None), starting: tokio::sync::Mutex::new(()), cancel })
    }

    /// The running worker, if any (for the watchdog).
    pub fn current(&self) -> Option<VisionHandle> {
        self.current.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The running worker, or a new one when there is none or it stopped.
    pub async fn get(&self) -> Result<VisionHandle, VisionError> {
        let _starting = self.starting.lock().await;
        if let Some(h) = self.current() {
            if h.health().alive {
                return Ok(h);
            }
            h.stop();
        }
        let factory = self.factory.clone();
        let started = std::time::Instant::now();
        let classifier = tokio::task::spawn_blocking(move || factory())
            .await
            .map_err(|e| VisionError::Runtime(format!("model loading task failed: {e}")))??;
        let opts = WorkerOptions { queue: 1, cancel: self.cancel.child_token(), name: "vision".into() };
        let handle = VisionWorker::spawn_with(Boxed(classifier), opts)?;
        tracing::info!(
            labels = ?handle.labels(),
            load_ms = started.elapsed().as_millis() as u64,
            "vision worker started"
        );
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle.clone());
        Ok(handle)
    }

    /// Gives up on the current worker (stuck in an inference): its pending
    /// `classify` returns `Stopped`, and the next `get` starts a new one. The
    /// old thread ends once the stuck call returns.
    pub fn abandon(&self) {
        if let Some(h) = self.current.lock().unwrap_or_else(|p| p.into_inner()).take() {
            h.stop();
        }
    }

    /// Stops the worker and waits up to `limit` for its thread (after the frame in hand); a worker
    /// stuck in an inference is left behind, so a stuck model never holds up the daemon's exit.
    pub async fn shutdown(&self, limit: std::time::Duration) {
        let h = self.current.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = h
            && !h.shutdown_within(limit).await
        {
            tracing::warn!(stage = "vision", limit_s = limit.as_secs(), "vision worker still busy; not waiting for it");
        }
    }
}

/// The whole frame's score and, with a print ROI, the crop's: the rule of the stage's doc.
async fn classify(
    worker: &VisionHandle,
    frame: &Frame,
    crop_to_print: bool,
    board: &StatusBoard,
) -> Result<FrameScore, VisionError> {
    let mut whole = worker.classify(frame.clone()).await?;
    let overlay = crop_to_print.then(|| board.overlay()).flatten();
    let Some((roi, size)) = overlay.and_then(|o| o.roi.map(|r| (r, (o.width, o.height)))) else { return Ok(whole) };
    let image = frame.image.clone();
    let t0 = std::time::Instant::now();
    let cropped = match tokio::task::spawn_blocking(move || crate::vision::crop(&image, roi, size)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            tracing::debug!(frame_seq = frame.seq, error = %e, "cannot crop the print: whole frame only");
            return Ok(whole);
        }
        Err(e) => {
            tracing::warn!(error = %e, "the crop task failed: whole frame only");
            return Ok(whole);
        }
    };
    let crop_ms = t0.elapsed().as_secs_f32() * 1000.0;
    let part = Frame { image: crate::domain::FrameImage::Rgb(Arc::new(cropped)), ..frame.clone() };
    let s = worker.classify(part).await?;
    whole.latency_ms += crop_ms + s.latency_ms;
    if s.scores.failure > whole.scores.failure {
        whole.scores = s.scores;
    }
    Ok(whole)
}

pub async fn run(
    pool: Arc<VisionPool>,
    handoff: Arc<FrameQueue>,
    scored: mpsc::Sender<Scored>,
    board: Arc<StatusBoard>,
    crop_to_print: bool,
    cancel: CancellationToken,
) -> anyhow::Result<StageExit> {
    let worker = pool.get().await?;
    loop {
        let frame = tokio::select! {
            _ = cancel.cancelled() => return Ok(StageExit::Stopped),
            f = handoff.pop() => match f {
                Some(f) => f,
                None => return Ok(StageExit::Finished),
            },
        };
        let seq = frame.seq;
        let result = tokio::select! {
            _ = cancel.cancelled() => return Ok(StageExit::Stopped),
            r = classify(&worker, &frame, crop_to_print, &board) => r,
        };
        match result {
            Ok(score) => {
                board.record_latency(score.latency_ms);
                tracing::trace!(frame_seq = seq, failure = score.scores.failure, "frame scored");
                tokio::select! {
                    _ = cancel.cancelled() => return Ok(StageExit::Stopped),
                    sent = scored.send(Scored { frame, score }) => if sent.is_err() {
                        anyhow::bail!("decision is gone");
                    }
                }
            }
            Err(VisionError::Stopped) => anyhow::bail!("the vision worker stopped"),
            // Bad frames and inference errors are logged (rate-limited) and counted by the worker.
            Err(_) => {}
        }
    }
}
