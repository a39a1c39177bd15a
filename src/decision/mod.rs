//! Scores + printer status + G-code expectations → verdicts. Pure.
//!
//! Owns temporal smoothing, thresholds and sensitivity, gating by printer
//! state, warm-up and quiet periods counted in layers, and the model-free
//! cross-checks (frozen/dark/silent camera, stalled printer, activity after
//! the end). **Invariant: no I/O, no clock, no tokio, no threads, no
//! randomness** — time comes in with the inputs — so the daemon and `eval`
//! run exactly the same code on live and recorded data.
//!
//! # Brief overview
//!
//! - [`DecisionParams`] is the resolved operating point: a [`Calibration`]
//!   (`calibration/<name>.toml`, written by `eval`) plus the `[decision]`
//!   config section ([`DecisionConfig`]: sensitivity, single-value overrides,
//!   warm-up/quiet layers, per-kind actions, health limits).
//! - [`Decider`] is the state machine for one camera on one printer. Feed it
//!   every scored frame with [`Decider::step`], call [`Decider::tick`] every few
//!   seconds (frames or not), and pass the owner's answers to
//!   [`Decider::feedback`]. Each call takes the time it happens at.
//! - [`Step`] is what a frame produced: the verdict level and kind, why the
//!   frame was or was not judged ([`Gate`]), the smoothed score and the
//!   levels it was compared against (for timelines), and health findings that
//!   started or cleared. [`Step::verdict`] gives the domain `Verdict`.
//! - [`Judge`] is the stage trait; [`ThresholdJudge`] its fake for tests of
//!   downstream stages.
//!
//! ```
//! use layerwatch::decision::{Decider, DecisionParams};
//! use layerwatch::domain::{FrameScore, PrintJob, PrinterState, PrinterStatus, Scores, Temperatures, Timestamp};
//!
//! let params = DecisionParams::default().with_sensitivity(0.5);
//! let mut decider = Decider::new(&params);
//! let job = PrintJob { file: "cube.gcode".into(), layer: Some(40), ..Default::default() };
//! let printing = |t: i64| PrinterStatus {
//!     state: PrinterState::Printing { job: job.clone() },
//!     temps: Temperatures::default(),
//!     at: Timestamp(t),
//! };
//! for i in 0..30u64 {
//!     let t = i as i64 * 2000;
//!     let frame = FrameScore {
//!         seq: i,
//!         captured_at: Timestamp(t),
//!         scores: Scores { failure: if i < 10 { 0.05 } else { 0.9 }, classes: vec![] },
//!         brightness: 120.0,
//!         fingerprint: i,
//!         latency_ms: 20.0,
//!     };
//!     let step = decider.step(&frame, &printing(t), None);
//!     if step.changed {
//!         println!("{} {:?} smoothed {:.2} (pause at {:.2})", t, step.level, step.smoothed, step.pause_level);
//!     }
//! }
//! ```
//!
//! # The rules, in order, for one frame
//!
//! 1. **Printer.** A new print (another file, a start after finished /
//!    cancelled / idle, or a file position that went back) forgets everything
//!    about the previous one. Only
//!    `Printing` is judged; any other state gives `Ok` and drops a warning or
//!    failure. Re-entering `Printing` restarts smoothing from zero, so stale
//!    averages never fire; re-entering after a failure we called counts as a
//!    resume (below).
//! 2. **Usable frame.** Frames captured at or before the previous one are
//!    ignored; frames darker than `health.dark_brightness`, frames identical to
//!    the previous one (same fingerprint: no new evidence, so a frozen frame of
//!    spaghetti cannot pause anything), and NaN scores are not evidence. These
//!    gates keep the current verdict as it is.
//! 3. **Smoothing.** The failure score, minus the print's learned baseline
//!    (rescaled so 1 stays 1), goes into a time-aware EWMA with half-life
//!    `smoothing.half_life_s`; one frame weighs at most as much as one
//!    `max_step_s` after the previous, and a gap over `reset_after_s` restarts
//!    smoothing and the window. Each failure kind's probability is smoothed the
//!    same way; the largest is the *dominant* kind, whose levels apply.
//! 4. **Schedule.** Muted prints, the quiet period after a resume or a "not a
//!    failure" (`quiet_layers` layers; `quiet_fallback_s` seconds when the
//!    printer reports no layer), and the first `warmup_layers` layers (or
//!    `warmup_fallback_s` seconds of printing when no layer is known) are not
//!    judged. The next `strict_layers` layers (`strict_fallback_s`) are judged
//!    with levels × `context.strict_level_scale`.
//! 5. **Levels.** Calibrated levels move with sensitivity in logit space, then
//!    × the dominant kind's scale, × `tiny_part_level_scale` while the G-code
//!    says little material is on the bed, × the kind's `airborne_scale` on
//!    support/bridge-heavy layers (from the expectation's feature mix, else the
//!    printer's current feature). A kind whose action is `warn` never pauses,
//!    `ignore` never raises anything.
//! 6. **Verdict.** Failure when the smoothed score reaches the pause level and
//!    `k` of the last `n` usable frames do too, or (fast path) when the last
//!    `fast.frames` frames all reach the fast level over at least `fast.min_s`
//!    seconds. Warning likewise with the warning level; a warning holds until
//!    the smoothed score drops `hysteresis` below its level. A failure is
//!    latched until feedback, a new print, or the printer stops printing.
//!
//! # Geometry checks
//!
//! Where the camera is calibrated, [`GeometryChecker`] compares layer-change
//! frames with the expected print (`geometry::ExpectedPrint`): material
//! missing, growth stopped, silhouette offset; see `geometry.rs`. Thresholds
//! in `[decision.geometry]` ([`GeometryConfig`]). [`GeometryFeed`] reads a
//! frame's pixels only when the checker uses them (the daemon and `eval` both
//! feed it). A finding is evidence of its own: [`Decider::geometry`] turns it
//! into a failure (`action = "pause"`), a warning (`"warn"`) or nothing
//! (`"ignore"`), held like a failure until feedback, a new print or the printer
//! stops printing; the verdict carries the finding (kind, bed mm, region).
//!
//! # Feedback
//!
//! `Resumed` restarts smoothing and starts the quiet period; `NotAFailure` does
//! the same and (with `learn_offset`) raises the print's baseline to the
//! median raw score of the last `n` frames, capped at `max_offset`;
//! `MuteForPrint` silences verdicts (not health findings) until a new print;
//! `NewPrint` forgets the print.
//!
//! # Health findings
//!
//! See [`HealthConfig`]: `camera_frozen` (identical picture while the printer
//! advanced `frozen_after_layers` layers, or `frozen_after_z_mm` of Z, or —
//! knowing neither — `frozen_fallback_s` of printing), `camera_dark`,
//! `camera_silent` (checked by `tick`), `printer_stalled` (file position or
//! progress unchanged for `stall_after_s`; layer or Z only: `stall_layer_only_s`),
//! `activity_after_end` (after the print ended, at least 80 % of frames keep
//! changing for `activity_after_end_s`; only raised for a camera that has been
//! seen to give identical frames for a still scene, so a noisy sensor does not
//! raise it after every print). Camera findings are evaluated while printing
//! and closed when the print ends.

