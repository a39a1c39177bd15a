//! `Decider`: the state machine that turns frames, printer status and G-code
//! expectations into one `Step` per frame, plus `tick` (no-frame checks) and
//! `feedback` (what the owner said).
//!
//! Owns the order of operations and the verdict rules; delegates arithmetic to
//! `smoothing`, per-print schedule to `print`, cross-checks to `health`.
//! Pure and deterministic: same inputs, same outputs, no clock, no I/O.

use std::sync::Arc;

use crate::domain::{FailureKind, FrameScore, GeometryFinding, HealthFinding, Level, PrinterStatus, Timestamp};

use super::adapt::{Adapter, CameraMemory, apply_shift};
use super::calibration::ClassAction;
use super::health::Health;
use super::inputs::{Feedback, LayerExpectation};
use super::params::{DecisionParams, KINDS, kind_index, scale_level};
use super::print::{PrintTracker, Schedule};
use super::smoothing::{Fed, Smoother, SmoothingParams};
use super::step::{Context, DecisionStats, Gate, Step, confidence};

/// Levels after sensitivity and per-kind scales, before context.
#[derive(Debug, Clone, Copy, PartialEq)]
struct KindLevels {
    warning: f32,
    pause: f32,
    fast: f32,
}

/// The decision state machine for one camera watching one printer.
///
/// Cheap to construct and clone (no heap beyond the parameters' label and the
/// current file name); `step` does not allocate unless a health finding
/// starts or clears.
#[derive(Debug, Clone)]
pub struct Decider {
    params: DecisionParams,
    levels: [KindLevels; 4],
    smoother: Smoother,
    print: PrintTracker,
    health: Health,
    /// Current verdict; `Failure` is latched until feedback, a new print, or the printer stops printing.
    level: Level,
    kind: Option<FailureKind>,
    /// What the last `step` reported, for `Step::changed`.
    reported: (Level, Option<FailureKind>),
    last_frame_ms: Option<i64>,
    /// The previous usable frame was not judged (warm-up, quiet, muted).
    unjudged: bool,
    stats: DecisionStats,
    /// This camera's memory of normal frames (kept across prints; stored by the daemon).
    memory: CameraMemory,
    /// The memory changed since [`Decider::take_memory_update`] last looked.
    memory_changed: bool,
    /// The memory's shift, recomputed when the memory changes (not per frame).
    camera_shift: Option<f32>,
    adapter: Adapter,
    /// A verdict the geometry checks called, latched like a failure: its level and finding.
    geometry: Option<(Level, GeometryFinding)>,
}

impl Decider {
    pub fn new(params: &DecisionParams) -> Decider {
        let p = params;
        let levels = KINDS.map(|kind| {
            let c = &p.classes[kind_index(kind)];
            let warning = match c.action {
                ClassAction::Ignore => f32::INFINITY,
                _ => scale_level(p.sensitized(p.warning_level), c.warning_scale),
            };
            let (pause, fast) = match c.action {
                ClassAction::Pause => {
                    (scale_level(p.sensitized(p.pause_level), c.pause_scale), p.sensitized(p.fast_level))
                }
                _ => (f32::INFINITY, f32::INFINITY),
            };
            KindLevels { warning, pause, fast }
        });
        Decider {
            params: params.clone(),
            levels,
            smoother: Smoother::default(),
            print: PrintTracker::default(),
            health: Health::default(),
            level: Level::Ok,
            kind: None,
            reported: (Level::Ok, None),
            last_frame_ms: None,
            unjudged: false,
            stats: DecisionStats::default(),
            memory: CameraMemory::default(),
            memory_changed: false,
            camera_shift: None,
            adapter: Adapter::default(),
            geometry: None,
        }
    }

    /// This decider with a camera memory loaded from the store.
    pub fn with_memory(mut self, memory: CameraMemory) -> Decider {
        self.memory = memory;
        self.memory_updated(false);
        self
    }

