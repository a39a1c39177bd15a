//! Frames in: cameras, streams, files and replays behind one `FrameSource` trait.
//!
//! Owns talking to image sources (V4L2/UVC via nokhwa, MJPEG-over-HTTP and
//! snapshot URLs via reqwest, RTSP and video files via OpenCV, image folders),
//! timestamping frames, reconnecting with backoff, and the bounded drop-oldest
//! frame queue. It never decodes JPEG for inference and never blocks the pipeline.
//! Must not depend on vision, decision, printer or actions.
//!
//! Typical use (the daemon):
//! ```no_run
//! # async fn demo(cfg: layerwatch::capture::CameraConfig) -> Result<(), layerwatch::capture::CaptureError> {
//! use tokio_util::sync::CancellationToken;
//! use layerwatch::capture::{self, PumpConfig};
//! let cancel = CancellationToken::new();
//! let source = capture::build_source(&cfg)?;
//! let frames = capture::spawn(source, PumpConfig::from_camera(&cfg), cancel.clone());
//! let live = frames.latest();               // watch::Receiver<Option<Frame>> for the dashboard
//! while let Some(frame) = frames.next().await {
//!     // at most one frame per interval_ms, the newest one
//! #   let _ = (&frame, &live);
//! }
//! # Ok(()) }
//! ```

mod common;
mod config;
pub mod cv;
pub mod fake;
pub mod folder;
pub mod http;
pub mod image_file;
pub mod jpeg;
pub mod mjpeg;
pub mod opencv_video;
pub mod pixels;
mod pump;
mod queue;
mod reconnect;
mod rtsp_probe;
pub mod snapshot;
mod stats;
pub mod v4l2;

use std::sync::Arc;

use async_trait::async_trait;

pub use common::SourceCore;
pub use config::{CameraConfig, SourceKind, V4l2Format};
pub use folder::{FolderOptions, FolderSource};
pub use mjpeg::MjpegSource;
pub use opencv_video::OpenCvSource;
pub use pump::{CaptureHandle, PumpConfig, PumpExit, spawn};
pub use queue::FrameQueue;
pub use snapshot::SnapshotSource;
pub use stats::{CaptureState, CaptureStats, LastError, StatsSnapshot};
pub use v4l2::{DeviceFormat, DeviceInfo, V4l2Source, list_devices};

use crate::domain::Frame;

/// Why a source could not give a frame.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// A finite source (file, folder, replay) has no more frames.
    #[error("end of stream")]
    Ended,
    /// The source cannot be used at all (bad config, no such device); retrying will not help.
    #[error("{source_name}: {message}")]
    Fatal { source_name: String, message: String },
    #[error("shut down")]
    Cancelled,
}

/// A source of frames. `next_frame` waits for the next frame, reconnecting
/// with backoff on transient faults (which it logs and counts in `stats`); it
/// returns an error only when the source ended or cannot work at all.
///
/// Frames carry the source's name and a per-source `seq` starting at 0.
/// `next_frame` may be cancelled (dropped) at any await point; the pump only
/// does so when shutting down.
#[async_trait]
pub trait FrameSource: Send {
    /// The source's name, counters and frame numbering, which every source keeps
    /// the same way.
    fn core(&self) -> &SourceCore;
    fn name(&self) -> &str {
        self.core().name()
    }
    /// The counters this source updates (bad frames, reconnects, last error); the
    /// pump adds frames, drops, fps and state to the same struct.
    fn stats(&self) -> Arc<CaptureStats> {
        self.core().stats()
    }
    async fn next_frame(&mut self) -> Result<Frame, CaptureError>;
}

/// Builds the source `[camera]` describes. Cheap checks happen now (URL syntax,
/// file and folder existence, device string); connecting happens on the first
/// `next_frame`, so a camera that is still booting is retried, not fatal.
pub fn build_source(cfg: &CameraConfig) -> Result<Box<dyn FrameSource>, CaptureError> {
    Ok(match cfg.source {
        SourceKind::Mjpeg => Box::new(MjpegSource::from_config(cfg)?),
        SourceKind::Snapshot => Box::new(SnapshotSource::from_config(cfg)?),
        SourceKind::Rtsp | SourceKind::Video => Box::new(OpenCvSource::from_config(cfg)?),
        SourceKind::Folder => Box::new(FolderSource::from_config(cfg)?),
        SourceKind::V4l2 => Box::new(V4l2Source::from_config(cfg)?),
    })
}

/// `build_source` + `spawn` with the pump settings from the same `[camera]`.
///
/// # Panics
/// Like `tokio::spawn`, when called outside a Tokio runtime.
pub fn start(cfg: &CameraConfig, cancel: tokio_util::sync::CancellationToken) -> Result<CaptureHandle, CaptureError> {
    let source = build_source(cfg)?;
    Ok(spawn(source, PumpConfig::from_camera(cfg), cancel))
}
