//! The daemon's live status board: what each stage is doing, written by the
//! stages as they go and read by the web API (`StatusSource`), the demo and
//! the watchdog.
//!
//! Owns nothing but copies of small values behind `std` mutexes (held only to
//! copy, never across an `.await`) and atomics; the capture counters and the
//! printer status are read live from the stage's own `Arc`/`watch`. `api`
//! reads it for the web (`StatusSource`).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use super::journal::Journal;
use super::supervisor::Stage;
use crate::capture::CaptureStats;
use crate::domain::{Frame, FrameImage, HealthFinding, Level, MuteInfo, Overlay, PrinterStatus, Timestamp};
use crate::store::OutboxBacklog;
use crate::web::{Counters, DecisionDto, GeometryDto, LiveFrame, OutboxDto, VisionDto};

mod api;

pub use api::finding_name;

/// Latest JPEG frames kept for the dashboard's live view.
const LIVE_FRAMES: usize = 8;

/// Where a stage is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageState {
    Starting,
    Running,
    /// Crashed; waiting for its backoff before the restart.
    Restarting,
    /// Ended on its own (a finite camera source).
    Finished,
    /// Shut down by the token.
    Stopped,
    /// Crashed past its restart budget.
    Failed,
}

impl StageState {
    pub fn name(self) -> &'static str {
        match self {
            StageState::Starting => "starting",
            StageState::Running => "running",
            StageState::Restarting => "restarting",
            StageState::Finished => "finished",
            StageState::Stopped => "stopped",
            StageState::Failed => "failed",
        }
    }
}

/// One stage's line on the board.
#[derive(Debug, Clone, PartialEq)]
pub struct StageInfo {
    pub state: StageState,
    pub restarts: u32,
    pub last_error: Option<(Timestamp, String)>,
}

/// Where layer expectations come from for the current print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcodeSource {
    /// The file was found and analysed: per-layer footprint, extrusion, features.
    Analysed,
    /// Only what the printer reports (layer, Z, progress).
    Printer,
    /// Nothing: no print, or the printer reports no layers.
    None,
}

impl GcodeSource {
    pub fn name(self) -> &'static str {
        match self {
            GcodeSource::Analysed => "gcode",
            GcodeSource::Printer => "printer",
            GcodeSource::None => "none",
        }
    }
}

/// Inference stuck for longer than this is reported.
pub const VISION_STUCK_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// The shared board. One per daemon.
pub struct StatusBoard {
    name: String,
    camera_name: String,
    started_at: Timestamp,
    /// False with `printer.kind = "none"`: the link is not part of health.
    printer_configured: bool,
    stages: Mutex<BTreeMap<Stage, StageInfo>>,
    printer_link: Mutex<String>,
    printer: Mutex<Option<watch::Receiver<PrinterStatus>>>,
    camera: Mutex<Option<Arc<CaptureStats>>>,
    /// Frames dropped at the hand-off between capture and vision.
    handoff_dropped: AtomicU64,
    vision: Mutex<VisionDto>,
    latencies: Mutex<Latencies>,
    decision: Mutex<Option<DecisionDto>>,
    outbox: Mutex<OutboxDto>,
    findings: Mutex<BTreeMap<String, HealthFinding>>,
    gcode: Mutex<GcodeSource>,
    web_addr: watch::Sender<Option<SocketAddr>>,
    journal: Journal,
    /// The latest judged JPEG frames, newest last (live view).
    live: Mutex<VecDeque<LiveFrame>>,
    /// Bumped on every decision step: the web's server-sent events wait on it.
    updates: watch::Sender<u64>,
    counters: Mutex<Counters>,
    /// The action engine's mute, read live.
    mute: Mutex<Option<watch::Receiver<Option<MuteInfo>>>>,
    /// The geometry checks (with `camera.geometry`) and the expected print over the live frame.
    geometry: Mutex<Option<GeometryDto>>,
    overlay: Mutex<Option<Arc<Overlay>>>,
}

