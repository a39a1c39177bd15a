//! What the decider knows about the print in progress: which print it is,
//! whether the printer is printing, how far it got (layer or time), and what
//! the owner said about it (quiet after a resume, mute, learned baseline).
//!
//! Owns print identity (a new file, a start after an end, or a file position
//! that went back is a new print),
//! the warm-up / strict / quiet schedule counted in layers with a time fallback
//! when the printer reports no layer, and the implicit resume (the printer went
//! back to printing after a failure we called). No smoothing, no health.

use crate::domain::{PrinterState, PrinterStatus};

use super::params::DecisionParams;

/// `PrinterState` without its data: what gating needs, `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Disconnected,
    Idle,
    Heating,
    Printing,
    Pausing,
    Paused,
    Finished,
    Cancelled,
    Error,
}

impl Phase {
    pub fn of(state: &PrinterState) -> Phase {
        match state {
            PrinterState::Disconnected => Phase::Disconnected,
            PrinterState::Idle => Phase::Idle,
            PrinterState::Heating { .. } => Phase::Heating,
            PrinterState::Printing { .. } => Phase::Printing,
            PrinterState::Pausing { .. } => Phase::Pausing,
            PrinterState::Paused { .. } => Phase::Paused,
            PrinterState::Finished { .. } => Phase::Finished,
            PrinterState::Cancelled { .. } => Phase::Cancelled,
            PrinterState::Error { .. } => Phase::Error,
        }
    }

    /// A print is under way (possibly paused or heating mid-print).
    fn active(self) -> bool {
        matches!(self, Phase::Heating | Phase::Printing | Phase::Pausing | Phase::Paused)
    }

    /// The print is over. `Disconnected` and `Error` are not: the printer may
    /// still be printing while the link is down.
    fn ended(self) -> bool {
        matches!(self, Phase::Finished | Phase::Cancelled | Phase::Idle)
    }
}

/// What changed with this printer observation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Transition {
    pub new_print: bool,
    pub entered_printing: bool,
    pub left_printing: bool,
    pub ended: bool,
    /// The print ended by finishing (not cancelled, not lost).
    pub finished: bool,
    /// Back to printing after a pause that followed a failure we called.
    pub implicit_resume: bool,
}

/// Where the print is in its schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Schedule {
    WarmUp,
    Strict,
    Normal,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Quiet {
    until_layer: Option<u32>,
    until_ms: i64,
}

/// Per-print state. Cheap: one `String` (the file name), changed only when the print changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct PrintTracker {
    phase: Option<Phase>,
    in_print: bool,
    file: Option<String>,
    /// First time this print was seen printing.
    started_ms: Option<i64>,
    /// Latest layer known from the printer or the G-code expectation.
    layer: Option<u32>,
    /// The printer's own elapsed print time, when it reports one.
    elapsed_s: Option<f64>,
    /// Latest file position reported for this print.
    file_position: Option<u64>,
    muted: bool,
    quiet: Option<Quiet>,
    offset: f32,
    failure_then_left: bool,
}

impl PrintTracker {
    pub fn printing(&self) -> bool {
        self.phase == Some(Phase::Printing)
    }

    pub fn layer(&self) -> Option<u32> {
        self.layer
    }

    pub fn muted(&self) -> bool {
        self.muted
    }

    /// The learned baseline subtracted from this print's failure scores.
    pub fn offset(&self) -> f32 {
        self.offset
    }

