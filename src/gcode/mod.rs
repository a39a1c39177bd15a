//! G-code understanding: a streaming parser that never panics on junk, and an
//! analyzer that knows every layer (Z, byte range, extrusion, footprint,
//! features, objects, progress) plus fast position → layer lookups.
//!
//! Pure: reads bytes, returns data. Used by every printer backend, by
//! decision (what should be on the bed) and by eval. Does no I/O beyond
//! reading the file it is given.
//!
//! * [`analyze`] / [`analyze_file`] / [`analyze_reader`] / [`Analyzer`] → [`Analysis`].
//! * [`Analysis::layer_at_offset`], [`Analysis::layer_at_line`],
//!   [`Analysis::layer_at_z`], [`Analysis::feature_at_offset`]: O(log n).
//! * [`parser::lines`] / [`parser::StreamParser`] for line-level access.
//! * [`object_at`]: the object at a bed position on a layer (localising a
//!   failure); [`ObjectSkipper`]: a stream with cancelled objects left out
//!   (per-object cancel when the host streams the file).
//!
//! # What the numbers mean
//!
//! * **Layers** are byte and line ranges `[start, end)` in file order. With
//!   slicer comments a layer starts at its marker line; without them, at the
//!   first Z move after the previous layer's last extrusion (see `layers.rs`).
//!   Code before the first layer (start-up, purge lines) and after the last
//!   layer's last extrusion (end code) belongs to no layer. Layers without
//!   extrusion are merged into the one before.
//! * **Extrusion** counts deposits only: moves that advance E while moving in
//!   X/Y. `Analysis::filament_mm` is the net E of the whole file.
//! * **Footprint**: per layer, the cells of [`Grid`] (≤ 64 × 64 square cells
//!   over the print's deposited area, not the bed) that received material, with
//!   the filament per cell; [`Analysis::cumulative_footprint`] is what should be on
//!   the bed after a layer; `Layer::area_mm2` is the deposited volume divided by
//!   the layer height (the area the material covers).
//! * **Progress** per layer: the slicer's `M73 P` when the file has it, else
//!   the byte share; **time**: the slicer's per-layer elapsed time (Cura),
//!   else a feed-rate estimate scaled to the slicer's total.
//!
//! # Architecture invariant
//!
//! This module depends only on `std`, `memchr`, `serde`, `thiserror` and
//! `tracing`, never on other `crate::` modules: the fuzz targets in `fuzz/`
//! compile it on its own.
//!
//! Files: `lexer` (line splitting), `number`, `parser` (one line), `machine`
//! (motion state), `comments` (slicer vocabulary), `feature`, `layers`
//! (layer detection), `footprint` (raster), `objects`, `locate` (point → object), `skip` (cancelled
//! objects left out of a stream), `analyzer` (drives it
//! all), `model` (result types), `lookup`, `invariants`.

mod analyzer;
mod comments;
mod feature;
mod footprint;
mod invariants;
mod layers;
pub mod lexer;
mod locate;
mod lookup;
mod machine;
mod model;
mod number;
mod objects;
pub mod parser;
mod skip;

use std::io::Read;
use std::path::{Path, PathBuf};

pub use analyzer::{Analyzer, MAX_WARNINGS};
pub use feature::Feature;
pub use footprint::{Footprint, GRID_CELLS, Grid};
pub use locate::{AMBIGUITY_MM, OBJECT_MARGIN_MM, object_at, on_layer};
pub use model::{
    Analysis, BBox, Layer, LayerSource, PauseKind, PlannedPause, PrintObject, ProgressSource, Slicer, SlicerKind,
    TimeSource, Warning, WarningKind,
};
pub use skip::{Filtered, ObjectSkipper};

/// Reading a G-code file failed. Content problems are never errors: they are
/// `Analysis::warnings`.
#[derive(Debug, thiserror::Error)]
pub enum GcodeError {
    #[error("cannot open g-code file {}: {source}", path.display())]
    Open { path: PathBuf, source: std::io::Error },
    #[error("cannot read g-code file {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
}

/// Analyzes a complete file held in memory. Never panics, whatever the bytes.
pub fn analyze(data: &[u8]) -> Analysis {
    Analyzer::analyze_slice(data)
}

/// Analyzes a stream read to its end in 256 KiB pieces (bounded memory).
pub fn analyze_reader<R: Read>(mut reader: R) -> std::io::Result<Analysis> {
    let mut analyzer = Analyzer::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => analyzer.feed(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(analyzer.finish())
}

/// Analyzes a file, streaming it (memory grows with layers, not file size).
/// I/O errors name the path; content problems are warnings, logged as a summary.
pub fn analyze_file(path: &Path) -> Result<Analysis, GcodeError> {
    let file = std::fs::File::open(path).map_err(|source| GcodeError::Open { path: path.to_path_buf(), source })?;
    let analysis = analyze_reader(file).map_err(|source| GcodeError::Read { path: path.to_path_buf(), source })?;
    if analysis.warning_total() > 0 {
        tracing::warn!(
            path = %path.display(),
            warnings = analysis.warning_total(),
            kinds = ?analysis.warning_counts,
            first_line = analysis.warnings.first().map(|w| w.line),
            "g-code file has problems; they were skipped"
        );
    }
    Ok(analysis)
}

#[cfg(test)]
mod tests;
