//! The JSON the API speaks (`GET /api/status`, `/healthz`) and the one trait
//! the web layer reads live state through.
//!
//! Owns the DTOs only: they are plain serialisable data filled by whoever
//! implements [`StatusSource`] (the daemon in `app`, a fixed value in tests),
//! so the web layer never reaches into a stage.

use serde::{Deserialize, Serialize};

use crate::domain::{HealthFinding, Level, PrintJob, Temperatures, Timestamp};

/// Live state for the API. Implemented by the daemon; cheap to call (no I/O).
pub trait StatusSource: Send + Sync {
    /// Everything `GET /api/status` shows.
    fn status(&self) -> ApiStatus;
    /// What `/healthz` answers: healthy only when every stage runs and the printer link is up.
    fn health(&self) -> HealthReport;
}

/// `/healthz`: `ok` decides 200 or 503; `problems` say why in words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    pub ok: bool,
    pub problems: Vec<String>,
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
    /// Health findings that are open now (camera frozen, printer stalled…).
    pub findings: Vec<HealthFinding>,
    pub health: HealthReport,
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
