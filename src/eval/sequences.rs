//! Sequence metrics: per-sequence results and the aggregate over a set —
//! detection rate (with its 95 % Wilson interval), time to detection after
//! the onset in seconds and in layers (median, p90), and false warnings and
//! false pauses per print-hour on normal sequences and before the onset on
//! failure sequences (with the 95 % Poisson upper bound, since a handful of
//! print-hours rarely shows one).

use serde::Serialize;

use super::error::Skip;
use super::metrics::{Interval, mean, poisson_upper_95, quantile, wilson_95};
use super::replay::{Event, ReplayInput, ReplayOutcome, TimelinePoint};

/// Median, p90 and mean of a list of values (`null` when empty).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    pub n: u64,
    pub median: Option<f64>,
    pub p90: Option<f64>,
    pub mean: Option<f64>,
    pub max: Option<f64>,
}

impl Spread {
    pub fn of(v: &[f64]) -> Spread {
        Spread {
            n: v.len() as u64,
            median: quantile(v, 0.5),
            p90: quantile(v, 0.9),
            mean: mean(v),
            max: v.iter().copied().fold(None, |m, x| Some(m.map_or(x, |m: f64| m.max(x)))),
        }
    }
}

/// A rate of events per print time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rate {
    pub events: u64,
    pub print_hours: f64,
    /// Events per 100 print-hours; `null` without print time.
    pub per_100h: Option<f64>,
    /// One-sided 95 % upper bound per 100 print-hours.
    pub per_100h_upper95: Option<f64>,
}

impl Rate {
    pub fn of(events: u64, print_hours: f64) -> Rate {
        let ok = print_hours > 0.0;
        Rate {
            events,
            print_hours,
            per_100h: ok.then(|| events as f64 / print_hours * 100.0),
            per_100h_upper95: ok.then(|| poisson_upper_95(events) / print_hours * 100.0),
        }
    }
}

/// The aggregate over a set of sequences at one setting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SequenceSummary {
    pub sequences: u64,
    pub failure_sequences: u64,
    pub normal_sequences: u64,
    /// Failure sequences whose kind should raise something (not `ignore` kinds).
    pub detectable: u64,
    /// …that got their expected verdict (a pause, or a warning for warn-only kinds) after the onset.
    pub detected: u64,
    /// Failure sequences whose kind should pause, and how many did.
    pub pause_expected: u64,
    pub paused: u64,
    /// Failure sequences whose kind should only warn, and how many did.
    pub warning_expected: u64,
    pub warned: u64,
    pub detection_rate: Option<f64>,
    pub detection_rate_ci95: Option<Interval>,
    /// Time to the expected verdict.
    pub ttd_s: Spread,
    pub ttd_layers: Spread,
    /// Time to a pause, over sequences whose kind should pause.
    pub pause_ttd_s: Spread,
    /// Time to the first warning or pause, over all failure sequences.
    pub warning_ttd_s: Spread,
    /// On sequences without a failure.
    pub false_pauses_normal: Rate,
    pub false_warnings_normal: Rate,
    /// On failure sequences, before the onset.
    pub false_pauses_before_onset: Rate,
    pub false_warnings_before_onset: Rate,
    /// Both together: every pause the owner did not need.
    pub false_pauses: Rate,
    pub false_warnings: Rate,
}

