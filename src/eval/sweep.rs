//! The operating-point sweep: every frame is scored once; only the cheap pure
//! decision is re-run per setting (sensitivity × optional pause level ×
//! optional half-life), giving the trade-off between false pauses per 100
//! print-hours and time to detection.
//!
//! [`choose`] picks a point by a written-down rule, and [`calibration_for`]
//! turns it into a `calibration/<name>.toml` in the decision module's format
//! with the chosen levels baked in at sensitivity 0.5 (so the daemon's default
//! sensitivity *is* the chosen point, and the user's knob still moves around it).

use rayon::prelude::*;
use serde::Serialize;

use super::replay::{ReplayInput, replay_all};
use super::sequences::{SequenceSummary, summarize};
use crate::decision::{Calibration, DecisionParams, sensitize};

/// What to sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSpec {
    pub sensitivities: Vec<f32>,
    /// Calibrated pause levels (at sensitivity 0.5); empty = the calibration's.
    pub pause_levels: Vec<f32>,
    /// EWMA half-lives in seconds; empty = the calibration's.
    pub half_lives: Vec<f32>,
}

impl Default for SweepSpec {
    /// Sensitivity 0.05 to 0.95 in steps of 0.05.
    fn default() -> Self {
        SweepSpec {
            sensitivities: (1..=19).map(|i| i as f32 * 0.05).collect(),
            pause_levels: vec![],
            half_lives: vec![],
        }
    }
}

/// One setting and what it gave.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepPoint {
    pub sensitivity: f32,
    /// Calibrated pause level (sensitivity 0.5).
    pub pause_level: f32,
    pub half_life_s: f32,
    /// The pause level the decider compares against at this sensitivity (before per-kind and context scales).
    pub effective_pause_level: f32,
    pub effective_warning_level: f32,
    pub summary: SequenceSummary,
}

/// The parameters of one sweep point.
pub fn params_for(base: &DecisionParams, sensitivity: f32, pause: f32, half_life: f32) -> DecisionParams {
    let mut p = base.clone().with_sensitivity(sensitivity);
    p.pause_level = pause;
    if p.warning_level >= pause {
        p.warning_level = pause * 0.8;
    }
    p.half_life_s = half_life;
    p
}

/// Runs the sweep (in parallel over settings).
pub fn sweep(inputs: &[ReplayInput], base: &DecisionParams, spec: &SweepSpec) -> Vec<SweepPoint> {
    let pauses = if spec.pause_levels.is_empty() { vec![base.pause_level] } else { spec.pause_levels.clone() };
    let halves = if spec.half_lives.is_empty() { vec![base.half_life_s] } else { spec.half_lives.clone() };
    let mut grid = vec![];
    for &h in &halves {
        for &p in &pauses {
            for &s in &spec.sensitivities {
                grid.push((s, p, h));
            }
        }
    }
    grid.par_iter()
        .map(|&(s, p, h)| {
            let params = params_for(base, s, p, h);
            let outcomes = replay_all(inputs, &params, false);
            SweepPoint {
                sensitivity: s,
                pause_level: p,
                half_life_s: h,
                effective_pause_level: params.sensitized(params.pause_level),
                effective_warning_level: params.sensitized(params.warning_level),
                summary: summarize(inputs, &outcomes),
            }
        })
        .collect()
}

/// How a point is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ChoiceRule {
    /// Most false pauses per 100 print-hours allowed (observed rate).
    pub max_false_pauses_per_100h: f64,
    /// A slower point is as good as the fastest if its median TTD is within
    /// this many seconds…
    pub ttd_slack_s: f64,
    /// …or this share of the fastest median.
    pub ttd_slack_share: f64,
}

impl Default for ChoiceRule {
    fn default() -> Self {
        ChoiceRule { max_false_pauses_per_100h: 1.0, ttd_slack_s: 10.0, ttd_slack_share: 0.25 }
    }
}

/// The chosen point and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    pub index: usize,
    pub reason: String,
}

