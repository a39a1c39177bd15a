//! Frames in: cameras, streams, files and replays behind one `FrameSource` trait.
//!
//! Owns talking to image sources (V4L2/UVC via nokhwa, MJPEG-over-HTTP and
//! snapshot URLs via reqwest, RTSP and video files via OpenCV, image folders),
//! timestamping frames, reconnecting with backoff, and the bounded drop-oldest
//! frame queue. It never decodes for inference and never blocks the pipeline.
//! Must not depend on vision, decision, printer or actions.

mod config;

use async_trait::async_trait;

pub use config::{CameraConfig, SourceKind};

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
/// with backoff on transient faults (which it logs and counts); it returns an
/// error only when the source ended or cannot work at all.
#[async_trait]
pub trait FrameSource: Send {
    fn name(&self) -> &str;
    async fn next_frame(&mut self) -> Result<Frame, CaptureError>;
}
