//! The JSON the API speaks (`GET /api/status`, `/healthz`, live frames,
//! timeline steps, counters) and the one trait the web layer reads live state
//! through.
//!
//! Owns the DTOs only: they are plain serialisable data filled by whoever
//! implements [`StatusSource`] (the daemon in `app`, a fixed value in tests),
//! so the web layer never reaches into a stage.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::domain::{GeometryFinding, HealthFinding, Level, MuteInfo, Overlay, PrintJob, Temperatures, Timestamp};

/// Live state for the API. Implemented by the daemon; cheap to call (no I/O).
pub trait StatusSource: Send + Sync {
    /// Everything `GET /api/status` shows.
    fn status(&self) -> ApiStatus;
    /// What `/healthz` answers: healthy only when every stage runs and the printer link is up.
    fn health(&self) -> HealthReport;
    /// Changes whenever a new step was judged; `None`: the event stream falls back to a timer.
    fn updates(&self) -> Option<watch::Receiver<u64>> {
        None
    }
    /// The latest judged JPEG frames, newest last.
    fn live_frames(&self) -> Vec<LiveFrame> {
        Vec::new()
    }
    /// The recent decision steps kept in memory, oldest first (the live timeline).
    fn recent_steps(&self) -> Vec<TimelineStep> {
        Vec::new()
    }
    /// Counters since start for `/metrics`.
    fn counters(&self) -> Counters {
        Counters::default()
    }
    /// The expected print over the live frame (current layer's outline, region of
    /// interest), with a calibrated camera while a print runs.
    fn overlay(&self) -> Option<Overlay> {
        None
    }
}

/// The geometry checks in `GET /api/status` (present with `camera.geometry`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GeometryDto {
    /// The camera calibration file in use.
    pub camera_file: String,
    /// `off` (`[decision.geometry] enabled = false`), `waiting` (no print, or no analysis of its
    /// file yet), `watching` (a print is being checked).
    pub state: String,
    /// Frames seen this print, frames whose pixels were read (the reference and one per layer),
    /// and layer changes judged.
    pub frames: u64,
    pub frames_read: u64,
    pub judged_layers: u64,
    /// The last judged layer change: the layer starting, the print's contrast, its best so far,
    /// and the contrast of the latest layers.
    pub last_layer: Option<u32>,
    pub contrast: Option<f32>,
    pub best_contrast: Option<f32>,
    pub band_contrast: Option<f32>,
    /// Mean time to read and check one frame the checks read (ms).
    pub mean_read_ms: Option<f32>,
    /// Frames that could not be read for the checks (wrong size, undecodable), and the last reason.
    pub errors: u64,
    pub last_error: Option<String>,
    /// Findings raised this print, oldest first.
    pub findings: Vec<GeometryFinding>,
}

/// One judged camera frame as the dashboard shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveFrame {
    pub seq: u64,
    pub captured_at: Timestamp,
    pub jpeg: Bytes,
    pub smoothed: f32,
    pub level: Level,
}

/// One scored frame on the timeline (the journal's record, as the API sends it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineStep {
    pub at: Timestamp,
    pub frame_seq: Option<u64>,
    /// The printer's state name when the frame was judged.
    pub printer: String,
    /// 0-based layer and total, when known.
    pub layer: Option<u32>,
    pub layer_count: Option<u32>,
    pub raw: f32,
    pub smoothed: f32,
    pub level: Level,
    pub kind: Option<String>,
    pub gate: String,
    pub pause_level: Option<f32>,
    pub latency_ms: f32,
    /// A geometry finding raised at this frame (`missing_material`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geometry: Option<String>,
}

/// Upper bounds (ms) of the inference latency histogram's buckets (`+Inf` is implied).
pub const LATENCY_BUCKETS_MS: [f64; 10] = [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0, 1280.0, 2560.0];

/// Monotonic counters since the daemon started.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Counters {
    /// Per bucket of [`LATENCY_BUCKETS_MS`] plus one for `+Inf` (not cumulative).
    pub latency_buckets: [u64; LATENCY_BUCKETS_MS.len() + 1],
    pub latency_sum_ms: f64,
    pub latency_count: u64,
    pub verdicts_ok: u64,
    pub verdicts_warning: u64,
    pub verdicts_failure: u64,
    pub printer_reconnects: u64,
    /// Time-lapse MP4s written, and encodings that failed.
    pub timelapses_written: u64,
    pub timelapse_failures: u64,
    /// Light switches the printer confirmed, and those it refused or left unconfirmed.
    pub light_switches: u64,
    pub light_switch_failures: u64,
    /// 1 while the light is on by layerwatch's doing (`[printer.light]`).
    pub light_on: u8,
    /// 1 while the MQTT connection is up (`[mqtt]`), and the connections made so far.
    pub mqtt_connected: u8,
    pub mqtt_connections: u64,
}

