//! A simulated printer and camera on a simulated clock, driving a real
//! `Decider` and recording what it says. Shared by the `.seq` interpreter and
//! the property tests.

use layerwatch::decision::{Decider, DecisionParams, FeatureMix, Feedback, Gate, LayerExpectation, Step};
use layerwatch::domain::{
    ClassScore, FailureKind, FrameScore, HealthFinding, Level, PrintJob, PrinterState, PrinterStatus, Scores,
    Temperatures, Timestamp,
};

use super::scores::LABELS;

/// Simulated time starts here (a real epoch, so nothing depends on zero).
pub const BASE_MS: i64 = 1_700_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PState {
    Printing,
    Pausing,
    Paused,
    Heating,
    Idle,
    Finished,
    Cancelled,
    Disconnected,
    Error,
}

impl PState {
    pub fn parse(s: &str) -> Option<PState> {
        Some(match s {
            "printing" => PState::Printing,
            "pausing" => PState::Pausing,
            "paused" => PState::Paused,
            "heating" => PState::Heating,
            "idle" => PState::Idle,
            "finished" => PState::Finished,
            "cancelled" => PState::Cancelled,
            "disconnected" => PState::Disconnected,
            "error" => PState::Error,
            _ => return None,
        })
    }
}

/// What the simulated printer reports.
#[derive(Debug, Clone)]
pub struct Printer {
    pub state: PState,
    pub file: String,
    pub layer: Option<u32>,
    pub layer_count: Option<u32>,
    /// Layers advance by one every this many ms of printing.
    pub layer_every_ms: Option<i64>,
    layer_clock_ms: i64,
    pub report_layer: bool,
    pub report_z: bool,
    pub report_progress: bool,
    /// Position, progress and layer stop moving (while still "printing").
    pub stalled: bool,
    print_ms: i64,
    pub feature: Option<String>,
}

/// What the simulated camera delivers besides scores.
#[derive(Debug, Clone)]
pub struct Camera {
    pub brightness: f32,
    /// Every frame shows the same picture.
    pub frozen: bool,
    fp: u64,
}

/// How the simulated G-code analyser fills `LayerExpectation`.
#[derive(Debug, Clone, Copy)]
pub struct GcodeSetup {
    pub footprint_mm2: f32,
    pub extruded_per_layer_mm: f32,
    pub airborne: f32,
}

#[derive(Debug, Clone)]
pub struct StepRec {
    pub t_ms: i64,
    pub level: Level,
    pub kind: Option<FailureKind>,
    pub gate: Gate,
    pub changed: bool,
    pub fast: bool,
    pub smoothed: f32,
    pub warning: f32,
    pub pause: f32,
    pub raw: f32,
    pub layer: Option<u32>,
}

#[derive(Debug, Clone)]
pub enum Event {
    Step(StepRec),
    Finding(i64, HealthFinding),
    Note(i64, String),
}

pub struct Sim {
    pub t_ms: i64,
    seq: u64,
    pub printer: Printer,
    pub camera: Camera,
    pub gcode: Option<GcodeSetup>,
    pub decider: Decider,
    /// Keep every step (the `.seq` timelines); off for the long property runs.
    pub record: bool,
    pub events: Vec<Event>,
    /// Transitions into `Failure` so far.
    pub failures: u32,
    /// Time of each transition into `Failure`.
    pub failure_times: Vec<i64>,
    pub warning_times: Vec<i64>,
    /// Reused for every frame: only the numbers change.
    buffer: FrameScore,
}

impl Sim {
    pub fn new(params: &DecisionParams) -> Sim {
        Sim {
            t_ms: 0,
            seq: 0,
            printer: Printer {
                state: PState::Printing,
                file: "part.gcode".into(),
                layer: Some(10),
                layer_count: None,
                layer_every_ms: None,
                layer_clock_ms: 0,
                report_layer: true,
                report_z: true,
                report_progress: true,
                stalled: false,
                print_ms: 0,
                feature: None,
            },
            camera: Camera { brightness: 110.0, frozen: false, fp: 1 },
            gcode: None,
            decider: Decider::new(params),
            record: true,
            events: Vec::new(),
            failures: 0,
            failure_times: Vec::new(),
            warning_times: Vec::new(),
            buffer: FrameScore {
                seq: 0,
                captured_at: Timestamp(BASE_MS),
                scores: Sim::scores(0.0, LABELS[0]),
                brightness: 0.0,
                fingerprint: 0,
                latency_ms: 15.0,
            },
        }
    }

    /// The same file starts again from the beginning (position 0, layer 0).
    pub fn restart_print(&mut self) {
        self.printer.print_ms = 0;
        self.printer.layer_clock_ms = 0;
        self.printer.layer = self.printer.layer.map(|_| 0);
    }

    pub fn now(&self) -> Timestamp {
        Timestamp(BASE_MS + self.t_ms)
    }

    /// Moves the clock; a printing, non-stalled printer advances its position and layers.
    pub fn advance(&mut self, dt_ms: i64) {
        self.t_ms += dt_ms;
        if self.printer.state == PState::Printing && !self.printer.stalled {
            self.printer.print_ms += dt_ms;
            if let (Some(every), Some(layer)) = (self.printer.layer_every_ms, self.printer.layer.as_mut()) {
                self.printer.layer_clock_ms += dt_ms;
                while self.printer.layer_clock_ms >= every {
                    *layer += 1;
                    self.printer.layer_clock_ms -= every;
                }
            }
        }
    }

