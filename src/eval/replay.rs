//! Replaying one scored sequence through the daemon's `decision::Decider` on
//! a simulated clock: every time comes from the data (frame capture times,
//! printer status times), never from `now()`.
//!
//! For each frame, the printer status is the latest one recorded at or before
//! it (before the first one: `disconnected`; a sequence without
//! `printer.jsonl` is treated as one print with no progress information, so
//! the decider's time fallbacks apply); the G-code expectation is the
//! status's layer (or file position) looked up in the sequence's G-code.
//! `tick` runs every 5 s of data time, as the daemon does between frames.
//!
//! What an owner would do is simulated once: a pause before the labelled
//! onset (or on a sequence without a failure) is a **false pause**, answered
//! with `Feedback::Resumed` at once, so one sequence can show several. The
//! first pause at or after the onset is the detection; time to detection is
//! measured from the onset in seconds and in printer layers.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::decision::{
    CameraMemory, ClassAction, Decider, DecisionParams, DecisionStats, Feedback, Gate, LayerPlan, Step, kind_index,
};
use crate::domain::{FailureKind, FrameScore, Level, PrintJob, PrinterState, PrinterStatus, Temperatures, Timestamp};

/// Data time between `tick` calls.
pub const TICK_MS: i64 = 5000;
/// Frame gaps longer than this do not count as print time (recording gaps).
pub const MAX_COUNTED_GAP_MS: i64 = 120_000;

/// A sequence ready to replay: scores cached, everything else plain data.
#[derive(Debug, Clone)]
pub struct ReplayInput {
    pub name: String,
    /// The camera the frames come from (the manifest's `camera`): sequences of one camera share its memory.
    pub camera: String,
    pub t0: i64,
    /// Scored frames in capture-time order.
    pub frames: Vec<FrameScore>,
    pub printer: Option<Vec<PrinterStatus>>,
    /// The plan of the sequence's G-code: the same [`LayerPlan`] and lookup as the daemon's.
    pub gcode: Option<Arc<LayerPlan>>,
    /// Labelled failure onset, absolute ms.
    pub onset_at: Option<i64>,
    pub failure: bool,
    /// Labelled failure kind (`spaghetti`, `surface`, a dataset label…).
    pub kind: Option<String>,
}

/// The verdict a failure of this kind should reach: a pause for kinds whose
/// action is `pause`, a warning for `warn` kinds, nothing for `ignore` kinds.
/// Without a kind, a pause.
pub fn expected_level(kind: Option<&str>, params: &DecisionParams) -> Option<Level> {
    let Some(k) = kind else {
        return Some(Level::Failure);
    };
    let k = FailureKind::from_label(&crate::eval::taxonomy::normalise(k));
    match params.classes[kind_index(k)].action {
        ClassAction::Pause => Some(Level::Failure),
        ClassAction::Warn => Some(Level::Warning),
        ClassAction::Ignore => None,
    }
}

/// One frame of the timeline (times relative to `t0`, seconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TimelinePoint {
    pub t: f64,
    pub raw: f32,
    pub smoothed: f32,
    /// `null` when the level is off (sensitivity 0, or a kind that never pauses).
    pub warning_level: Option<f32>,
    pub pause_level: Option<f32>,
    pub level: Level,
    pub gate: Gate,
    pub layer: Option<u32>,
}

/// Something that happened during the replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Seconds after `t0`.
    pub t: f64,
    /// `warning`, `pause`, `false_warning`, `false_pause`, `resumed`, `cleared` or a health finding name.
    pub what: String,
    pub layer: Option<u32>,
    pub note: String,
}

