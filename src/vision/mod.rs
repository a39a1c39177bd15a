//! Frames to calibrated failure scores: preprocessing and ONNX inference.
//!
//! Owns the model description (`models/classifier.toml`), preprocessing (crop to
//! the region of interest, resize, RGB/255), ONNX Runtime sessions via `ort`
//! (loaded dynamically from the set-up's library), and running inference on a
//! dedicated thread so the async runtime never blocks. Must not depend on
//! capture sources, decision, printer or actions.

mod config;

pub use config::{Roi, VisionConfig};

use crate::domain::{Frame, FrameScore};

/// Why a frame could not be scored, or a model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    #[error("frame {seq}: cannot decode image: {reason}")]
    Decode { seq: u64, reason: String },
    #[error("model {path}: {reason}")]
    Model { path: String, reason: String },
    #[error("onnx runtime: {0}")]
    Runtime(String),
}

/// Scores frames. Implementations are synchronous and run on their own thread.
pub trait Classifier: Send {
    /// Class labels in output order.
    fn labels(&self) -> &[std::sync::Arc<str>];
    fn classify(&mut self, frame: &Frame) -> Result<FrameScore, VisionError>;
}
