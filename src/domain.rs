//! Plain data shared by every stage: frames, scores, printer status.
//!
//! Owns the vocabulary of the pipeline and nothing else: no I/O, no async, no
//! clock reads. Every other module may depend on this one; this one depends on
//! `std`, `bytes`, `serde` and `chrono` only.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Wall-clock instant in milliseconds since the Unix epoch.
///
/// Live runs stamp it from the system clock at the edge (capture, printer
/// link); replays and evaluation stamp it from recorded data, so pure code
/// (`decision`) never needs a clock of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current system time. Only edges (capture, printer, app) call this.
    pub fn now() -> Self {
        Timestamp(chrono::Utc::now().timestamp_millis())
    }

    pub fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    /// Seconds from `earlier` to `self` (negative if `earlier` is later).
    pub fn secs_since(self, earlier: Timestamp) -> f64 {
        (self.0 - earlier.0) as f64 / 1000.0
    }

    pub fn add(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_add(d.as_millis() as i64))
    }

    /// RFC 3339 rendering in UTC, for logs, reports and alerts.
    pub fn to_rfc3339(self) -> String {
        match chrono::DateTime::<chrono::Utc>::from_timestamp_millis(self.0) {
            Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            None => format!("{}ms", self.0),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// A packed 8-bit RGB image, row-major, no padding.
#[derive(Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    /// `width * height * 3` bytes.
    pub data: Vec<u8>,
}

impl RgbImage {
    /// Returns `None` when `data` does not hold exactly `width * height * 3` bytes.
    pub fn new(width: u32, height: u32, data: Vec<u8>) -> Option<Self> {
        (data.len() == width as usize * height as usize * 3).then_some(RgbImage { width, height, data })
    }
}

impl fmt::Debug for RgbImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RgbImage({}x{})", self.width, self.height)
    }
}

/// The pixels of a frame as the source delivered them.
///
/// JPEG stays encoded until the vision stage decodes it (off the async
/// runtime), so snapshots and re-streaming cost nothing.
#[derive(Debug, Clone)]
pub enum FrameImage {
    Jpeg(Bytes),
    Rgb(Arc<RgbImage>),
}

/// One timestamped picture from a camera, stream, file or replay.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Per-source sequence number, starting at 0; gaps mean dropped frames.
    pub seq: u64,
    pub captured_at: Timestamp,
    /// Name of the source (camera name from config, or file path for replays).
    pub source: Arc<str>,
    pub image: FrameImage,
}

/// Classifier output for one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Probability that the frame shows a failure: `1 - p(normal)`.
    pub failure: f32,
    /// Probability per class, in the model's label order.
    pub classes: Vec<ClassScore>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScore {
    pub label: Arc<str>,
    pub p: f32,
}

impl Scores {
    /// The most likely failure class (never the normal class) and its probability.
    pub fn top_failure(&self, normal_label: &str) -> Option<&ClassScore> {
        self.classes
            .iter()
            .filter(|c| &*c.label != normal_label)
            .max_by(|a, b| a.p.total_cmp(&b.p))
    }

    pub fn class(&self, label: &str) -> Option<f32> {
        self.classes.iter().find(|c| &*c.label == label).map(|c| c.p)
    }
}

/// A frame's scores with where and when they came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameScore {
    pub seq: u64,
    pub captured_at: Timestamp,
    pub scores: Scores,
    /// Mean brightness of the region of interest, 0..=255 (camera-health cross-checks).
    pub brightness: f32,
    /// A cheap fingerprint of the downscaled region of interest; equal on consecutive
    /// frames means the picture did not change (frozen camera).
    pub fingerprint: u64,
    /// Decode + preprocess + inference time in milliseconds.
    pub latency_ms: f32,
}

/// A temperature reading of one heater.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Heater {
    pub actual: f32,
    /// 0 means off.
    pub target: f32,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Temperatures {
    pub hotend: Option<Heater>,
    pub bed: Option<Heater>,
}

/// What is being printed and how far it got.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PrintJob {
    /// File name as the printer or host knows it.
    pub file: String,
    /// 0-based layer index, when known (from the host, or mapped from the file position).
    pub layer: Option<u32>,
    /// Total number of layers, when the G-code was analysed.
    pub layer_count: Option<u32>,
    /// Current nozzle height in mm.
    pub z: Option<f32>,
    /// 0.0..=1.0.
    pub progress: Option<f32>,
    /// Byte offset in the file of the next line to run.
    pub file_position: Option<u64>,
    pub file_size: Option<u64>,
    /// Time spent printing so far.
    #[serde(with = "opt_secs")]
    pub elapsed: Option<Duration>,
    /// The slicer's feature at the current position (`perimeter`, `infill`, `support`…).
    pub feature: Option<String>,
}

/// The printer's state: a closed set (see ARCHITECTURE.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PrinterState {
    Disconnected,
    Idle,
    Heating { job: Option<PrintJob> },
    Printing { job: PrintJob },
    Pausing { job: PrintJob },
    Paused { job: PrintJob },
    Finished { job: PrintJob },
    Cancelled { job: Option<PrintJob> },
    Error { message: String },
}

