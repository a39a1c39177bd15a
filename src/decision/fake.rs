//! `ThresholdJudge`: the in-tree fake of the decision stage, for tests of the
//! stages downstream (actions, app, web) that need a failure on a chosen frame.
//!
//! A frame whose raw failure score reaches `failure_at` while the printer is
//! printing is a failure (latched until feedback or the printer stops
//! printing); `warning_at` gives a warning. No smoothing, no warm-up, no
//! health checks: never use it to judge a real print.

use std::sync::Arc;

use crate::domain::{FailureKind, FrameScore, HealthFinding, Level, PrinterStatus, Timestamp};

use super::Judge;
use super::inputs::{Feedback, LayerExpectation};
use super::step::{Context, Gate, Step};

/// Raw-threshold judge. See the module docs.
#[derive(Debug, Clone)]
pub struct ThresholdJudge {
    pub warning_at: f32,
    pub failure_at: f32,
    level: Level,
    reported: Level,
}

impl ThresholdJudge {
    pub fn new(warning_at: f32, failure_at: f32) -> ThresholdJudge {
        ThresholdJudge { warning_at, failure_at, level: Level::Ok, reported: Level::Ok }
    }
}

impl Judge for ThresholdJudge {
    fn step(&mut self, frame: &FrameScore, printer: &PrinterStatus, _expect: Option<&LayerExpectation>) -> Step {
        let raw = frame.scores.failure;
        let (gate, level) = if !printer.state.is_printing() {
            (Gate::NotPrinting, Level::Ok)
        } else if self.level == Level::Failure || raw >= self.failure_at {
            (Gate::Judged, Level::Failure)
        } else if raw >= self.warning_at {
            (Gate::Judged, Level::Warning)
        } else {
            (Gate::Judged, Level::Ok)
        };
        self.level = level;
        let changed = level != self.reported;
        self.reported = level;
        let top = frame.scores.top_failure("normal");
        let job = printer.state.job();
        Step {
            at: frame.captured_at,
            frame_seq: Some(frame.seq),
            level,
            kind: (level != Level::Ok).then(|| top.map_or(FailureKind::Other, |c| FailureKind::from_label(&c.label))),
            confidence: raw.clamp(0.0, 1.0),
            changed,
            gate,
            context: Context::default(),
            fast: false,
            raw,
            adjusted: raw,
            smoothed: raw,
            warning_level: self.warning_at,
            pause_level: self.failure_at,
            fast_level: f32::INFINITY,
            dominant: top.map_or(FailureKind::Other, |c| FailureKind::from_label(&c.label)),
            frames: u32::from(level != Level::Ok),
            offset: 0.0,
            shift: 0.0,
            layer: job.and_then(|j| j.layer),
            layer_count: job.and_then(|j| j.layer_count),
            z: job.and_then(|j| j.z),
            progress: job.and_then(|j| j.progress),
            top_label: top.map(|c| Arc::clone(&c.label)),
            top_p: top.map_or(0.0, |c| c.p),
            findings: Vec::new(),
            geometry: None,
            geometry_raised: Vec::new(),
        }
    }

    fn tick(&mut self, _now: Timestamp, printer: &PrinterStatus) -> Vec<HealthFinding> {
        if !printer.state.is_printing() {
            self.level = Level::Ok;
        }
        Vec::new()
    }

    fn feedback(&mut self, _feedback: Feedback, _now: Timestamp) -> Vec<HealthFinding> {
        self.level = Level::Ok;
        Vec::new()
    }
}
