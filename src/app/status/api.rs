//! The board as the web API reads it: `impl StatusSource for StatusBoard`,
//! which turns the board's small values into the `web` DTOs (`/api/status`,
//! `/healthz`, the live view, the timeline, `/metrics` counters).

use std::sync::atomic::Ordering;

use tokio::sync::watch;

use super::{StageState, StatusBoard, lock};
use crate::app::supervisor::Stage;
use crate::capture::CaptureState;
use crate::domain::{HealthFinding, MuteInfo, PrinterStatus, Timestamp};
use crate::web::{
    ApiStatus, CameraDto, Counters, HealthReport, LiveFrame, PrinterDto, StageDto, StatusSource, TimelineStep,
    VisionDto,
};

impl StatusBoard {
    fn camera_dto(&self) -> CameraDto {
        let handoff = self.handoff_dropped.load(Ordering::Relaxed);
        match lock(&self.camera).as_ref().map(|s| s.snapshot()) {
            Some(s) => CameraDto {
                name: self.camera_name.clone(),
                state: state_name(s.state).into(),
                fps: s.fps,
                frames: s.frames,
                dropped: s.dropped + handoff,
                bad_frames: s.bad_frames,
                reconnects: s.reconnects,
                last_frame_at: s.last_frame_at,
                last_error: s.last_error.map(|e| e.message),
            },
            None => CameraDto {
                name: self.camera_name.clone(),
                state: "starting".into(),
                fps: 0.0,
                frames: 0,
                dropped: handoff,
                bad_frames: 0,
                reconnects: 0,
                last_frame_at: None,
                last_error: None,
            },
        }
    }

    fn vision_dto(&self) -> VisionDto {
        let mut v = lock(&self.vision).clone();
        let l = lock(&self.latencies);
        v.last_latency_ms = l.last;
        if !l.window.is_empty() {
            v.mean_latency_ms = Some(l.window.iter().sum::<f32>() / l.window.len() as f32);
        }
        v
    }
}

fn state_name(s: CaptureState) -> &'static str {
    match s {
        CaptureState::Starting => "starting",
        CaptureState::Streaming => "streaming",
        CaptureState::Reconnecting => "reconnecting",
        CaptureState::Ended => "ended",
        CaptureState::Failed => "failed",
        CaptureState::Stopped => "stopped",
    }
}

/// `pauses and alerts muted until 14:05 (by dashboard)`.
fn mute_words(m: &MuteInfo) -> String {
    let until = match (m.until, m.for_print) {
        (Some(t), true) => format!("until {} or the end of this print", crate::actions::alerts::render::clock_time(t)),
        (Some(t), false) => format!("until {}", crate::actions::alerts::render::clock_time(t)),
        (None, _) => "for the rest of this print".to_string(),
    };
    format!("pauses and alerts muted {until} (by {})", m.who.as_deref().unwrap_or("the owner"))
}

/// The name a finding is tracked (and cleared) by; matches `IncidentCause`'s.
pub fn finding_name(f: &HealthFinding) -> &'static str {
    f.name()
}

impl StatusSource for StatusBoard {
    fn status(&self) -> ApiStatus {
        let now = Timestamp::now();
        let printer = self.printer_status().unwrap_or_else(|| PrinterStatus::disconnected(self.started_at));
        let job = printer.state.job().cloned();
        let stages = lock(&self.stages)
            .iter()
            .map(|(s, i)| StageDto {
                name: s.name().into(),
                state: i.state.name().into(),
                restarts: i.restarts,
                last_error: i.last_error.as_ref().map(|e| e.1.clone()),
                last_error_at: i.last_error.as_ref().map(|e| e.0),
            })
            .collect();
        ApiStatus {
            name: self.name.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            started_at: self.started_at,
            uptime_s: now.secs_since(self.started_at).max(0.0),
            printer: PrinterDto {
                link: lock(&self.printer_link).clone(),
                state: printer.state.name().into(),
                layer: job.as_ref().and_then(|j| j.layer).map(|l| l + 1),
                layer_count: job.as_ref().and_then(|j| j.layer_count),
                job,
                temps: printer.temps,
                since: printer.at,
                gcode: lock(&self.gcode).name().into(),
            },
            camera: self.camera_dto(),
            vision: self.vision_dto(),
            decision: lock(&self.decision).clone(),
            outbox: lock(&self.outbox).clone(),
            stages,
            findings: self.findings(),
            health: self.health(),
            mute: self.mute(),
            geometry: self.geometry(),
        }
    }

    fn health(&self) -> HealthReport {
        let mut problems = Vec::new();
        for (s, i) in lock(&self.stages).iter() {
            match i.state {
                StageState::Running => {}
                StageState::Finished if *s != Stage::Capture => {}
                StageState::Finished => problems.push("camera source ended".to_string()),
                other => problems.push(match &i.last_error {
                    Some((_, e)) if other != StageState::Starting => {
                        format!("stage {} {}: {e}", s.name(), other.name())
                    }
                    _ => format!("stage {} {}", s.name(), other.name()),
                }),
            }
        }
        if self.printer_configured {
            match self.printer_status().map(|p| p.state) {
                None | Some(crate::domain::PrinterState::Disconnected) => {
                    problems.push("printer link is down".to_string())
                }
                Some(crate::domain::PrinterState::Error { message }) => {
                    problems.push(format!("printer reports an error: {message}"))
                }
                Some(_) => {}
            }
        }
        if let Some(s) = lock(&self.camera).as_ref() {
            match s.state() {
                CaptureState::Reconnecting | CaptureState::Failed => problems.push(format!(
                    "camera {}{}",
                    state_name(s.state()),
                    s.last_error().map(|e| format!(": {}", e.message)).unwrap_or_default()
                )),
                _ => {}
            }
        }
        let v = lock(&self.vision);
        if v.stuck {
            problems.push(format!("inference stuck for {} ms", v.busy_for_ms));
        }
        let mut report = HealthReport::new(problems);
        if let Some(m) = self.mute() {
            report.warnings.push(mute_words(&m));
        }
        report
    }

    fn updates(&self) -> Option<watch::Receiver<u64>> {
        Some(self.updates.subscribe())
    }

    fn live_frames(&self) -> Vec<LiveFrame> {
        lock(&self.live).iter().cloned().collect()
    }

    fn recent_steps(&self) -> Vec<TimelineStep> {
        self.journal
            .entries()
            .into_iter()
            .map(|r| TimelineStep {
                at: r.at,
                frame_seq: r.frame_seq,
                printer: r.printer.into(),
                layer: r.layer,
                layer_count: r.layer_count,
                raw: r.raw,
                smoothed: r.smoothed,
                level: r.level,
                kind: r.kind.map(Into::into),
                gate: r.gate.into(),
                pause_level: r.pause_level,
                latency_ms: r.latency_ms,
                geometry: r.geometry.map(Into::into),
            })
            .collect()
    }

    fn overlay(&self) -> Option<crate::domain::Overlay> {
        StatusBoard::overlay(self).map(|o| (*o).clone())
    }

    fn counters(&self) -> Counters {
        lock(&self.counters).clone()
    }
}
