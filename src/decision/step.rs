//! What one `Decider::step` returns: the verdict in compact form, why the
//! frame was or was not judged (`Gate`), the numbers a timeline draws
//! (smoothed score against the warning and pause levels), and health findings.
//!
//! `Step` carries no owned strings on the hot path; `Step::verdict()` builds
//! the domain `Verdict` (with its human note) only when someone needs it.

use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;

use crate::domain::{Evidence, FailureKind, GeometryFinding, HealthFinding, Level, Timestamp, Verdict};

/// Why a frame was judged or not. Closed: the dashboard and `eval` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    /// Compared against the levels.
    Judged,
    /// The printer is not printing (heating, paused, idle, finished, disconnected…).
    NotPrinting,
    /// One of the first `warmup_layers` layers (or the time fallback).
    WarmUp,
    /// Within `quiet_layers` after a resume or a "not a failure".
    Quiet,
    /// Muted for this print by the owner.
    Muted,
    /// The region of interest is too dark: not evidence.
    CameraDark,
    /// Same picture as the previous frame: no new evidence.
    RepeatedFrame,
    /// Same picture while the printer advanced: the camera is frozen.
    CameraFrozen,
    /// The failure score is not a number.
    InvalidScore,
    /// Captured at or before the previous frame: ignored.
    OutOfOrder,
}

impl Gate {
    pub fn name(self) -> &'static str {
        match self {
            Gate::Judged => "judged",
            Gate::NotPrinting => "not_printing",
            Gate::WarmUp => "warm_up",
            Gate::Quiet => "quiet",
            Gate::Muted => "muted",
            Gate::CameraDark => "camera_dark",
            Gate::RepeatedFrame => "repeated_frame",
            Gate::CameraFrozen => "camera_frozen",
            Gate::InvalidScore => "invalid_score",
            Gate::OutOfOrder => "out_of_order",
        }
    }
}

/// What raised or lowered the levels for this frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Context {
    /// One of the strict layers right after warm-up.
    pub strict: bool,
    /// Little material on the bed yet (from the G-code expectation).
    pub tiny_part: bool,
    /// A support/bridge-heavy layer.
    pub airborne: bool,
}

/// Counters for metrics: inputs that were ignored or restarted something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct DecisionStats {
    pub frames: u64,
    pub judged: u64,
    pub out_of_order: u64,
    pub invalid_scores: u64,
    pub dark_frames: u64,
    pub repeated_frames: u64,
    /// Smoothing restarted after a gap longer than `reset_after_s`.
    pub gap_resets: u64,
}

/// The outcome of one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub at: Timestamp,
    pub frame_seq: Option<u64>,
    pub level: Level,
    /// Set for `Warning` and `Failure`.
    pub kind: Option<FailureKind>,
    /// 0..=1: the smoothed score mapped through the levels (0.5 at the warning
    /// level, 0.8 at the pause level, 1 at 1).
    pub confidence: f32,
    /// `level` or `kind` differ from the previous step's.
    pub changed: bool,
    pub gate: Gate,
    pub context: Context,
    /// This failure was called by the fast path (overwhelming evidence).
    pub fast: bool,
    /// The model's failure probability for this frame.
    pub raw: f32,
    /// `raw` after the print's learned baseline.
    pub adjusted: f32,
    /// The smoothed score the levels are compared against.
    pub smoothed: f32,
    /// Effective levels for this frame (infinite when that level is off).
    pub warning_level: f32,
    pub pause_level: f32,
    /// Raw score that `fast.frames` consecutive frames must reach for the fast path.
    pub fast_level: f32,
    /// The failure kind whose levels apply (the dominant smoothed kind).
    pub dominant: FailureKind,
    /// Consecutive frames at or above the level of `level` (the warning level when `Ok`).
    pub frames: u32,
    /// The print's learned baseline.
    pub offset: f32,
    /// Logits this camera's and print's baseline moved the score down (`decision::adapt`).
    pub shift: f32,
    pub layer: Option<u32>,
    pub layer_count: Option<u32>,
    pub z: Option<f32>,
    pub progress: Option<f32>,
    /// The model's most likely failure class and its probability.
    pub top_label: Option<Arc<str>>,
    pub top_p: f32,
    /// Health findings that started or cleared at this frame.
    pub findings: Vec<HealthFinding>,
    /// The geometry finding behind the verdict, while one holds it (see `Decider::geometry`).
    pub geometry: Option<GeometryFinding>,
    /// Geometry findings the checker raised on this frame (whatever the verdict made of them).
    pub geometry_raised: Vec<GeometryFinding>,
}

impl Step {
    /// The domain verdict for alerts, the store and the API.
    pub fn verdict(&self) -> Verdict {
        Verdict {
            at: self.at,
            frame_seq: self.frame_seq,
            level: self.level,
            kind: self.kind,
            confidence: self.confidence,
            evidence: Evidence {
                smoothed: self.smoothed,
                raw: self.raw,
                frames: self.frames,
                top_class: self.top_label.as_deref().map(str::to_string),
                top_class_p: self.top_p,
                layer: self.layer,
                layer_count: self.layer_count,
                z: self.z,
                progress: self.progress,
                note: self.note(),
                bed_xy_mm: self.geometry.as_ref().map(|g| [g.bed_mm[0], g.bed_mm[1]]),
                geometry: self.geometry.clone(),
                overlay: None,
            },
        }
    }

    /// One human sentence, e.g. "smoothed 0.83 over 6 frames at layer 12/40, spaghetti".
    pub fn note(&self) -> String {
        let mut s = String::new();
        let _ = write!(s, "smoothed {:.2}", self.smoothed);
        if self.level != Level::Ok {
            let _ = write!(s, " over {} frames", self.frames);
        }
        match (self.layer, self.layer_count) {
            (Some(l), Some(n)) => {
                let _ = write!(s, " at layer {l}/{n}");
            }
            (Some(l), None) => {
                let _ = write!(s, " at layer {l}");
            }
            _ => {
                if let Some(z) = self.z {
                    let _ = write!(s, " at z {z:.2} mm");
                }
            }
        }
        match (&self.geometry, self.kind) {
            (Some(g), _) => {
                let _ = write!(s, ", {}", g.describe());
            }
            (None, Some(k)) => {
                let _ = write!(s, ", {}", k.name());
            }
            (None, None) => {}
        }
        if self.fast {
            s.push_str(", overwhelming evidence");
        }
        if self.shift > 0.0 {
            let _ = write!(s, ", read {:.1} logits lower for this camera", self.shift);
        }
        if self.gate != Gate::Judged {
            let _ = write!(s, " ({})", self.gate.name());
        }
        s
    }
}

/// Maps the smoothed score through the levels: 0 → 0, warning → 0.5,
/// pause → 0.8, 1 → 1, linear in between. With the pause level off, warning
/// → 0.5 and 1 → 1; with both off, the score itself.
pub fn confidence(smoothed: f32, warning: f32, pause: f32) -> f32 {
    let s = smoothed.clamp(0.0, 1.0);
    let c = if !warning.is_finite() {
        s
    } else if s < warning {
        0.5 * s / warning.max(1e-6)
    } else if !pause.is_finite() {
        0.5 + 0.5 * (s - warning) / (1.0 - warning).max(1e-6)
    } else if s < pause {
        0.5 + 0.3 * (s - warning) / (pause - warning).max(1e-6)
    } else {
        0.8 + 0.2 * (s - pause) / (1.0 - pause).max(1e-6)
    };
    c.clamp(0.0, 1.0)
}