/// Aggregates replays (`outcomes[i]` of `inputs[i]`).
pub fn summarize(inputs: &[ReplayInput], outcomes: &[ReplayOutcome]) -> SequenceSummary {
    let mut ttd = vec![];
    let mut ttd_layers = vec![];
    let mut wttd = vec![];
    let mut pttd = vec![];
    let (mut fails, mut detected, mut detectable) = (0u64, 0u64, 0u64);
    let (mut pe, mut pd, mut we, mut wd) = (0u64, 0u64, 0u64, 0u64);
    let (mut fp_n, mut fw_n, mut h_n) = (0u64, 0u64, 0.0f64);
    let (mut fp_f, mut fw_f, mut h_f) = (0u64, 0u64, 0.0f64);
    for (i, o) in inputs.iter().zip(outcomes) {
        if i.failure {
            fails += 1;
            detectable += u64::from(o.expected.is_some());
            detected += u64::from(o.detected);
            ttd.extend(o.ttd_s);
            ttd_layers.extend(o.ttd_layers.map(|l| l as f64));
            wttd.extend(o.warning_ttd_s);
            match o.expected {
                Some(crate::domain::Level::Failure) => {
                    pe += 1;
                    pd += u64::from(o.detected);
                    pttd.extend(o.pause_ttd_s);
                }
                Some(crate::domain::Level::Warning) => {
                    we += 1;
                    wd += u64::from(o.detected);
                }
                _ => {}
            }
            fp_f += u64::from(o.false_pauses);
            fw_f += u64::from(o.false_warnings);
            h_f += o.print_s_before_onset / 3600.0;
        } else {
            fp_n += u64::from(o.false_pauses);
            fw_n += u64::from(o.false_warnings);
            h_n += o.print_s_before_onset / 3600.0;
        }
    }
    SequenceSummary {
        sequences: inputs.len() as u64,
        failure_sequences: fails,
        normal_sequences: inputs.len() as u64 - fails,
        detectable,
        detected,
        pause_expected: pe,
        paused: pd,
        warning_expected: we,
        warned: wd,
        detection_rate: (detectable > 0).then(|| detected as f64 / detectable as f64),
        detection_rate_ci95: wilson_95(detected, detectable),
        ttd_s: Spread::of(&ttd),
        ttd_layers: Spread::of(&ttd_layers),
        pause_ttd_s: Spread::of(&pttd),
        warning_ttd_s: Spread::of(&wttd),
        false_pauses_normal: Rate::of(fp_n, h_n),
        false_warnings_normal: Rate::of(fw_n, h_n),
        false_pauses_before_onset: Rate::of(fp_f, h_f),
        false_warnings_before_onset: Rate::of(fw_f, h_f),
        false_pauses: Rate::of(fp_n + fp_f, h_n + h_f),
        false_warnings: Rate::of(fw_n + fw_f, h_n + h_f),
    }
}

/// Mean raw score over a slice of timeline points.
fn mean_raw(points: &[&TimelinePoint]) -> Option<f64> {
    let v: Vec<f64> = points.iter().map(|p| f64::from(p.raw)).collect();
    mean(&v)
}

/// One sequence in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SequenceReport {
    pub name: String,
    pub dir: String,
    pub synthetic: bool,
    pub failure: bool,
    pub kind: Option<String>,
    /// Seconds after the sequence's time zero.
    pub onset_t: Option<f64>,
    pub frames: u64,
    pub duration_s: f64,
    pub layer_count: Option<u32>,
    /// Mean model score before and after the onset (all frames before/after when there is none).
    pub mean_score_before_onset: Option<f64>,
    pub mean_score_after_onset: Option<f64>,
    pub outcome: ReplayOutcome,
    pub skipped: Vec<Skip>,
}

impl SequenceReport {
    pub fn new(input: &ReplayInput, outcome: ReplayOutcome, meta: SequenceMeta) -> SequenceReport {
        let onset_t = input.onset_at.map(|o| (o - input.t0) as f64 / 1000.0);
        let (before, after): (Vec<&TimelinePoint>, Vec<&TimelinePoint>) =
            outcome.timeline.iter().partition(|p| onset_t.is_none_or(|o| p.t < o));
        SequenceReport {
            name: input.name.clone(),
            dir: meta.dir,
            synthetic: meta.synthetic,
            failure: input.failure,
            kind: meta.kind,
            onset_t,
            frames: outcome.frames,
            duration_s: match (input.frames.first(), input.frames.last()) {
                (Some(a), Some(b)) => (b.captured_at.millis() - a.captured_at.millis()) as f64 / 1000.0,
                _ => 0.0,
            },
            layer_count: meta.layer_count,
            mean_score_before_onset: mean_raw(&before),
            mean_score_after_onset: mean_raw(&after),
            outcome,
            skipped: meta.skipped,
        }
    }

    /// The events a reader cares about (verdict changes and health findings).
    pub fn key_events(&self) -> impl Iterator<Item = &Event> {
        self.outcome.events.iter()
    }
}

/// Facts about a sequence that the replay does not need.
#[derive(Debug, Clone, Default)]
pub struct SequenceMeta {
    pub dir: String,
    pub synthetic: bool,
    pub kind: Option<String>,
    pub layer_count: Option<u32>,
    pub skipped: Vec<Skip>,
}