    /// Takes in one printer observation. `expected_layer` comes from the G-code
    /// expectation and is used when the printer reports no layer.
    /// `failure_latched`: the decider currently holds a failure verdict.
    pub fn observe(
        &mut self,
        status: &PrinterStatus,
        expected_layer: Option<u32>,
        now_ms: i64,
        failure_latched: bool,
    ) -> Transition {
        let phase = Phase::of(&status.state);
        let job = status.state.job();
        let prev = self.phase.replace(phase);
        let mut t = Transition::default();
        if phase.active() {
            let file = job.map(|j| j.file.as_str()).filter(|f| !f.is_empty());
            let other_file = matches!((file, self.file.as_deref()), (Some(a), Some(b)) if a != b);
            // A file position never goes back within one print: this is the next print of the same file.
            let position = job.and_then(|j| j.file_position);
            let went_back = matches!((position, self.file_position), (Some(now), Some(before)) if now < before);
            if !self.in_print || other_file || went_back {
                self.start(file, now_ms);
                t.new_print = true;
            } else if self.file.is_none()
                && let Some(f) = file
            {
                self.file = Some(f.to_string());
            }
        } else if phase.ended() && self.in_print {
            self.in_print = false;
            t.ended = true;
            t.finished = phase == Phase::Finished;
        }
        let was_printing = prev == Some(Phase::Printing);
        t.entered_printing = phase == Phase::Printing && !was_printing;
        t.left_printing = was_printing && phase != Phase::Printing;
        if t.left_printing && failure_latched {
            self.failure_then_left = true;
        }
        if t.entered_printing {
            if self.failure_then_left && !t.new_print {
                t.implicit_resume = true;
            }
            self.failure_then_left = false;
            self.started_ms.get_or_insert(now_ms);
        }
        if phase.active() {
            if let Some(layer) = job.and_then(|j| j.layer).or(expected_layer) {
                self.layer = Some(layer);
            }
            if let Some(e) = job.and_then(|j| j.elapsed) {
                self.elapsed_s = Some(e.as_secs_f64());
            }
            if let Some(position) = job.and_then(|j| j.file_position) {
                self.file_position = Some(position);
            }
        }
        t
    }

    /// Forgets the previous print: schedule, quiet, mute, baseline.
    pub fn start(&mut self, file: Option<&str>, now_ms: i64) {
        let phase = self.phase;
        *self = PrintTracker { phase, in_print: true, file: file.map(str::to_string), ..Default::default() };
        if phase == Some(Phase::Printing) {
            self.started_ms = Some(now_ms);
        }
    }

    /// Warm-up and strict layers; by printing time when no layer is known.
    pub fn schedule(&self, now_ms: i64, p: &DecisionParams) -> Schedule {
        if let Some(layer) = self.layer {
            return if layer < p.warmup_layers {
                Schedule::WarmUp
            } else if layer < p.warmup_layers.saturating_add(p.strict_layers) {
                Schedule::Strict
            } else {
                Schedule::Normal
            };
        }
        let elapsed = self.elapsed_s.or_else(|| self.started_ms.map(|s| (now_ms - s) as f64 / 1000.0)).unwrap_or(0.0);
        if elapsed < f64::from(p.warmup_fallback_s) {
            Schedule::WarmUp
        } else if elapsed < f64::from(p.warmup_fallback_s) + f64::from(p.strict_fallback_s) {
            Schedule::Strict
        } else {
            Schedule::Normal
        }
    }

    /// Starts (or extends) the quiet period after a resume or a "not a failure".
    pub fn start_quiet(&mut self, now_ms: i64, p: &DecisionParams) {
        let q = Quiet {
            until_layer: self.layer.map(|l| l.saturating_add(p.quiet_layers)),
            until_ms: now_ms.saturating_add(i64::from(p.quiet_fallback_s) * 1000),
        };
        self.quiet = Some(match self.quiet {
            Some(old) => {
                Quiet { until_layer: old.until_layer.max(q.until_layer), until_ms: old.until_ms.max(q.until_ms) }
            }
            None => q,
        });
        self.failure_then_left = false;
    }

    /// Whether the quiet period is still running (and ends it when not).
    pub fn quiet(&mut self, now_ms: i64) -> bool {
        let Some(q) = self.quiet else { return false };
        let still = match (q.until_layer, self.layer) {
            (Some(until), Some(layer)) => layer < until,
            _ => now_ms < q.until_ms,
        };
        if !still {
            self.quiet = None;
        }
        still
    }

    pub fn mute(&mut self) {
        self.muted = true;
    }

    /// Raises this print's baseline to `median` (capped at `max_offset`); never lowers it.
    pub fn learn_offset(&mut self, median: f32, p: &DecisionParams) {
        if median.is_finite() {
            self.offset = self.offset.max(median.clamp(0.0, p.max_offset.clamp(0.0, 0.9)));
        }
    }
}