impl PrinterState {
    /// The job this state refers to, if any.
    pub fn job(&self) -> Option<&PrintJob> {
        match self {
            PrinterState::Printing { job }
            | PrinterState::Pausing { job }
            | PrinterState::Paused { job }
            | PrinterState::Finished { job } => Some(job),
            PrinterState::Heating { job } | PrinterState::Cancelled { job } => job.as_ref(),
            PrinterState::Disconnected | PrinterState::Idle | PrinterState::Error { .. } => None,
        }
    }

    /// Short lower-case name (`printing`, `paused`…) for logs, metrics and the API.
    pub fn name(&self) -> &'static str {
        match self {
            PrinterState::Disconnected => "disconnected",
            PrinterState::Idle => "idle",
            PrinterState::Heating { .. } => "heating",
            PrinterState::Printing { .. } => "printing",
            PrinterState::Pausing { .. } => "pausing",
            PrinterState::Paused { .. } => "paused",
            PrinterState::Finished { .. } => "finished",
            PrinterState::Cancelled { .. } => "cancelled",
            PrinterState::Error { .. } => "error",
        }
    }

    pub fn is_printing(&self) -> bool {
        matches!(self, PrinterState::Printing { .. })
    }

    /// A print runs: heating for a job, printing, pausing or paused.
    pub fn print_running(&self) -> bool {
        match self {
            PrinterState::Heating { job } => job.is_some(),
            PrinterState::Printing { .. } | PrinterState::Pausing { .. } | PrinterState::Paused { .. } => true,
            PrinterState::Disconnected
            | PrinterState::Idle
            | PrinterState::Finished { .. }
            | PrinterState::Cancelled { .. }
            | PrinterState::Error { .. } => false,
        }
    }
}

/// One observation of the printer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrinterStatus {
    pub state: PrinterState,
    pub temps: Temperatures,
    pub at: Timestamp,
}

impl PrinterStatus {
    pub fn disconnected(at: Timestamp) -> Self {
        PrinterStatus { state: PrinterState::Disconnected, temps: Temperatures::default(), at }
    }
}

/// How bad things look. Ordered: `Ok < Warning < Failure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ok,
    /// Worth a look; no action on the printer.
    Warning,
    /// A failure: the configured action (pause, park, cool down…) applies.
    Failure,
}

impl Level {
    /// The name in the API, the audit log and on the bus (`ok`, `warning`, `failure`).
    pub fn name(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Failure => "failure",
        }
    }
}

/// What kind of failure. The model's classes map onto it by label name
/// (`spaghetti`, `stringing`, `surface`, anything else is `Other`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    Spaghetti,
    Stringing,
    /// Surface defects: blobs, under-extrusion, cracks.
    Surface,
    Other,
}

impl FailureKind {
    pub fn from_label(label: &str) -> FailureKind {
        match label {
            "spaghetti" => FailureKind::Spaghetti,
            "stringing" => FailureKind::Stringing,
            "surface" | "blobs" | "under_extrusion" | "cracks" => FailureKind::Surface,
            _ => FailureKind::Other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Spaghetti => "spaghetti",
            FailureKind::Stringing => "stringing",
            FailureKind::Surface => "surface",
            FailureKind::Other => "other",
        }
    }
}

/// Why the decision layer said what it said: enough for an alert, the
/// dashboard's timeline and a post-mortem.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Evidence {
    /// Smoothed failure score the levels are compared against.
    pub smoothed: f32,
    /// This frame's raw failure probability.
    pub raw: f32,
    /// Consecutive frames at or above the current level.
    pub frames: u32,
    pub top_class: Option<String>,
    pub top_class_p: f32,
    pub layer: Option<u32>,
    pub layer_count: Option<u32>,
    pub z: Option<f32>,
    pub progress: Option<f32>,
    /// One human sentence, e.g. "smoothed 0.83 over 6 frames at layer 12/40, spaghetti".
    pub note: String,
    /// Where on the bed (printer X/Y, mm) the failure was seen, when a check
    /// localised it; lets `actions` cancel just the object there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bed_xy_mm: Option<[f32; 2]>,
    /// The geometry finding behind this verdict, when the geometry checks called it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geometry: Option<GeometryFinding>,
    /// What the camera should see of the current layer (for the snapshot); not stored.
    #[serde(skip)]
    pub overlay: Option<Arc<Overlay>>,
}

/// A region of the full frame, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roi {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// What a geometry finding says is wrong (`decision::GeometryChecker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GeometryKind {
    MissingMaterial,
    GrowthStopped,
    SilhouetteOffset,
}

impl GeometryKind {
    pub const ALL: [GeometryKind; 3] =
        [GeometryKind::MissingMaterial, GeometryKind::GrowthStopped, GeometryKind::SilhouetteOffset];

    pub fn name(self) -> &'static str {
        match self {
            GeometryKind::MissingMaterial => "missing_material",
            GeometryKind::GrowthStopped => "growth_stopped",
            GeometryKind::SilhouetteOffset => "silhouette_offset",
        }
    }
}