/// What one replay found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayOutcome {
    pub frames: u64,
    /// Frames per gate (`judged`, `warm_up`, `not_printing`…).
    pub gates: BTreeMap<&'static str, u64>,
    pub stats: DecisionStats,
    /// Pauses before the onset (or anywhere on a normal sequence).
    pub false_pauses: u32,
    pub false_warnings: u32,
    /// Seconds of printing over which false alarms could happen (before the onset).
    pub print_s_before_onset: f64,
    /// What counts as detecting this sequence's failure (`failure` = a pause,
    /// `warning` for kinds that only warn); `null` on normal sequences and ignored kinds.
    pub expected: Option<Level>,
    /// The expected verdict came at or after the onset.
    pub detected: bool,
    /// Seconds from the onset to the expected verdict.
    pub ttd_s: Option<f64>,
    /// Printer layers from the onset to the expected verdict.
    pub ttd_layers: Option<i64>,
    /// Seconds from the onset to the first pause at or after it.
    pub pause_ttd_s: Option<f64>,
    /// Seconds from the onset to the first warning (or pause) at or after it.
    pub warning_ttd_s: Option<f64>,
    pub first_pause_t: Option<f64>,
    pub first_warning_t: Option<f64>,
    pub events: Vec<Event>,
    /// Empty unless asked for.
    pub timeline: Vec<TimelinePoint>,
}

fn finite(v: f32) -> Option<f32> {
    v.is_finite().then_some(v)
}

fn unknown_print(name: &str, at: i64) -> PrinterStatus {
    PrinterStatus {
        state: PrinterState::Printing { job: PrintJob { file: name.to_string(), ..Default::default() } },
        temps: Temperatures::default(),
        at: Timestamp(at),
    }
}

fn layer_of(s: &PrinterStatus) -> Option<u32> {
    s.state.job().and_then(|j| j.layer)
}

/// Replays `input` with `params` and no camera memory. `timeline` keeps one point per frame (for plots).
pub fn replay(input: &ReplayInput, params: &DecisionParams, timeline: bool) -> ReplayOutcome {
    replay_with_memory(input, params, timeline, &mut CameraMemory::default())
}

/// Replays every input, in order, as the daemon would live through them: with
/// `adapt.camera_memory`, sequences of the same camera (`ReplayInput::camera`)
/// share one camera memory, grown by each one that finishes without a failure
/// called; otherwise each starts afresh.
pub fn replay_all(inputs: &[ReplayInput], params: &DecisionParams, timeline: bool) -> Vec<ReplayOutcome> {
    let mut memories: BTreeMap<&str, CameraMemory> = BTreeMap::new();
    inputs
        .iter()
        .map(|i| {
            if params.adapt.camera_memory {
                let m = memories.entry(i.camera.as_str()).or_default();
                replay_with_memory(i, params, timeline, m)
            } else {
                replay(i, params, timeline)
            }
        })
        .collect()
}

/// Replays `input` starting from the camera memory `memory`, and leaves in it
/// what the camera memory became (a print that finished cleanly teaches it).
pub fn replay_with_memory(
    input: &ReplayInput,
    params: &DecisionParams,
    timeline: bool,
    memory: &mut CameraMemory,
) -> ReplayOutcome {
    let mut r = Replay::new(input, params, timeline, std::mem::take(memory));
    for f in &input.frames {
        let at = f.captured_at.millis();
        r.advance_to(at);
        let step = r.judge(f, at);
        let before_onset = !r.unlabelled_failure && r.onset.is_none_or(|o| at < o);
        r.record_level_change(&step, at, before_onset);
        if !before_onset {
            r.record_detection(&step, at);
        }
        if timeline {
            r.out.timeline.push(TimelinePoint {
                t: r.rel(at),
                raw: step.raw,
                smoothed: step.smoothed,
                warning_level: finite(step.warning_level),
                pause_level: finite(step.pause_level),
                level: step.level,
                gate: step.gate,
                layer: step.layer,
            });
        }
        r.prev_level = step.level;
        if step.level == Level::Failure && before_onset {
            r.owner_resumes(&step, at);
        }
    }
    r.finish(memory)
}