mod adapt;
mod calibration;
mod config;
mod decider;
mod fake;
mod gcode_plan;
mod geometry;
mod health;
mod inputs;
mod params;
mod plan;
mod print;
mod smoothing;
mod step;

pub use adapt::{AdaptParams, CameraMemory, MEMORY_CAPACITY, MEMORY_PER_PRINT, apply_shift};
pub use calibration::{
    CALIBRATION_FORMAT, Calibration, CalibrationError, ClassAction, ClassCal, ClassesCal, ContextCal, FastCal,
    LevelsCal, SmoothingCal, WINDOW_CAPACITY, WindowCal,
};
pub use config::{ClassOverride, ClassOverrides, DecisionConfig, HealthConfig};
pub use decider::Decider;
pub use fake::ThresholdJudge;
pub use gcode_plan::{feature_mix, layer_expectations};
pub use geometry::{
    Fed, GeometryChecker, GeometryConfig, GeometryFeed, GeometryFinding, GeometryKind, GeometryStats, checker_inputs,
};
pub use inputs::{FeatureMix, Feedback, LayerExpectation};
pub use plan::LayerPlan;
pub use params::{ClassParams, DecisionParams, KINDS, MAX_LEVEL, kind_index, scale_level, sensitize};
pub use step::{Context, DecisionStats, Gate, Step, confidence};

use crate::domain::{FrameScore, HealthFinding, PrinterStatus, Timestamp};

/// The decision stage: [`Decider`] is the real one, [`ThresholdJudge`] the fake.
pub trait Judge: Send {
    /// Judges one scored frame against the latest printer status and, when
    /// known, what the G-code says about the current layer.
    fn step(&mut self, frame: &FrameScore, printer: &PrinterStatus, expect: Option<&LayerExpectation>) -> Step;
    /// Checks that need no frame (camera silent, printer stalled) at `now`.
    fn tick(&mut self, now: Timestamp, printer: &PrinterStatus) -> Vec<HealthFinding>;
    /// What the owner said, at `now`.
    fn feedback(&mut self, feedback: Feedback, now: Timestamp) -> Vec<HealthFinding>;
}

impl Judge for Decider {
    fn step(&mut self, frame: &FrameScore, printer: &PrinterStatus, expect: Option<&LayerExpectation>) -> Step {
        Decider::step(self, frame, printer, expect)
    }

    fn tick(&mut self, now: Timestamp, printer: &PrinterStatus) -> Vec<HealthFinding> {
        Decider::tick(self, now, printer)
    }

    fn feedback(&mut self, feedback: Feedback, now: Timestamp) -> Vec<HealthFinding> {
        Decider::feedback(self, feedback, now)
    }
}

#[cfg(test)]
mod tests;