/// One geometry finding: what, where on the bed, where in the frame, and the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeometryFinding {
    pub kind: GeometryKind,
    /// The layer starting when it was raised.
    pub layer: u32,
    /// Centre of the region concerned, bed mm (X, Y, Z).
    pub bed_mm: [f32; 3],
    /// The region in the full frame (pixels).
    pub region: Option<Roi>,
    /// The contrast measured (share of the region's pixels showing material).
    pub contrast: f32,
    /// The print's best contrast so far.
    pub best_contrast: f32,
    /// `silhouette_offset`: the shift found (mm on the bed).
    pub offset_mm: Option<[f32; 2]>,
}

impl GeometryFinding {
    /// "missing material at (112, 104) mm", for notes and alerts.
    pub fn describe(&self) -> String {
        let mut s =
            format!("{} at ({:.0}, {:.0}) mm", self.kind.name().replace('_', " "), self.bed_mm[0], self.bed_mm[1]);
        if let Some([dx, dy]) = self.offset_mm {
            s.push_str(&format!(", moved {dx:+.0}/{dy:+.0} mm"));
        }
        s
    }
}

/// The expected print drawn over a frame: the current layer's outline (line
/// segments, full-frame pixels) and the print's region of interest.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Overlay {
    /// The 0-based layer whose top outline this is.
    pub layer: u32,
    /// Frame size the coordinates are in.
    pub width: u32,
    pub height: u32,
    /// Outline segments `[[x0, y0], [x1, y1]]`.
    pub outline: Vec<[[f32; 2]; 2]>,
    /// Everything expected so far, grown by a margin: where the classifier's crop would go.
    pub roi: Option<Roi>,
}

/// The decision for one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub at: Timestamp,
    pub frame_seq: Option<u64>,
    pub level: Level,
    /// Set for `Warning` and `Failure`.
    pub kind: Option<FailureKind>,
    /// 0..=1, the smoothed score mapped through the operating point.
    pub confidence: f32,
    pub evidence: Evidence,
}

/// An active mute of pauses and alerts, as the action engine holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MuteInfo {
    pub since: Timestamp,
    /// When it ends by itself; unset: at the end of the current print.
    pub until: Option<Timestamp>,
    /// It also ends when the print it was set during ends.
    pub for_print: bool,
    /// Who set it (`dashboard`, a user name).
    pub who: Option<String>,
}

impl MuteInfo {
    /// Still in force at `now` (a print-bound mute is dropped by the engine when the print ends).
    pub fn active(&self, now: Timestamp) -> bool {
        self.until.is_none_or(|t| now < t)
    }
}

/// Problems that are not print failures but need the owner: found without the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub enum HealthFinding {
    /// The picture has not changed while the printer advanced.
    CameraFrozen { since: Timestamp, layers_advanced: u32 },
    /// The picture is too dark to judge.
    CameraDark { since: Timestamp, brightness: f32 },
    /// No frames arrive.
    CameraSilent { since: Timestamp },
    /// The printer says printing but its progress has not moved.
    PrinterStalled { since: Timestamp, layer: Option<u32> },
    /// The print ended (finished/cancelled) but the picture keeps changing as if printing.
    ActivityAfterEnd { since: Timestamp },
    /// The owner muted pauses and alerts: the monitor watches but does not act.
    /// `until` unset: for the rest of the current print.
    Muted { since: Timestamp, until: Option<Timestamp> },
    /// A finding above went away.
    Cleared { what: String, at: Timestamp },
}

impl HealthFinding {
    /// The name a finding is tracked (and cleared) by; matches `IncidentCause`'s.
    pub fn name(&self) -> &'static str {
        match self {
            HealthFinding::CameraFrozen { .. } => "camera_frozen",
            HealthFinding::CameraDark { .. } => "camera_dark",
            HealthFinding::CameraSilent { .. } => "camera_silent",
            HealthFinding::PrinterStalled { .. } => "printer_stalled",
            HealthFinding::ActivityAfterEnd { .. } => "activity_after_end",
            HealthFinding::Muted { .. } => "muted",
            HealthFinding::Cleared { .. } => "cleared",
        }
    }
}

mod opt_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let v: Option<f64> = Option::deserialize(d)?;
        Ok(v.filter(|s| s.is_finite() && *s >= 0.0).map(Duration::from_secs_f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_level_is_named_as_it_serialises() {
        for l in [Level::Ok, Level::Warning, Level::Failure] {
            assert_eq!(serde_json::to_value(l).unwrap(), l.name());
        }
    }

    #[test]
    fn printer_state_serialises_with_a_tag() {
        let s = PrinterState::Printing {
            job: PrintJob { file: "a.gcode".into(), layer: Some(3), elapsed: Some(Duration::from_secs(90)), ..Default::default() },
        };
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.starts_with(r#"{"state":"printing","job":{"file":"a.gcode","layer":3"#), "{json}");
        let back: PrinterState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn rgb_image_checks_its_size() {
        assert!(RgbImage::new(2, 2, vec![0; 12]).is_some());
        assert!(RgbImage::new(2, 2, vec![0; 11]).is_none());
    }
}