    /// Recomputes the camera's shift after the memory changed; `store`: it must be stored.
    fn memory_updated(&mut self, store: bool) {
        self.camera_shift = self.params.adapt.camera_shift(&self.memory);
        self.memory_changed |= store;
    }

    /// This camera's memory of normal frames.
    pub fn camera_memory(&self) -> &CameraMemory {
        &self.memory
    }

    /// The camera memory, when it changed since the last call (to be stored).
    pub fn take_memory_update(&mut self) -> Option<CameraMemory> {
        std::mem::take(&mut self.memory_changed).then(|| self.memory.clone())
    }

    pub fn params(&self) -> &DecisionParams {
        &self.params
    }

    /// The current verdict level (what the next judged frame starts from).
    pub fn level(&self) -> Level {
        self.level
    }

    pub fn stats(&self) -> DecisionStats {
        self.stats
    }

    /// Judges one frame. `printer` is the latest status (its `at` may be older
    /// than the frame); `expect` what the G-code says about the current layer.
    pub fn step(&mut self, frame: &FrameScore, printer: &PrinterStatus, expect: Option<&LayerExpectation>) -> Step {
        let now = frame.captured_at.millis();
        let mut findings = Vec::new();
        self.stats.frames += 1;
        self.observe_printer(printer, expect.map(|e| e.layer), now, &mut findings);

        let raw = frame.scores.failure;
        let mut out = self.blank_step(frame, printer, expect, raw, findings);
        if self.last_frame_ms.is_some_and(|last| now <= last) {
            self.stats.out_of_order += 1;
            return self.finish(out, Gate::OutOfOrder);
        }
        self.last_frame_ms = Some(now);
        self.health.on_frame(frame, printer, &self.params.health, &mut out.findings);

        if !self.print.printing() {
            self.release();
            return self.finish(out, Gate::NotPrinting);
        }
        let unusable = if self.health.is_dark(frame.brightness, &self.params.health) {
            self.stats.dark_frames += 1;
            Some(Gate::CameraDark)
        } else if self.health.repeated() {
            self.stats.repeated_frames += 1;
            Some(if self.health.frozen() { Gate::CameraFrozen } else { Gate::RepeatedFrame })
        } else if !raw.is_finite() {
            self.stats.invalid_scores += 1;
            Some(Gate::InvalidScore)
        } else {
            None
        };
        if let Some(gate) = unusable {
            // Not evidence: the verdict stays as it is.
            self.fill_levels(&mut out, printer, expect, now);
            return self.finish(out, gate);
        }

        let gate = if self.print.muted() {
            Gate::Muted
        } else if self.print.quiet(now) {
            Gate::Quiet
        } else if self.print.schedule(now, &self.params) == Schedule::WarmUp {
            Gate::WarmUp
        } else {
            Gate::Judged
        };
        // Evidence seen while not judging (warm-up, quiet, muted) does not count once judging starts.
        if gate == Gate::Judged && self.unjudged {
            self.smoother.reset();
        }
        self.unjudged = gate != Gate::Judged;

        let raw = raw.clamp(0.0, 1.0);
        let shift = self.adapter.shift(&self.params.adapt, self.camera_shift);
        // Frames while muted or quiet teach nothing: the owner is looking at something.
        let ok = self.level == Level::Ok && !matches!(gate, Gate::Muted | Gate::Quiet);
        let early = self.print.schedule(now, &self.params) != Schedule::Normal;
        self.adapter.observe(raw, ok, early, &self.params.adapt);
        let shifted = apply_shift(raw, shift);
        let offset = self.print.offset();
        let adjusted = if offset > 0.0 { ((shifted - offset) / (1.0 - offset)).max(0.0) } else { shifted };
        out.shift = shift;
        let kinds = self.kind_probabilities(frame);
        let sp = SmoothingParams {
            half_life_s: self.params.half_life_s,
            max_step_s: self.params.max_step_s,
            reset_after_s: self.params.reset_after_s,
        };
        if self.smoother.feed(now, adjusted, raw, &kinds, &sp) == Fed::AfterReset {
            self.stats.gap_resets += 1;
        }
        out.adjusted = adjusted;
        self.fill_levels(&mut out, printer, expect, now);
        if gate != Gate::Judged {
            self.release();
            return self.finish(out, gate);
        }
        self.stats.judged += 1;
        self.judge(&mut out);
        self.finish(out, Gate::Judged)
    }

