//! Model-free cross-checks: camera frozen, dark or silent, printer stalled
//! while "printing", activity after the print ended. They produce
//! `HealthFinding`s when a problem starts and `Cleared` when it goes away,
//! never a failure verdict.
//!
//! Owns the per-camera and per-printer bookkeeping those checks need. The
//! decider asks it whether a frame is usable evidence (`is_dark`, repeated
//! fingerprint) so a dark or frozen picture can never pause a print.
//! Camera checks run only while printing (a dark, still room is normal when
//! idle); findings still open when the print ends are cleared then.

use crate::domain::{FrameScore, HealthFinding, PrintJob, PrinterStatus, Timestamp};

use super::config::HealthConfig;

/// A dark finding clears only once brightness is this far above the dark level.
const DARK_HYSTERESIS: f32 = 4.0;
/// After the end, at least this share of frames must differ from the previous one to count as activity.
const ACTIVITY_SHARE: f32 = 0.8;
/// After the end, this many consecutive identical frames mean the scene is still again.
const STILL_FRAMES: u32 = 3;

/// What the printer says about its progress; any change means it advanced.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Progress {
    file_position: Option<u64>,
    progress: Option<u32>,
    layer: Option<u32>,
    z: Option<u32>,
}

impl Progress {
    fn of(job: Option<&PrintJob>) -> Progress {
        match job {
            Some(j) => Progress {
                file_position: j.file_position,
                progress: j.progress.map(f32::to_bits),
                layer: j.layer,
                z: j.z.map(f32::to_bits),
            },
            None => Progress::default(),
        }
    }

    fn fine_grained(&self) -> bool {
        self.file_position.is_some() || self.progress.is_some()
    }

    fn known(&self) -> bool {
        self.fine_grained() || self.layer.is_some() || self.z.is_some()
    }
}

/// Where the printer was when the picture last changed.
#[derive(Debug, Clone, Copy, PartialEq)]
struct StillSince {
    layer: Option<u32>,
    z: Option<f32>,
    progress: Progress,
    /// First moment the printer was seen printing with this picture.
    printing_ms: i64,
}

