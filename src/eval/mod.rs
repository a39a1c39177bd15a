//! Offline evaluation on recorded datasets with the daemon's own code:
//! `capture::FolderSource` replay → `vision` classifier → pure `decision`
//! on a simulated clock (timestamps from the data, never `now()`).
//!
//! Must not depend on `printer`, `actions` or `web`.
//!
//! - [`dataset`]: the formats (labelled images; recorded sequences) and importers.
//! - [`score`]: the model on all cores, once per frame.
//! - [`images`] and [`metrics`]: ROC/PR, AUROC/AUPRC, recall at FPR, ECE, confusion, breakdowns.
//! - [`replay`], [`sequences`], [`sweep`]: decision replays, detection and
//!   false-alarm rates, the operating-point sweep and calibration files.
//! - [`report`] and [`compare`]: the JSON report (`docs/eval-report.md`) and the HTML page.
//! - [`synth`]: synthetic sequences assembled from labelled stills and a sliced file.
//! - [`record`]: writing a live camera (and printer) to a sequence.
//! - [`render`]: sequences drawn from a G-code file through a calibrated camera, with injected failures.
//! - [`geometry`]: the geometry checks replayed over sequences that have a camera file.
//! - [`run`]: one evaluation end to end.

pub mod compare;
pub mod dataset;
pub mod error;
pub mod geometry;
pub mod images;
pub mod metrics;
pub mod progress;
pub mod record;
pub mod render;
pub mod replay;
pub mod report;
pub mod run;
pub mod score;
pub mod sequences;
pub mod sweep;
pub mod synth;
pub mod taxonomy;

pub use error::{EvalError, Skip, SkipKind};
pub use run::{RunOptions, Variant, run};
pub use score::{ModelInfo, Scorer};