/// 1. keep points within the false-pause budget; 2. of those, the highest
/// detection rate; 3. of those, every point whose median TTD is within the
/// slack of the fastest; 4. of those, the **least eager** (lowest
/// sensitivity, then highest pause level): the same detection and nearly the
/// same speed with the most margin against false pauses on prints we have
/// not seen. `None` when no point is within budget or none detects anything.
pub fn choose(points: &[SweepPoint], rule: &ChoiceRule) -> Option<Choice> {
    let within: Vec<usize> = (0..points.len())
        .filter(|&i| points[i].summary.false_pauses.per_100h.unwrap_or(0.0) <= rule.max_false_pauses_per_100h + 1e-9)
        .filter(|&i| points[i].summary.detection_rate.is_some())
        .collect();
    let best_det = within
        .iter()
        .filter_map(|&i| points[i].summary.detection_rate)
        .fold(None, |m: Option<f64>, d| Some(m.map_or(d, |m| m.max(d))))
        .filter(|d| *d > 0.0)?;
    let top: Vec<usize> = within
        .into_iter()
        .filter(|&i| points[i].summary.detection_rate.is_some_and(|d| d >= best_det - 1e-9))
        .collect();
    let ttd = |i: usize| points[i].summary.ttd_s.median.unwrap_or(f64::INFINITY);
    let fastest = top.iter().map(|&i| ttd(i)).fold(f64::INFINITY, f64::min);
    let slack = rule.ttd_slack_s.max(fastest * rule.ttd_slack_share);
    let index = top.into_iter().filter(|&i| ttd(i) <= fastest + slack || !fastest.is_finite()).min_by(|&a, &b| {
        let (pa, pb) = (&points[a], &points[b]);
        pa.sensitivity
            .total_cmp(&pb.sensitivity)
            .then(pb.pause_level.total_cmp(&pa.pause_level))
            .then(ttd(a).total_cmp(&ttd(b)))
    })?;
    let p = &points[index];
    let reason = format!(
        "false pauses ≤ {:.2}/100 h; best detection rate {:.3}; median TTD {} within {:.0} s of the fastest ({}); \
         least eager such point: sensitivity {:.2}, pause level {:.3}, half-life {:.1} s",
        rule.max_false_pauses_per_100h,
        best_det,
        fmt_opt(p.summary.ttd_s.median),
        slack,
        fmt_opt(fastest.is_finite().then_some(fastest)),
        p.sensitivity,
        p.pause_level,
        p.half_life_s
    );
    Some(Choice { index, reason })
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1} s")).unwrap_or_else(|| "n/a".into())
}

/// The calibration file for a chosen point: `base` with the point's levels
/// moved to sensitivity 0.5 (warning, pause and fast levels shifted by the same
/// logits as the sensitivity would) and its half-life.
pub fn calibration_for(
    base: &Calibration,
    point: &SweepPoint,
    name: &str,
    model: &str,
    frame_interval_ms: u64,
) -> Calibration {
    let span = base.levels.sensitivity_span;
    let s = point.sensitivity;
    let mut c = base.clone();
    c.name = name.to_string();
    c.model = Some(model.to_string());
    if frame_interval_ms > 0 {
        c.frame_interval_ms = frame_interval_ms;
    }
    let round = |v: f32| (v * 1000.0).round() / 1000.0;
    c.levels.pause = round(sensitize(point.pause_level, s, span));
    let warning = if base.levels.warning >= point.pause_level { point.pause_level * 0.8 } else { base.levels.warning };
    c.levels.warning = round(sensitize(warning, s, span)).min(c.levels.pause - 0.01);
    c.fast.level = round(sensitize(base.fast.level, s, span)).clamp(0.01, 1.0);
    c.smoothing.half_life_s = point.half_life_s;
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::sequences::Rate;

    fn point(s: f32, det: f64, ttd: f64, fp: u64) -> SweepPoint {
        let mut summary = crate::eval::sequences::summarize(&[], &[]);
        summary.detection_rate = Some(det);
        summary.ttd_s.median = Some(ttd);
        summary.false_pauses = Rate::of(fp, 10.0);
        SweepPoint {
            sensitivity: s,
            pause_level: 0.7,
            half_life_s: 6.0,
            effective_pause_level: 0.7,
            effective_warning_level: 0.5,
            summary,
        }
    }

    #[test]
    fn choice_rule() {
        let pts = vec![
            point(0.2, 0.6, 60.0, 0),
            point(0.4, 0.9, 30.0, 0),
            point(0.5, 0.9, 24.0, 0),
            point(0.7, 1.0, 10.0, 1),
        ];
        // 0.7 is over the budget (10 per 100 h); 0.4 and 0.5 detect the most; 0.4 is within 10 s of 24 s.
        let c = choose(&pts, &ChoiceRule::default()).unwrap();
        assert_eq!(pts[c.index].sensitivity, 0.4, "{}", c.reason);
        let strict = ChoiceRule { ttd_slack_s: 1.0, ttd_slack_share: 0.0, ..Default::default() };
        assert_eq!(pts[choose(&pts, &strict).unwrap().index].sensitivity, 0.5);
        let loose = ChoiceRule { max_false_pauses_per_100h: 20.0, ..Default::default() };
        assert_eq!(pts[choose(&pts, &loose).unwrap().index].sensitivity, 0.7);
    }

    #[test]
    fn calibration_bakes_the_point_in_at_sensitivity_half() {
        let base = Calibration::default();
        let p = SweepPoint { sensitivity: 0.7, ..point(0.7, 1.0, 10.0, 0) };
        let c = calibration_for(&base, &p, "swept", "m", 2000);
        let params = DecisionParams::from_config(&crate::decision::DecisionConfig::default(), &c);
        let original = params_for(&DecisionParams::default(), 0.7, 0.7, 6.0);
        assert!((params.sensitized(params.pause_level) - original.sensitized(original.pause_level)).abs() < 1e-3);
        let text = c.to_toml_string().unwrap();
        assert_eq!(Calibration::parse(&text, "swept.toml").unwrap(), c);
    }
}