/// One replay in progress: the decider, the simulated clock's position in the
/// printer statuses and ticks, and what has been counted so far.
struct Replay<'a> {
    input: &'a ReplayInput,
    params: &'a DecisionParams,
    d: Decider,
    out: ReplayOutcome,
    status: PrinterStatus,
    statuses: &'a [PrinterStatus],
    /// Next status to apply.
    pi: usize,
    next_tick: i64,
    prev_level: Level,
    /// The previous frame's time and whether the printer was printing then.
    prev_frame: Option<(i64, bool)>,
    /// The printer layer at the onset (`u32::MAX`: the onset came with no layer known).
    onset_layer: Option<u32>,
    onset: Option<i64>,
    /// A failure sequence nobody put an onset on: pauses count as detections (no TTD), no false alarms.
    unlabelled_failure: bool,
}

impl<'a> Replay<'a> {
    fn new(input: &'a ReplayInput, params: &'a DecisionParams, timeline: bool, memory: CameraMemory) -> Self {
        let first_t = input.frames.first().map(|f| f.captured_at.millis()).unwrap_or(input.t0);
        let status = match &input.printer {
            Some(_) => PrinterStatus::disconnected(Timestamp(first_t)),
            None => unknown_print(&input.name, first_t),
        };
        Replay {
            input,
            params,
            d: Decider::new(params).with_memory(memory),
            out: ReplayOutcome {
                frames: 0,
                gates: BTreeMap::new(),
                stats: DecisionStats::default(),
                false_pauses: 0,
                false_warnings: 0,
                print_s_before_onset: 0.0,
                expected: if input.failure { expected_level(input.kind.as_deref(), params) } else { None },
                detected: false,
                ttd_s: None,
                ttd_layers: None,
                pause_ttd_s: None,
                warning_ttd_s: None,
                first_pause_t: None,
                first_warning_t: None,
                events: vec![],
                timeline: Vec::with_capacity(if timeline { input.frames.len() } else { 0 }),
            },
            status,
            statuses: input.printer.as_deref().unwrap_or(&[]),
            pi: 0,
            next_tick: first_t + TICK_MS,
            prev_level: Level::Ok,
            prev_frame: None,
            onset_layer: None,
            onset: input.onset_at,
            unlabelled_failure: input.failure && input.onset_at.is_none(),
        }
    }

    /// Seconds after `t0`.
    fn rel(&self, ms: i64) -> f64 {
        (ms - self.input.t0) as f64 / 1000.0
    }

    /// Applies the printer statuses and runs the ticks up to `at`, in time order.
    fn advance_to(&mut self, at: i64) {
        loop {
            let next_status = self.statuses.get(self.pi).map(|s| s.at.millis()).filter(|t| *t <= at);
            let tick_due = (self.next_tick <= at).then_some(self.next_tick);
            match (next_status, tick_due) {
                (Some(ts), Some(tt)) if tt < ts => self.tick(tt),
                (Some(_), _) => {
                    self.status = self.statuses[self.pi].clone();
                    self.pi += 1;
                }
                (None, Some(tt)) => self.tick(tt),
                (None, None) => break,
            }
        }
        if self.input.printer.is_none() {
            self.status.at = Timestamp(at);
        }
        if let Some(o) = self.onset
            && at >= o
            && self.onset_layer.is_none()
        {
            self.onset_layer = layer_of(&self.status).or(Some(u32::MAX));
        }
    }

    fn tick(&mut self, t: i64) {
        for f in self.d.tick(Timestamp(t), &self.status) {
            let e =
                Event { t: self.rel(t), what: finding_name(&f), layer: layer_of(&self.status), note: String::new() };
            self.out.events.push(e);
        }
        self.next_tick += TICK_MS;
    }