impl Counters {
    pub fn observe_latency(&mut self, ms: f32) {
        let ms = f64::from(ms);
        if !ms.is_finite() || ms < 0.0 {
            return;
        }
        let i = LATENCY_BUCKETS_MS.iter().position(|le| ms <= *le).unwrap_or(LATENCY_BUCKETS_MS.len());
        self.latency_buckets[i] += 1;
        self.latency_sum_ms += ms;
        self.latency_count += 1;
    }
}

/// `/healthz`: `ok` decides 200 or 503; `problems` say why in words.
/// `warnings` are states the owner chose that leave the daemon healthy but
/// not acting (a mute), so a monitor of `/healthz` still sees them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    pub ok: bool,
    pub problems: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl HealthReport {
    pub fn new(problems: Vec<String>) -> Self {
        HealthReport { ok: problems.is_empty(), problems, warnings: vec![] }
    }
}

/// `GET /api/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiStatus {
    /// `general.name`.
    pub name: String,
    pub version: String,
    pub started_at: Timestamp,
    pub uptime_s: f64,
    pub printer: PrinterDto,
    pub camera: CameraDto,
    pub vision: VisionDto,
    /// The latest judged or gated frame; `None` before the first.
    pub decision: Option<DecisionDto>,
    pub outbox: OutboxDto,
    pub stages: Vec<StageDto>,
    /// Health findings that are open now (camera frozen, printer stalled, muted…).
    pub findings: Vec<HealthFinding>,
    pub health: HealthReport,
    /// The mute in force: pauses and alerts are off until it ends.
    pub mute: Option<MuteInfo>,
    /// The geometry checks, with a calibrated camera (`camera.geometry`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geometry: Option<GeometryDto>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrinterDto {
    /// The link's name (`/dev/ttyUSB0 @ 115200`, `octoprint http://…`), or `none`.
    pub link: String,
    /// `printing`, `paused`, `disconnected`… (`PrinterState::name`).
    pub state: String,
    pub job: Option<PrintJob>,
    /// 1-based layer for people (`layer N of M`), from the job's 0-based index.
    pub layer: Option<u32>,
    pub layer_count: Option<u32>,
    pub temps: Temperatures,
    pub since: Timestamp,
    /// Where the daemon's layer expectations come from: `gcode` (the file was
    /// analysed), `printer` (layers from the printer only) or `none`.
    pub gcode: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraDto {
    pub name: String,
    /// `starting`, `streaming`, `reconnecting`, `ended`, `failed`, `stopped`.
    pub state: String,
    pub fps: f32,
    pub frames: u64,
    /// Frames dropped between capture and inference (oldest first), all causes.
    pub dropped: u64,
    pub bad_frames: u64,
    pub reconnects: u64,
    pub last_frame_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct VisionDto {
    pub classified: u64,
    pub failed: u64,
    pub panics: u64,
    pub alive: bool,
    /// How long the frame now in the classifier has been there (0 when idle).
    pub busy_for_ms: u64,
    /// An inference has been running past the watchdog limit.
    pub stuck: bool,
    /// Decode + preprocess + inference time of the last frame.
    pub last_latency_ms: Option<f32>,
    /// Mean of the last frames' latencies.
    pub mean_latency_ms: Option<f32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionDto {
    pub at: Timestamp,
    pub frame_seq: Option<u64>,
    pub raw: f32,
    pub smoothed: f32,
    pub level: Level,
    pub kind: Option<String>,
    /// Why the frame was or was not judged (`judged`, `warm_up`, `not_printing`…).
    pub gate: String,
    /// Effective levels for that frame (`None` when off).
    pub warning_level: Option<f32>,
    pub pause_level: Option<f32>,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OutboxDto {
    pub pending: u32,
    pub sending: u32,
    pub failed: u32,
    pub oldest_pending: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageDto {
    pub name: String,
    /// `starting`, `running`, `restarting`, `finished`, `stopped`, `failed`.
    pub state: String,
    /// Crashes so far (each one restarted, until the budget ran out).
    pub restarts: u32,
    pub last_error: Option<String>,
    pub last_error_at: Option<Timestamp>,
}