    pub fn status(&self) -> PrinterStatus {
        let p = &self.printer;
        let layer = if p.report_layer { p.layer } else { None };
        let job = PrintJob {
            file: p.file.clone(),
            layer,
            layer_count: if p.report_layer { p.layer_count } else { None },
            z: p.layer.filter(|_| p.report_z).map(|l| 0.2 + 0.2 * l as f32),
            progress: p.report_progress.then(|| (p.print_ms as f32 / 36_000_000.0).min(1.0)),
            file_position: p.report_progress.then_some(p.print_ms as u64 / 10),
            file_size: None,
            elapsed: None,
            feature: p.feature.clone(),
        };
        let state = match p.state {
            PState::Printing => PrinterState::Printing { job },
            PState::Pausing => PrinterState::Pausing { job },
            PState::Paused => PrinterState::Paused { job },
            PState::Heating => PrinterState::Heating { job: Some(job) },
            PState::Idle => PrinterState::Idle,
            PState::Finished => PrinterState::Finished { job },
            PState::Cancelled => PrinterState::Cancelled { job: Some(job) },
            PState::Disconnected => PrinterState::Disconnected,
            PState::Error => PrinterState::Error { message: "thermal runaway".into() },
        };
        PrinterStatus { state, temps: Temperatures::default(), at: self.now() }
    }

    fn expectation(&self) -> Option<LayerExpectation> {
        let g = self.gcode?;
        let layer = self.printer.layer?;
        Some(LayerExpectation {
            layer,
            layer_count: self.printer.layer_count,
            z: 0.2 + 0.2 * layer as f32,
            layer_height: 0.2,
            extruded_mm_in_layer: g.extruded_per_layer_mm,
            cumulative_extruded_mm: g.extruded_per_layer_mm * (layer + 1) as f32,
            footprint_area_mm2: g.footprint_mm2,
            feature_mix: FeatureMix {
                perimeter: (1.0 - g.airborne) * 0.4,
                infill: (1.0 - g.airborne) * 0.6,
                support: g.airborne * 0.7,
                bridge: g.airborne * 0.3,
                other: 0.0,
            },
        })
    }

    /// Scores as a 5-class model would give them: `label` takes most of the failure mass.
    pub fn scores(p: f32, label: &str) -> Scores {
        let mut classes = vec![ClassScore { label: "normal".into(), p: 0.0 }];
        classes.extend(LABELS.iter().map(|l| ClassScore { label: (*l).into(), p: 0.0 }));
        let mut scores = Scores { failure: 0.0, classes };
        Sim::set_scores(&mut scores, p, label);
        scores
    }

    /// `p` goes into `failure` as given (garbled values included); the classes get it clamped.
    fn set_scores(scores: &mut Scores, p: f32, label: &str) {
        scores.failure = p;
        let p = p.clamp(0.0, 1.0);
        for c in &mut scores.classes {
            c.p = if &*c.label == "normal" {
                1.0 - p
            } else if &*c.label == label {
                p * 0.85
            } else {
                p * 0.05
            };
        }
    }

    /// One frame at the current time.
    pub fn frame(&mut self, p: f32, label: &str) -> Step {
        if !self.camera.frozen {
            self.camera.fp = self.camera.fp.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        }
        let mut frame = std::mem::replace(
            &mut self.buffer,
            FrameScore {
                seq: 0,
                captured_at: Timestamp(0),
                scores: Scores { failure: 0.0, classes: Vec::new() },
                brightness: 0.0,
                fingerprint: 0,
                latency_ms: 0.0,
            },
        );
        frame.seq = self.seq;
        frame.captured_at = self.now();
        Sim::set_scores(&mut frame.scores, p, label);
        frame.brightness = self.camera.brightness;
        frame.fingerprint = self.camera.fp;
        self.seq += 1;
        let status = self.status();
        let expect = self.expectation();
        let step = self.decider.step(&frame, &status, expect.as_ref());
        self.buffer = frame;
        self.note_step(&step);
        step
    }

    fn note_step(&mut self, step: &Step) {
        if step.changed && step.level == Level::Failure {
            self.failures += 1;
            self.failure_times.push(self.t_ms);
        }
        if step.changed && step.level == Level::Warning {
            self.warning_times.push(self.t_ms);
        }
        if !self.record {
            return;
        }
        self.events.push(Event::Step(StepRec {
            t_ms: self.t_ms,
            level: step.level,
            kind: step.kind,
            gate: step.gate,
            changed: step.changed,
            fast: step.fast,
            smoothed: step.smoothed,
            warning: step.warning_level,
            pause: step.pause_level,
            raw: step.raw,
            layer: step.layer,
        }));
        for f in &step.findings {
            self.events.push(Event::Finding(self.t_ms, f.clone()));
        }
    }

    pub fn tick(&mut self) {
        let status = self.status();
        let findings = self.decider.tick(self.now(), &status);
        if self.record {
            for f in findings {
                self.events.push(Event::Finding(self.t_ms, f));
            }
        }
    }

    pub fn feedback(&mut self, fb: Feedback) {
        let findings = self.decider.feedback(fb, self.now());
        if self.record {
            self.events.push(Event::Note(self.t_ms, format!("feedback {}", fb.name())));
            for f in findings {
                self.events.push(Event::Finding(self.t_ms, f));
            }
        }
    }

    pub fn note(&mut self, text: String) {
        if self.record {
            self.events.push(Event::Note(self.t_ms, text));
        }
    }
}