    /// One frame through the decider, with the G-code expectation of the
    /// current status; counts gates, print time before the onset and findings.
    fn judge(&mut self, f: &FrameScore, at: i64) -> Step {
        let expect = match (&self.input.gcode, self.status.state.job()) {
            (Some(plan), Some(job)) => plan.for_job(job),
            _ => None,
        };
        let step = self.d.step(f, &self.status, expect);
        self.out.frames += 1;
        *self.out.gates.entry(step.gate.name()).or_insert(0) += 1;
        let printing = self.status.state.is_printing();
        if let Some((pt, was_printing)) = self.prev_frame
            && was_printing
            && printing
            && at - pt <= MAX_COUNTED_GAP_MS
            && !self.unlabelled_failure
            && self.onset.is_none_or(|o| at <= o)
        {
            self.out.print_s_before_onset += (at - pt) as f64 / 1000.0;
        }
        self.prev_frame = Some((at, printing));
        for finding in &step.findings {
            let e = Event { t: self.rel(at), what: finding_name(finding), layer: step.layer, note: String::new() };
            self.out.events.push(e);
        }
        step
    }

    /// A change of level becomes an event; before the onset, a false alarm.
    fn record_level_change(&mut self, step: &Step, at: i64, before_onset: bool) {
        if step.level == self.prev_level {
            return;
        }
        let what = match (step.level, before_onset) {
            (Level::Failure, true) => "false_pause",
            (Level::Failure, false) => "pause",
            (Level::Warning, true) if self.prev_level == Level::Ok => "false_warning",
            (Level::Warning, false) if self.prev_level == Level::Ok => "warning",
            (Level::Warning, _) => "warning_held",
            (Level::Ok, _) => "cleared",
        };
        self.out.events.push(Event { t: self.rel(at), what: what.into(), layer: step.layer, note: step.note() });
        match what {
            "false_pause" => self.out.false_pauses += 1,
            "false_warning" => self.out.false_warnings += 1,
            _ => {}
        }
    }

    /// At or after the onset: the first warning, the first pause, and the
    /// expected verdict (the detection) with its time and layers to detection.
    fn record_detection(&mut self, step: &Step, at: i64) {
        let onset = self.onset;
        let out = &mut self.out;
        let rel = (at - self.input.t0) as f64 / 1000.0;
        if step.level >= Level::Warning && out.first_warning_t.is_none() {
            out.warning_ttd_s = onset.map(|o| (at - o) as f64 / 1000.0);
            out.first_warning_t = Some(rel);
        }
        if step.level == Level::Failure && out.first_pause_t.is_none() {
            out.pause_ttd_s = onset.map(|o| (at - o) as f64 / 1000.0);
            out.first_pause_t = Some(rel);
        }
        if let Some(want) = out.expected
            && step.level >= want
            && !out.detected
        {
            out.detected = true;
            out.ttd_s = onset.map(|o| (at - o) as f64 / 1000.0);
            out.ttd_layers = match (self.onset_layer.filter(|l| *l != u32::MAX), step.layer) {
                (Some(a), Some(b)) => Some(i64::from(b) - i64::from(a)),
                _ => None,
            };
        }
    }

    /// A false pause: the owner looks, sees nothing wrong, and resumes the print.
    fn owner_resumes(&mut self, step: &Step, at: i64) {
        self.d.feedback(Feedback::Resumed, Timestamp(at));
        let e = Event { t: self.rel(at), what: "resumed".into(), layer: step.layer, note: "simulated owner".into() };
        self.out.events.push(e);
        self.prev_level = self.d.level();
    }

    /// What the printer reported after the last frame (the print finishing)
    /// reaches the camera memory; `memory` gets what it became.
    fn finish(mut self, memory: &mut CameraMemory) -> ReplayOutcome {
        if self.params.adapt.camera_memory {
            for s in &self.statuses[self.pi.min(self.statuses.len())..] {
                self.d.tick(s.at, s);
            }
        }
        self.out.stats = self.d.stats();
        *memory = self.d.camera_memory().clone();
        self.out
    }
}

fn finding_name(f: &crate::domain::HealthFinding) -> String {
    match f {
        crate::domain::HealthFinding::Cleared { what, .. } => format!("cleared:{what}"),
        other => other.name().into(),
    }
}