    /// Geometry findings the checker (`GeometryChecker`, fed by the caller) raised
    /// on the frame `out` was stepped from: evidence of their own, with the action of
    /// `[decision.geometry]` (`pause`: a failure, `warn`: a warning, `ignore`: shown
    /// only). Taken while the frame was judged or in the classifier's warm-up (the
    /// checker has its own); not while muted, quiet after a resume, or not printing.
    /// A finding's verdict holds like a failure: until feedback, a new print, or the
    /// printer stops printing. Updates `out` in place.
    pub fn geometry(&mut self, found: &[GeometryFinding], out: &mut Step) {
        out.geometry_raised.extend(found.iter().cloned());
        let Some(f) = found.first() else { return };
        let level = match self.params.geometry.action {
            ClassAction::Pause => Level::Failure,
            ClassAction::Warn => Level::Warning,
            ClassAction::Ignore => return,
        };
        if !matches!(out.gate, Gate::Judged | Gate::WarmUp)
            || self.geometry.as_ref().is_some_and(|(held, _)| *held >= level)
        {
            return;
        }
        if level == Level::Failure {
            self.adapter.failure_called();
        }
        self.geometry = Some((level, f.clone()));
        self.report(out);
    }

    /// The verdict `out` reports: the classifier's, or the geometry checks' while
    /// theirs holds and is at least as severe.
    fn report(&mut self, out: &mut Step) {
        out.level = self.level;
        out.kind = if self.level == Level::Ok { None } else { self.kind };
        out.geometry = None;
        if let Some((held, f)) = &self.geometry
            && *held >= out.level
        {
            out.level = *held;
            out.kind = Some(FailureKind::Other);
            out.confidence = out.confidence.max(if *held == Level::Failure { 0.8 } else { 0.5 });
            out.geometry = Some(f.clone());
        }
        out.changed = (out.level, out.kind) != self.reported;
        self.reported = (out.level, out.kind);
    }

    /// The no-frame checks (camera silent, printer stalled) and printer state
    /// changes between frames. Call it every few seconds with the current time.
    pub fn tick(&mut self, now: Timestamp, printer: &PrinterStatus) -> Vec<HealthFinding> {
        let mut findings = Vec::new();
        let now = now.millis();
        self.observe_printer(printer, None, now, &mut findings);
        self.health.on_tick(printer, now, &self.params.health, &mut findings);
        findings
    }

    /// Applies what the owner said at `now`. Returns findings closed by it (a new print closes them all).
    pub fn feedback(&mut self, feedback: Feedback, now: Timestamp) -> Vec<HealthFinding> {
        let now = now.millis();
        let mut findings = Vec::new();
        match feedback {
            Feedback::Resumed => self.rebaseline(now),
            Feedback::NotAFailure => {
                let n = self.params.window().1;
                if self.params.learn_offset
                    && let Some(median) = self.smoother.median_raw(n)
                {
                    self.print.learn_offset(median, &self.params);
                }
                if self.params.adapt.camera_memory {
                    self.memory.add_correction(&self.smoother.recent_raw(n));
                    self.memory_updated(true);
                }
                self.adapter.failure_withdrawn();
                self.rebaseline(now);
            }
            Feedback::MuteForPrint => {
                // A print the owner muted teaches the camera memory nothing.
                self.adapter.failure_called();
                self.print.mute();
                self.geometry = None;
                self.release();
            }
            Feedback::ForgetCamera => {
                self.memory = CameraMemory::default();
                self.memory_updated(true);
            }
            Feedback::NewPrint => {
                self.geometry = None;
                self.print.start(None, now);
                self.adapter.new_print();
                self.smoother.reset();
                self.health.new_print(now, &mut findings);
                self.release();
            }
        }
        findings
    }

