//! The capture stage: runs the configured camera source through the capture
//! pump and hands each sampled frame to vision through the hand-off queue.
//!
//! Channel policy: **lossy**. The pump already samples one frame per
//! `camera.interval_ms`; the hand-off queue between capture and vision holds
//! a few frames and drops the oldest (counted) when inference lags, so the
//! camera never waits and vision always gets recent frames. The queue
//! outlives restarts of either stage. A source that fails is an error (the
//! supervisor restarts it with backoff); one that ends (a file) finishes.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::app::status::StatusBoard;
use crate::app::supervisor::StageExit;
use crate::capture::{self, CameraConfig, FrameQueue, PumpExit};

pub async fn run(
    cfg: CameraConfig,
    handoff: Arc<FrameQueue>,
    handoff_stats: Arc<capture::CaptureStats>,
    board: Arc<StatusBoard>,
    cancel: CancellationToken,
) -> anyhow::Result<StageExit> {
    let handle = capture::start(&cfg, cancel.child_token())?;
    board.set_camera(handle.stats());
    tracing::info!(camera = handle.name(), source = ?cfg.source, interval_ms = cfg.interval_ms, "capture started");
    loop {
        let frame = tokio::select! {
            _ = cancel.cancelled() => return Ok(StageExit::Stopped),
            f = handle.next() => f,
        };
        match frame {
            Some(frame) => {
                if let Some(old) = handoff.push(frame) {
                    tracing::debug!(
                        camera = &*old.source,
                        frame_seq = old.seq,
                        "vision busy: dropped the oldest frame"
                    );
                }
                board.record_handoff_drops(handoff_stats.dropped());
            }
            None => break,
        }
    }
    match handle.join().await {
        PumpExit::Cancelled => Ok(StageExit::Stopped),
        PumpExit::Ended => Ok(StageExit::Finished),
        PumpExit::Failed(e) => Err(anyhow::Error::new(e).context("camera source failed")),
    }
}
