//! The analysis result: plain data (`Analysis`, `Layer`, `PrintObject`,
//! `Warning`, …) that every consumer reads. No parsing logic lives here; the
//! lookups are in `lookup.rs` and the footprint raster in `footprint.rs`.

use std::fmt;

use serde::Serialize;

use super::feature::Feature;
use super::footprint::{Footprint, Grid};

/// An axis-aligned box around deposited material, in mm (printer coordinates).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BBox {
    pub min: [f32; 3],
    pub max: [f32; 3],
}

impl BBox {
    pub fn point(p: [f32; 3]) -> BBox {
        BBox { min: p, max: p }
    }

    pub fn include(&mut self, p: [f32; 3]) {
        for (i, v) in p.into_iter().enumerate() {
            self.min[i] = self.min[i].min(v);
            self.max[i] = self.max[i].max(v);
        }
    }

    pub fn union(&mut self, other: &BBox) {
        self.include(other.min);
        self.include(other.max);
    }

    /// Width, depth, height in mm.
    pub fn size(&self) -> [f32; 3] {
        [self.max[0] - self.min[0], self.max[1] - self.min[1], self.max[2] - self.min[2]]
    }
}

/// Grows an optional box.
pub(crate) fn include(b: &mut Option<BBox>, p: [f32; 3]) {
    match b {
        Some(b) => b.include(p),
        None => *b = Some(BBox::point(p)),
    }
}

/// The program that wrote the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlicerKind {
    PrusaSlicer,
    SuperSlicer,
    OrcaSlicer,
    BambuStudio,
    Slic3r,
    Cura,
    Simplify3D,
    IdeaMaker,
    KISSlicer,
}

impl SlicerKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            SlicerKind::PrusaSlicer => "PrusaSlicer",
            SlicerKind::SuperSlicer => "SuperSlicer",
            SlicerKind::OrcaSlicer => "OrcaSlicer",
            SlicerKind::BambuStudio => "BambuStudio",
            SlicerKind::Slic3r => "Slic3r",
            SlicerKind::Cura => "Cura",
            SlicerKind::Simplify3D => "Simplify3D",
            SlicerKind::IdeaMaker => "ideaMaker",
            SlicerKind::KISSlicer => "KISSlicer",
        }
    }
}

/// Slicer and version, from the file's header comments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Slicer {
    pub kind: SlicerKind,
    /// Version as written (`2.5.0+linux-x64`, `4.13.0`), if the header has one.
    pub version: Option<String>,
}

impl fmt::Display for Slicer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(v) => write!(f, "{} {}", self.kind.as_str(), v),
            None => f.write_str(self.kind.as_str()),
        }
    }
}

/// How layers were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerSource {
    /// From the slicer's layer-change comments (`;LAYER_CHANGE`, `;LAYER:n`, …).
    Comments,
    /// From geometry: Z rises followed by extrusion (files without comments).
    Geometry,
    /// Nothing was extruded: no layers.
    None,
}

/// Where `Layer::progress_at_start` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgressSource {
    /// The slicer's `M73 P` progress commands.
    M73,
    /// Share of the file's bytes before the layer.
    Bytes,
}

/// Where `Layer::time_at_start_s` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeSource {
    /// The slicer's per-layer elapsed time (Cura `;TIME_ELAPSED:`).
    SlicerElapsed,
    /// Our move-by-move estimate (feed rates, no acceleration), scaled so that it
    /// ends at the slicer's total estimate.
    ScaledKinematic,
    /// Our move-by-move estimate alone (no slicer total known): optimistic.
    Kinematic,
}

/// One printed layer: a contiguous byte range of the file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layer {
    /// 0-based, in file order (layers without extrusion are merged away).
    pub index: u32,
    /// Highest Z (mm) at which this layer deposits material.
    pub z: f32,
    /// Layer thickness (mm): the slicer's `;HEIGHT:` when given, else Z minus the previous
    /// layer's Z (or Z itself for a first layer); 0 when unknown (material deposited at Z ≤ 0).
    pub height: f32,
    /// Byte range `[start_offset, end_offset)`.
    pub start_offset: u64,
    pub end_offset: u64,
    /// 1-based line range `[start_line, end_line)`.
    pub start_line: u64,
    pub end_line: u64,
    /// Filament (mm of filament, not of path) deposited on this layer.
    pub extruded_mm: f32,
    /// Box around material deposited on this layer.
    pub bbox: Option<BBox>,
    /// Where material goes on this layer, on `Analysis::grid`.
    pub footprint: Footprint,
    /// Approximate area covered on this layer (mm²): deposited volume / layer height.
    pub area_mm2: f32,
    /// Deposited filament per feature, in order of first appearance (untyped extrusion is not listed).
    pub features: Vec<(Feature, f32)>,
    /// Objects (indices into `Analysis::objects`) that receive material on this layer.
    pub objects: Vec<u32>,
    /// 0.0..=1.0 at the layer's first extrusion: `M73 P` when the file has it, else byte share.
    pub progress_at_start: Option<f32>,
    /// Estimated print time before this layer (s); see `Analysis::time_source`.
    pub time_at_start_s: Option<f64>,
    /// The slicer's remaining time (`M73 R`, whole minutes) at the layer's first extrusion.
    pub remaining_s_at_start: Option<f64>,
    /// The slicer's own layer number (`;LAYER:n`, Simplify3D `; layer n`), when given.
    pub slicer_layer: Option<i64>,
}