    fn rebaseline(&mut self, now: i64) {
        self.geometry = None;
        self.smoother.reset();
        self.print.start_quiet(now, &self.params);
        self.release();
    }

    /// Drops any warning or failure (the next judged frame starts from `Ok`).
    fn release(&mut self) {
        self.level = Level::Ok;
        self.kind = None;
    }

    fn observe_printer(&mut self, printer: &PrinterStatus, layer: Option<u32>, now: i64, out: &mut Vec<HealthFinding>) {
        let t = self.print.observe(printer, layer, now, self.level == Level::Failure);
        if t.new_print || t.left_printing {
            self.geometry = None;
        }
        if t.new_print {
            self.adapter.new_print();
            self.smoother.reset();
            self.health.new_print(now, out);
            self.release();
        }
        if t.left_printing {
            self.health.left_printing(now, out);
            self.release();
        }
        if t.ended {
            self.health.print_ended(now, out);
            // Only a print that finished without a failure called teaches the camera memory.
            let learn = t.finished && self.params.adapt.camera_memory;
            if let Some(scores) = self.adapter.finished_normal_scores()
                && learn
            {
                self.memory.add_print(scores);
                self.memory_updated(true);
            }
        }
        if t.entered_printing {
            // Stale averages must not fire on re-entry: start again from nothing.
            self.smoother.reset();
            self.health.entered_printing(printer, now);
        }
        if t.implicit_resume {
            self.rebaseline(now);
        }
        self.health.on_printer(printer, now, &self.params.health, out);
    }

    /// Smoothed probability per kind from one frame's classes.
    fn kind_probabilities(&self, frame: &FrameScore) -> [f32; 4] {
        let mut q = [0.0f32; 4];
        for c in &frame.scores.classes {
            if *c.label == *self.params.normal_label || !c.p.is_finite() {
                continue;
            }
            q[kind_index(FailureKind::from_label(&c.label))] += c.p.clamp(0.0, 1.0);
        }
        q
    }

    fn dominant(&self) -> FailureKind {
        let k = self.smoother.kinds();
        let mut best = (FailureKind::Other, 0.0f32);
        for kind in KINDS {
            let v = k[kind_index(kind)];
            if v > best.1 {
                best = (kind, v);
            }
        }
        best.0
    }

    fn context(&self, printer: &PrinterStatus, expect: Option<&LayerExpectation>, now: i64) -> Context {
        let p = &self.params;
        let tiny_part = expect.is_some_and(|e| {
            (e.cumulative_extruded_mm > 0.0 && e.cumulative_extruded_mm < p.tiny_part_extruded_mm)
                || (e.footprint_area_mm2 > 0.0 && e.footprint_area_mm2 < p.tiny_part_footprint_mm2)
        });
        let airborne = match expect {
            Some(e) if e.feature_mix.is_known() => e.feature_mix.airborne() >= p.airborne_share,
            _ => printer.state.job().and_then(|j| j.feature.as_deref()).is_some_and(is_airborne_feature),
        };
        let strict = self.print.schedule(now, p) == Schedule::Strict;
        Context { strict, tiny_part, airborne }
    }

