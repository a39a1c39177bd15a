//! Frames to calibrated failure scores: preprocessing and ONNX inference.
//!
//! Owns the model description (`models/classifier.toml`, `model`), finding ONNX
//! Runtime (`runtime`), preprocessing (`jpeg` checks, `turbo`: libjpeg-turbo
//! decoding that refuses corrupt data, `preprocess`: crop to the region of
//! interest, stretch resize, RGB/255), the ONNX classifier (`onnx`),
//! the remote backend that sends the same tensor to a KServe v2 / Triton server
//! with a local fallback (`kserve`), choosing between the two (`AnyClassifier`,
//! `[vision] backend`), a scripted fake for other modules' tests (`fake`), and running inference on
//! a dedicated thread so the async runtime never blocks (`worker`); plus the
//! geometry checks' grey frames (`grey`, shared by the daemon and `eval`). Must not
//! depend on capture sources, decision, printer or actions.
//!
//! Typical use:
//! ```no_run
//! # async fn demo(cfg: &layerwatch::vision::VisionConfig, frame: layerwatch::domain::Frame)
//! #     -> Result<(), layerwatch::vision::VisionError> {
//! use layerwatch::vision::{OnnxClassifier, VisionWorker};
//! let handle = VisionWorker::spawn(OnnxClassifier::from_config(cfg)?)?;
//! let score = handle.classify(frame).await?;
//! println!("failure probability {:.2}", score.scores.failure);
//! # Ok(()) }
//! ```

mod config;
pub mod fake;
pub mod grey;
pub mod jpeg;
pub mod kserve;
pub mod model;
pub mod onnx;
pub mod preprocess;
pub mod runtime;
pub mod turbo;
pub mod worker;

pub use config::{Backend, Fallback, Precision, RemoteConfig, Roi, VisionConfig};
pub use fake::{FakeClassifier, FakeStep};
pub use grey::{GreyError, crop, grey_for_checks};
pub use kserve::{RemoteClassifier, RemoteCounts};
pub use model::{Model, ModelSource, ModelSpec};
pub use onnx::{ClassifierOptions, OnnxClassifier};
pub use preprocess::{DecodeKind, Preprocessor};
pub use worker::{VisionHandle, VisionWorker, WorkerHealth, WorkerOptions};

use crate::domain::{Frame, FrameScore};

/// Why a frame could not be scored, or a model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    /// The frame's bytes are not a usable image; `kind` says which way for counting.
    #[error("frame {seq}: cannot decode image: {reason}")]
    Decode { seq: u64, kind: DecodeKind, reason: String },
    /// The model description or file is missing, wrong or does not match the graph.
    #[error("model {path}: {reason}")]
    Model { path: String, reason: String },
    /// ONNX Runtime is missing or failed.
    #[error("onnx runtime: {0}")]
    Runtime(String),
    /// The vision worker is shutting down or gone.
    #[error("vision worker stopped")]
    Stopped,
}

/// Scores frames. Implementations are synchronous and run on their own thread.
pub trait Classifier: Send {
    /// Class labels in output order.
    fn labels(&self) -> &[std::sync::Arc<str>];
    fn classify(&mut self, frame: &Frame) -> Result<FrameScore, VisionError>;
    /// A remote backend's counts (server answered, failed, frame scored locally instead); `None` for a local one.
    fn remote_counts(&self) -> Option<RemoteCounts> {
        None
    }
}

/// The classifier `[vision] backend` names: ONNX Runtime here, or an inference server.
#[derive(Debug)]
pub enum AnyClassifier {
    Local(Box<OnnxClassifier>),
    Remote(Box<RemoteClassifier>),
}

impl AnyClassifier {
    /// Loads the configured backend (blocking: model loading, and a remote server's metadata check).
    pub fn from_config(cfg: &VisionConfig) -> Result<AnyClassifier, VisionError> {
        Ok(match cfg.backend {
            Backend::Local => AnyClassifier::Local(Box::new(OnnxClassifier::from_config(cfg)?)),
            Backend::Kserve => AnyClassifier::Remote(Box::new(RemoteClassifier::from_config(cfg)?)),
        })
    }

    pub fn spec(&self) -> &ModelSpec {
        match self {
            AnyClassifier::Local(c) => c.spec(),
            AnyClassifier::Remote(c) => c.spec(),
        }
    }
}

impl Classifier for AnyClassifier {
    fn labels(&self) -> &[std::sync::Arc<str>] {
        match self {
            AnyClassifier::Local(c) => c.labels(),
            AnyClassifier::Remote(c) => c.labels(),
        }
    }

    fn classify(&mut self, frame: &Frame) -> Result<FrameScore, VisionError> {
        match self {
            AnyClassifier::Local(c) => c.classify(frame),
            AnyClassifier::Remote(c) => c.classify(frame),
        }
    }

    fn remote_counts(&self) -> Option<RemoteCounts> {
        match self {
            AnyClassifier::Local(c) => c.remote_counts(),
            AnyClassifier::Remote(c) => c.remote_counts(),
        }
    }
}