/// Why a print stops on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseKind {
    /// `M600`: filament change (colour change).
    FilamentChange,
    /// `M601`, `M25`, `M0`/`M1`, Klipper `PAUSE`: waits for the user.
    Pause,
}

/// A pause the file itself asks for: the printer stopping there is expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PlannedPause {
    pub kind: PauseKind,
    pub line: u64,
    pub offset: u64,
    /// The layer it happens in (or the last layer started before it).
    pub layer: Option<u32>,
}

/// An object on the plate (Klipper `EXCLUDE_OBJECT_DEFINE`, Marlin `M486`,
/// PrusaSlicer/Orca/Cura labels).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrintObject {
    /// Index in `Analysis::objects`.
    pub index: u32,
    /// The name as the file gives it (`cube_id_0_copy_0`, `cube.stl`, `object 2` for bare M486 ids).
    pub name: String,
    /// Declared center (Klipper `CENTER=`).
    pub center: Option<[f32; 2]>,
    /// Declared outline (Klipper `POLYGON=`).
    pub polygon: Option<Vec<[f32; 2]>>,
    /// Box around material actually deposited while this object was active.
    pub bbox: Option<BBox>,
    pub extruded_mm: f32,
    pub first_layer: Option<u32>,
    pub last_layer: Option<u32>,
    /// Everything this object deposits, over all layers, on `Analysis::grid`
    /// (empty for objects past the first 256).
    pub footprint: Footprint,
    /// The object's `M486 S<id>` number when the file labels objects with M486
    /// (what `M486 P<id>` cancels on firmware that supports it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub m486_id: Option<i64>,
}

/// What went wrong on a line (or in the file as a whole).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WarningKind {
    /// Bytes that are not G-code.
    Junk,
    /// Control bytes or NUL: binary data. The line's command is ignored.
    Binary,
    /// A line longer than the cap (`len` bytes); only its start was read.
    Overlong { len: u64 },
    /// A number that is not finite.
    BadNumber,
    /// The same word twice on a line.
    DuplicateWord,
    /// `*nn` checksum that does not match.
    ChecksumMismatch,
    /// A move to a coordinate beyond ±100 m (ignored).
    CoordinateOutOfRange,
    /// PrusaSlicer binary G-code (`GCDE` header): not readable as text.
    BinaryGcodeFormat,
    /// The last line has no terminator (a cut-off upload looks like this).
    NoFinalNewline,
    /// The slicer's filament figure and the extrusion we computed differ by more than 5 %.
    FilamentMismatch { reported_mm: f64, computed_mm: f64 },
    /// The slicer's layer count (`;LAYER_COUNT:`) differs from the layers found.
    LayerCountMismatch { reported: u32, found: u32 },
    /// More distinct objects than we track (1024); further ones are ignored.
    TooManyObjects,
    /// A feed rate below 0.1 mm/s (`F` < 6): the time at feed rates is not meaningful.
    SlowFeed { feed_mm_min: f64 },
}

impl WarningKind {
    pub fn name(&self) -> &'static str {
        match self {
            WarningKind::Junk => "junk",
            WarningKind::Binary => "binary",
            WarningKind::Overlong { .. } => "overlong",
            WarningKind::BadNumber => "bad_number",
            WarningKind::DuplicateWord => "duplicate_word",
            WarningKind::ChecksumMismatch => "checksum_mismatch",
            WarningKind::CoordinateOutOfRange => "coordinate_out_of_range",
            WarningKind::BinaryGcodeFormat => "binary_gcode_format",
            WarningKind::NoFinalNewline => "no_final_newline",
            WarningKind::FilamentMismatch { .. } => "filament_mismatch",
            WarningKind::LayerCountMismatch { .. } => "layer_count_mismatch",
            WarningKind::TooManyObjects => "too_many_objects",
            WarningKind::SlowFeed { .. } => "slow_feed",
        }
    }
}