    /// Effective levels for the dominant kind in this frame's context.
    fn fill_levels(&self, out: &mut Step, printer: &PrinterStatus, expect: Option<&LayerExpectation>, now: i64) {
        let p = &self.params;
        let ctx = self.context(printer, expect, now);
        let dominant = self.dominant();
        let base = self.levels[kind_index(dominant)];
        let mut scale = 1.0;
        if ctx.strict {
            scale *= p.strict_level_scale;
        }
        if ctx.tiny_part {
            scale *= p.tiny_part_level_scale;
        }
        // The fast level is moved by the schedule and the amount of material, not by the kind.
        out.fast_level = scale_level(base.fast, scale);
        if ctx.airborne {
            scale *= p.classes[kind_index(dominant)].airborne_scale;
        }
        out.context = ctx;
        out.dominant = dominant;
        out.smoothed = self.smoother.smoothed();
        out.offset = self.print.offset();
        out.warning_level = scale_level(base.warning, scale);
        out.pause_level = scale_level(base.pause, scale);
        out.confidence = confidence(out.smoothed, out.warning_level, out.pause_level);
    }

    /// The verdict rules, on a frame that went into the smoother.
    fn judge(&mut self, out: &mut Step) {
        let (k, n) = self.params.window();
        let (s, w, p, f) = (out.smoothed, out.warning_level, out.pause_level, out.fast_level);
        if self.level == Level::Failure {
            out.frames = self.smoother.trailing_run(p.min(f)).0;
            return;
        }
        let pause = s >= p && self.smoother.count_at_or_above(p, n) >= k;
        let (run, span) = self.smoother.trailing_run(f);
        let fast = run >= self.params.fast_frames.max(1) && span >= self.params.fast_min_s;
        if pause || fast {
            self.adapter.failure_called();
            self.level = Level::Failure;
            self.kind = Some(out.dominant);
            out.fast = !pause;
            out.frames = if pause { self.smoother.trailing_run(p).0 } else { run };
            out.confidence = out.confidence.max(0.8);
            return;
        }
        let warn = s >= w && self.smoother.count_at_or_above(w, n) >= k;
        let hold = self.level == Level::Warning && s >= w - self.params.hysteresis;
        if warn || hold {
            self.level = Level::Warning;
            self.kind = Some(out.dominant);
        } else {
            self.release();
        }
        out.frames = self.smoother.trailing_run(w).0;
    }

    fn blank_step(
        &self,
        frame: &FrameScore,
        printer: &PrinterStatus,
        expect: Option<&LayerExpectation>,
        raw: f32,
        findings: Vec<HealthFinding>,
    ) -> Step {
        let job = printer.state.job();
        let top = frame.scores.top_failure(&self.params.normal_label);
        Step {
            at: frame.captured_at,
            frame_seq: Some(frame.seq),
            level: Level::Ok,
            kind: None,
            confidence: 0.0,
            changed: false,
            gate: Gate::Judged,
            context: Context::default(),
            fast: false,
            raw,
            adjusted: raw,
            smoothed: self.smoother.smoothed(),
            warning_level: f32::INFINITY,
            pause_level: f32::INFINITY,
            fast_level: f32::INFINITY,
            dominant: FailureKind::Other,
            frames: 0,
            offset: self.print.offset(),
            shift: 0.0,
            layer: self.print.layer(),
            layer_count: job.and_then(|j| j.layer_count).or(expect.and_then(|e| e.layer_count)),
            z: job.and_then(|j| j.z).or(expect.map(|e| e.z)),
            progress: job.and_then(|j| j.progress),
            top_label: top.map(|c| Arc::clone(&c.label)),
            top_p: top.map_or(0.0, |c| c.p),
            findings,
            geometry: None,
            geometry_raised: Vec::new(),
        }
    }

    fn finish(&mut self, mut out: Step, gate: Gate) -> Step {
        out.gate = gate;
        self.report(&mut out);
        out
    }
}

/// Slicer feature names (PrusaSlicer, Cura, Orca…) that print over air or on support.
fn is_airborne_feature(feature: &str) -> bool {
    contains_ignore_case(feature, "support") || contains_ignore_case(feature, "bridge")
}

fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    hay.as_bytes().windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}