impl StillSince {
    fn at(status: &PrinterStatus, now_ms: i64) -> StillSince {
        let job = status.state.job();
        StillSince {
            layer: job.and_then(|j| j.layer),
            z: job.and_then(|j| j.z),
            progress: Progress::of(job),
            printing_ms: now_ms,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Health {
    last_fp: Option<u64>,
    /// Time of the first frame showing the current picture.
    fp_since_ms: i64,
    still: Option<StillSince>,
    frozen: bool,
    /// This camera has produced identical consecutive frames at least once (a still scene looks still).
    seen_still: bool,
    repeated: bool,

    dark_since_ms: Option<i64>,
    dark: bool,

    last_frame_ms: Option<i64>,
    printing_since_ms: Option<i64>,
    silent: bool,

    progress: Progress,
    progress_since_ms: i64,
    stalled: bool,

    ended_ms: Option<i64>,
    after_end_frames: u32,
    after_end_changes: u32,
    still_run: u32,
    activity: bool,
}

impl Health {
    /// Whether the last frame given to `on_frame` showed the same picture as the one before.
    pub fn repeated(&self) -> bool {
        self.repeated
    }

    pub fn frozen(&self) -> bool {
        self.frozen
    }

    /// Whether a frame of this brightness is too dark to judge.
    pub fn is_dark(&self, brightness: f32, h: &HealthConfig) -> bool {
        let limit = if self.dark { h.dark_brightness + DARK_HYSTERESIS } else { h.dark_brightness };
        brightness.is_nan() || brightness < limit
    }

    /// The printer started printing (again).
    pub fn entered_printing(&mut self, status: &PrinterStatus, now_ms: i64) {
        self.printing_since_ms = Some(now_ms);
        self.progress = Progress::of(status.state.job());
        self.progress_since_ms = now_ms;
        self.still = None;
        self.ended_ms = None;
    }

    /// The printer stopped printing (paused, heating, ended…): a stall is over.
    pub fn left_printing(&mut self, now_ms: i64, out: &mut Vec<HealthFinding>) {
        self.printing_since_ms = None;
        clear(&mut self.stalled, "printer_stalled", now_ms, out);
    }

    /// The print ended: open camera findings close, the after-end watch starts.
    pub fn print_ended(&mut self, now_ms: i64, out: &mut Vec<HealthFinding>) {
        self.close_print_findings(now_ms, out);
        self.ended_ms = Some(now_ms);
        self.after_end_frames = 0;
        self.after_end_changes = 0;
        self.still_run = 0;
    }

    /// A new print: every print-related finding closes.
    pub fn new_print(&mut self, now_ms: i64, out: &mut Vec<HealthFinding>) {
        self.close_print_findings(now_ms, out);
        clear(&mut self.activity, "activity_after_end", now_ms, out);
        self.ended_ms = None;
    }

    fn close_print_findings(&mut self, now_ms: i64, out: &mut Vec<HealthFinding>) {
        clear(&mut self.frozen, "camera_frozen", now_ms, out);
        clear(&mut self.dark, "camera_dark", now_ms, out);
        clear(&mut self.silent, "camera_silent", now_ms, out);
        clear(&mut self.stalled, "printer_stalled", now_ms, out);
        self.dark_since_ms = None;
        self.still = None;
    }

    /// Printer-side checks (stall), on every step and tick.
    pub fn on_printer(&mut self, status: &PrinterStatus, now_ms: i64, h: &HealthConfig, out: &mut Vec<HealthFinding>) {
        if !status.state.is_printing() {
            return;
        }
        let now_progress = Progress::of(status.state.job());
        if now_progress != self.progress {
            self.progress = now_progress;
            self.progress_since_ms = now_ms;
            clear(&mut self.stalled, "printer_stalled", now_ms, out);
            return;
        }
        if !now_progress.known() || self.stalled {
            return;
        }
        let limit = if now_progress.fine_grained() { h.stall_after_s } else { h.stall_layer_only_s };
        if now_ms - self.progress_since_ms >= i64::from(limit) * 1000 {
            self.stalled = true;
            out.push(HealthFinding::PrinterStalled {
                since: Timestamp(self.progress_since_ms),
                layer: status.state.job().and_then(|j| j.layer),
            });
        }
    }

    /// No-frame checks (camera silent), on every tick.
    pub fn on_tick(&mut self, status: &PrinterStatus, now_ms: i64, h: &HealthConfig, out: &mut Vec<HealthFinding>) {
        if self.silent || !status.state.is_printing() {
            return;
        }
        let Some(printing_since) = self.printing_since_ms else { return };
        let quiet_since = self.last_frame_ms.map_or(printing_since, |f| f.max(printing_since));
        if now_ms - quiet_since >= i64::from(h.silent_after_s) * 1000 {
            self.silent = true;
            out.push(HealthFinding::CameraSilent { since: Timestamp(self.last_frame_ms.unwrap_or(printing_since)) });
        }
    }

    /// Frame checks: silent clears, dark, frozen, activity after the end.
    pub fn on_frame(
        &mut self,
        frame: &FrameScore,
        status: &PrinterStatus,
        h: &HealthConfig,
        out: &mut Vec<HealthFinding>,
    ) {
        let now_ms = frame.captured_at.millis();
        self.last_frame_ms = Some(now_ms);
        clear(&mut self.silent, "camera_silent", now_ms, out);
        let printing = status.state.is_printing();

        self.repeated = self.last_fp == Some(frame.fingerprint);
        if self.repeated {
            self.seen_still = true;
        } else {
            self.last_fp = Some(frame.fingerprint);
            self.fp_since_ms = now_ms;
            self.still = printing.then(|| StillSince::at(status, now_ms));
            clear(&mut self.frozen, "camera_frozen", now_ms, out);
        }

        if printing {
            self.check_dark(frame.brightness, now_ms, h, out);
            if self.repeated {
                self.check_frozen(status, now_ms, h, out);
            }
        }
        if self.ended_ms.is_some() && !status.state.is_printing() {
            self.check_activity(now_ms, h, out);
        }
    }

    fn check_dark(&mut self, brightness: f32, now_ms: i64, h: &HealthConfig, out: &mut Vec<HealthFinding>) {
        if self.is_dark(brightness, h) {
            let since = *self.dark_since_ms.get_or_insert(now_ms);
            if !self.dark && now_ms - since >= i64::from(h.dark_after_s) * 1000 {
                self.dark = true;
                out.push(HealthFinding::CameraDark { since: Timestamp(since), brightness });
            }
        } else {
            self.dark_since_ms = None;
            clear(&mut self.dark, "camera_dark", now_ms, out);
        }
    }

    fn check_frozen(&mut self, status: &PrinterStatus, now_ms: i64, h: &HealthConfig, out: &mut Vec<HealthFinding>) {
        let now = StillSince::at(status, now_ms);
        let (layer, z, progress) = (now.layer, now.z, now.progress);
        let still = self.still.get_or_insert(now);
        // The picture may have frozen before the printer reported a layer or Z (the first
        // moments of a print, a file still being analysed): count from the first report of each,
        // rather than falling back to `frozen_fallback_s` for the whole print.
        if still.layer.is_none() {
            still.layer = layer;
        }
        if still.z.is_none() {
            still.z = z;
        }
        let still = *still;
        if self.frozen {
            return;
        }
        let layers = match (still.layer, layer) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        };
        let advanced = match (layers, still.z, z) {
            (Some(n), _, _) => n >= h.frozen_after_layers,
            (None, Some(a), Some(b)) => b - a >= h.frozen_after_z_mm,
            _ => {
                let moved = !progress.known() || progress != still.progress;
                moved && now_ms - still.printing_ms >= i64::from(h.frozen_fallback_s) * 1000
            }
        };
        if advanced {
            self.frozen = true;
            out.push(HealthFinding::CameraFrozen {
                since: Timestamp(self.fp_since_ms),
                layers_advanced: layers.unwrap_or(0),
            });
        }
    }

    fn check_activity(&mut self, now_ms: i64, h: &HealthConfig, out: &mut Vec<HealthFinding>) {
        let Some(ended) = self.ended_ms else { return };
        self.after_end_frames += 1;
        if self.repeated {
            self.still_run += 1;
        } else {
            self.after_end_changes += 1;
            self.still_run = 0;
        }
        if self.activity {
            if self.still_run >= STILL_FRAMES {
                clear(&mut self.activity, "activity_after_end", now_ms, out);
                self.ended_ms = None;
            }
            return;
        }
        let share = self.after_end_changes as f32 / self.after_end_frames.max(1) as f32;
        if self.seen_still && share >= ACTIVITY_SHARE && now_ms - ended >= i64::from(h.activity_after_end_s) * 1000 {
            self.activity = true;
            out.push(HealthFinding::ActivityAfterEnd { since: Timestamp(ended) });
        }
    }
}

/// Clears an open finding, reporting `Cleared`.
fn clear(flag: &mut bool, what: &str, now_ms: i64, out: &mut Vec<HealthFinding>) {
    if std::mem::take(flag) {
        out.push(HealthFinding::Cleared { what: what.to_string(), at: Timestamp(now_ms) });
    }
}