/// A problem found while reading, with where it is (line 0 / offset of the
/// file's end for whole-file findings).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning {
    pub line: u64,
    pub offset: u64,
    #[serde(flatten)]
    pub kind: WarningKind,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: ", self.line)?;
        match &self.kind {
            WarningKind::Junk => f.write_str("junk bytes (not G-code)"),
            WarningKind::Binary => f.write_str("binary data (control bytes); line ignored"),
            WarningKind::Overlong { len } => write!(f, "overlong line ({len} bytes); only its start was read"),
            WarningKind::BadNumber => f.write_str("number is not finite"),
            WarningKind::DuplicateWord => f.write_str("the same word twice; the last value is used"),
            WarningKind::ChecksumMismatch => f.write_str("checksum does not match"),
            WarningKind::CoordinateOutOfRange => f.write_str("coordinate beyond ±100 m; move ignored"),
            WarningKind::BinaryGcodeFormat => f.write_str("binary G-code (.bgcode): convert it to text G-code first"),
            WarningKind::NoFinalNewline => f.write_str("no newline at the end of the file (truncated upload?)"),
            WarningKind::FilamentMismatch { reported_mm, computed_mm } => {
                write!(f, "slicer reports {reported_mm:.1} mm of filament, the moves extrude {computed_mm:.1} mm")
            }
            WarningKind::LayerCountMismatch { reported, found } => {
                write!(f, "slicer reports {reported} layers, {found} found")
            }
            WarningKind::TooManyObjects => f.write_str("more than 1024 objects; the rest are ignored"),
            WarningKind::SlowFeed { feed_mm_min } => write!(
                f,
                "feed rate F{feed_mm_min} is below 0.1 mm/s; the time at feed rates is not a real estimate"
            ),
        }
    }
}

/// Everything known about one G-code file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// Printed layers in file order; byte and line ranges do not overlap.
    pub layers: Vec<Layer>,
    pub objects: Vec<PrintObject>,
    pub slicer: Option<Slicer>,
    pub total_bytes: u64,
    pub total_lines: u64,
    /// The slicer's total time estimate (header comment, or the first `M73 R`), seconds.
    pub estimated_time_s: Option<f64>,
    /// Our own estimate from distances and feed rates (no acceleration): a lower bound.
    pub kinematic_time_s: f64,
    /// Net filament the moves extrude (mm), retractions included.
    pub filament_mm: f64,
    /// The slicer's own filament figure (mm), all extruders together.
    pub reported_filament_mm: Option<f64>,
    /// Highest Z at which material is deposited (mm); 0 when nothing is.
    pub max_z: f32,
    /// Box around all deposited material, layers and start-up purge alike.
    pub bbox: Option<BBox>,
    /// The raster all footprints use: over the print's deposited area (not the bed).
    pub grid: Option<Grid>,
    /// The slicer's nominal layer height, when its header says.
    pub layer_height: Option<f32>,
    /// The slicer's layer count, when its header says (`;LAYER_COUNT:`, `; total layer number:`).
    pub reported_layer_count: Option<u32>,
    /// Filament diameter used for areas (mm): from the header, else 1.75.
    pub filament_diameter_mm: f32,
    pub layer_source: LayerSource,
    pub progress_source: ProgressSource,
    pub time_source: TimeSource,
    /// Tool changes (`T<n>` after the first tool selection).
    pub tool_changes: u32,
    /// The file's Z-hop: the most frequent lift (at least 3 times, at most 5 mm)
    /// after a deposit, back to the same Z for the next one; see `layer_at_z_after`.
    pub z_hop_mm: Option<f32>,
    /// Pauses the file asks for (filament changes, `M601`, `PAUSE`…), at most 1000.
    pub planned_pauses: Vec<PlannedPause>,
    /// The first warnings (at most 200), in file order.
    pub warnings: Vec<Warning>,
    /// Every warning counted by kind name (`junk`, `binary`, …), including those not kept in `warnings`.
    pub warning_counts: std::collections::BTreeMap<&'static str, u64>,
    /// Feature changes `(offset, index into feature_names)`, sorted by offset; see `feature_at_offset`.
    #[serde(skip)]
    pub(crate) feature_spans: Vec<(u64, u16)>,
    #[serde(skip)]
    pub(crate) feature_names: Vec<Feature>,
    /// Layers' Z never decreases (binary search for `layer_at_z`).
    #[serde(skip)]
    pub(crate) z_monotonic: bool,
}

impl Analysis {
    /// Total number of warnings, including those not kept.
    pub fn warning_total(&self) -> u64 {
        self.warning_counts.values().sum()
    }

    /// First and last printed layer heights.
    pub fn first_z(&self) -> Option<f32> {
        self.layers.first().map(|l| l.z)
    }
}