#[derive(Debug, Default)]
struct Latencies {
    last: Option<f32>,
    window: std::collections::VecDeque<f32>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every value here is a plain copy: a panic while holding the lock cannot break it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl StatusBoard {
    pub fn new(name: &str, camera_name: &str, printer_configured: bool) -> Self {
        let stages = Stage::ALL
            .iter()
            .map(|s| (*s, StageInfo { state: StageState::Starting, restarts: 0, last_error: None }))
            .collect();
        StatusBoard {
            name: name.to_string(),
            camera_name: camera_name.to_string(),
            started_at: Timestamp::now(),
            printer_configured,
            stages: Mutex::new(stages),
            printer_link: Mutex::new("none".into()),
            printer: Mutex::new(None),
            camera: Mutex::new(None),
            handoff_dropped: AtomicU64::new(0),
            vision: Mutex::new(VisionDto::default()),
            latencies: Mutex::new(Latencies::default()),
            decision: Mutex::new(None),
            outbox: Mutex::new(OutboxDto::default()),
            findings: Mutex::new(BTreeMap::new()),
            gcode: Mutex::new(GcodeSource::None),
            web_addr: watch::channel(None).0,
            journal: Journal::new(2048),
            live: Mutex::new(VecDeque::new()),
            updates: watch::channel(0).0,
            counters: Mutex::new(Counters::default()),
            mute: Mutex::new(None),
            geometry: Mutex::new(None),
            overlay: Mutex::new(None),
        }
    }

    #[cfg(test)]
    pub fn for_tests() -> Self {
        StatusBoard::new("test", "camera", false)
    }

    // --- stages -----------------------------------------------------------------

    pub fn stage(&self, s: Stage) -> StageInfo {
        lock(&self.stages).get(&s).cloned().unwrap_or(StageInfo {
            state: StageState::Starting,
            restarts: 0,
            last_error: None,
        })
    }

    fn set_stage(&self, s: Stage, f: impl FnOnce(&mut StageInfo)) {
        let mut g = lock(&self.stages);
        let e = g.entry(s).or_insert(StageInfo { state: StageState::Starting, restarts: 0, last_error: None });
        f(e);
    }

    pub fn stage_running(&self, s: Stage) {
        self.set_stage(s, |e| e.state = StageState::Running);
    }

    pub fn stage_stopped(&self, s: Stage) {
        self.set_stage(s, |e| e.state = StageState::Stopped);
    }

    pub fn stage_finished(&self, s: Stage) {
        self.set_stage(s, |e| e.state = StageState::Finished);
    }

    pub fn stage_failed(&self, s: Stage) {
        self.set_stage(s, |e| e.state = StageState::Failed);
    }

    /// Counts a crash; returns the stage's crash count so far.
    pub fn stage_crashed(&self, s: Stage, error: &str) -> u32 {
        let mut n = 0;
        self.set_stage(s, |e| {
            e.state = StageState::Restarting;
            e.restarts += 1;
            e.last_error = Some((Timestamp::now(), error.to_string()));
            n = e.restarts;
        });
        n
    }

    /// Stages not in use (web disabled, no printer) are marked finished so health ignores them.
    pub fn stage_unused(&self, s: Stage) {
        self.stage_finished(s);
    }

    // --- inputs from the stages ---------------------------------------------------

    pub fn set_printer(&self, link: &str, status: watch::Receiver<PrinterStatus>) {
        *lock(&self.printer_link) = link.to_string();
        *lock(&self.printer) = Some(status);
    }

    pub fn printer_status(&self) -> Option<PrinterStatus> {
        lock(&self.printer).as_ref().map(|rx| rx.borrow().clone())
    }

    pub fn set_camera(&self, stats: Arc<CaptureStats>) {
        *lock(&self.camera) = Some(stats);
    }

    /// The hand-off queue's counters (its drops are the camera's drops too).
    pub fn record_handoff_drops(&self, total: u64) {
        self.handoff_dropped.store(total, Ordering::Relaxed);
    }

    pub fn record_latency(&self, ms: f32) {
        lock(&self.counters).observe_latency(ms);
        let mut g = lock(&self.latencies);
        g.last = Some(ms);
        g.window.push_back(ms);
        if g.window.len() > 32 {
            g.window.pop_front();
        }
    }

    pub fn set_vision(&self, v: VisionDto) {
        *lock(&self.vision) = v;
    }

    pub fn set_decision(&self, d: DecisionDto) {
        {
            let mut c = lock(&self.counters);
            match d.level {
                Level::Ok => c.verdicts_ok += 1,
                Level::Warning => c.verdicts_warning += 1,
                Level::Failure => c.verdicts_failure += 1,
            }
        }
        *lock(&self.decision) = Some(d);
        self.updates.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Keeps a judged frame for the live view (JPEG frames only: raw frames are not re-encoded).
    pub fn push_frame(&self, frame: &Frame, smoothed: f32, level: Level) {
        let FrameImage::Jpeg(jpeg) = &frame.image else { return };
        let mut g = lock(&self.live);
        if g.len() == LIVE_FRAMES {
            g.pop_front();
        }
        g.push_back(LiveFrame { seq: frame.seq, captured_at: frame.captured_at, jpeg: jpeg.clone(), smoothed, level });
    }

    /// A time-lapse was written (`ok`) or failed to encode.
    pub fn count_timelapse(&self, ok: bool) {
        let mut c = lock(&self.counters);
        if ok {
            c.timelapses_written += 1;
        } else {
            c.timelapse_failures += 1;
        }
    }

    /// The printer link came back after being down.
    pub fn count_printer_reconnect(&self) {
        lock(&self.counters).printer_reconnects += 1;
    }

    /// Follows the (re)started action engine's mute.
    /// The light task's outcome: a confirmed switch (`ok`) sets the light state.
    pub fn set_light(&self, on: bool, ok: bool) {
        let mut c = lock(&self.counters);
        if ok {
            c.light_switches += 1;
            c.light_on = u8::from(on);
        } else {
            c.light_switch_failures += 1;
        }
    }

    /// The MQTT connection went up or down.
    pub fn set_mqtt(&self, connected: bool) {
        let mut c = lock(&self.counters);
        c.mqtt_connected = u8::from(connected);
        if connected {
            c.mqtt_connections += 1;
        }
    }

    pub fn set_mute(&self, rx: watch::Receiver<Option<MuteInfo>>) {
        *lock(&self.mute) = Some(rx);
    }

    /// The mute in force now, if any.
    pub fn mute(&self) -> Option<MuteInfo> {
        let now = Timestamp::now();
        lock(&self.mute).as_ref().and_then(|rx| rx.borrow().clone()).filter(|m| m.active(now))
    }

    pub fn set_outbox(&self, b: &OutboxBacklog) {
        *lock(&self.outbox) =
            OutboxDto { pending: b.pending, sending: b.sending, failed: b.failed, oldest_pending: b.oldest_pending };
    }

    /// Tracks open health findings by name (`camera_frozen`…); `Cleared` removes one.
    pub fn record_finding(&self, f: &HealthFinding) {
        let mut g = lock(&self.findings);
        match f {
            HealthFinding::Cleared { what, .. } => {
                g.remove(what);
            }
            other => {
                g.insert(finding_name(other).to_string(), other.clone());
            }
        }
    }

    /// Camera findings close when the print ends; the decider says so with `Cleared`.
    /// An active mute is a finding too.
    pub fn findings(&self) -> Vec<HealthFinding> {
        let mut v: Vec<HealthFinding> = lock(&self.findings).values().cloned().collect();
        if let Some(m) = self.mute() {
            v.push(HealthFinding::Muted { since: m.since, until: m.until });
        }
        v
    }

    pub fn set_geometry(&self, g: GeometryDto) {
        *lock(&self.geometry) = Some(g);
    }

    pub fn geometry(&self) -> Option<GeometryDto> {
        lock(&self.geometry).clone()
    }

    /// The expected print over the live frame (`None`: no print, or no calibrated camera).
    pub fn set_overlay(&self, o: Option<Arc<Overlay>>) {
        *lock(&self.overlay) = o;
    }

    pub fn overlay(&self) -> Option<Arc<Overlay>> {
        lock(&self.overlay).clone()
    }

    pub fn set_gcode(&self, s: GcodeSource) {
        *lock(&self.gcode) = s;
    }

    pub fn set_web_addr(&self, addr: SocketAddr) {
        self.web_addr.send_replace(Some(addr));
    }

    /// The address the web server listens on, once bound.
    pub fn web_addr(&self) -> watch::Receiver<Option<SocketAddr>> {
        self.web_addr.subscribe()
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    pub fn started_at(&self) -> Timestamp {
        self.started_at
    }
}

/// Counts the printer link coming back after `Disconnected`, until `cancel`.
pub async fn count_reconnects(
    board: Arc<StatusBoard>,
    mut rx: watch::Receiver<PrinterStatus>,
    cancel: tokio_util::sync::CancellationToken,
) {
    let mut was_down = false;
    let mut seen_up = false;
    loop {
        let down = matches!(rx.borrow_and_update().state, crate::domain::PrinterState::Disconnected);
        if was_down && !down && seen_up {
            board.count_printer_reconnect();
        }
        seen_up |= !down;
        was_down = down;
        tokio::select! {
            _ = cancel.cancelled() => return,
            r = rx.changed() => if r.is_err() { return },
        }
    }
}
