//! `--compare A B`: two models or two configs on the same frames. Each run is
//! a full report; this adds the deltas (B − A) of the headline numbers and
//! which side is better for each, plus how often the two disagree on an image.

use serde::Serialize;

use super::report::Run;

/// One headline number on both sides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delta {
    pub metric: String,
    pub a: Option<f64>,
    pub b: Option<f64>,
    /// `b − a`.
    pub delta: Option<f64>,
    pub higher_is_better: bool,
    /// `a`, `b` or `same` (|delta| below 1e-9); `null` when either side is missing.
    pub better: Option<&'static str>,
}

/// The comparison section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub a: String,
    pub b: String,
    pub deltas: Vec<Delta>,
    /// Images called a failure by one side and not the other (each at its own threshold).
    pub images_disagreeing: Option<u64>,
    pub images_compared: Option<u64>,
}

fn delta(metric: &str, a: Option<f64>, b: Option<f64>, higher_is_better: bool) -> Delta {
    let d = a.zip(b).map(|(a, b)| b - a);
    let better = d.map(|d| {
        if d.abs() < 1e-9 {
            "same"
        } else if (d > 0.0) == higher_is_better {
            "b"
        } else {
            "a"
        }
    });
    Delta { metric: metric.into(), a, b, delta: d, higher_is_better, better }
}

/// Deltas of `b` against `a`.
pub fn compare(a: &Run, b: &Run) -> Comparison {
    let mut deltas = vec![];
    let mut disagree = None;
    let mut compared = None;
    if let (Some(ia), Some(ib)) = (&a.images, &b.images) {
        let r = |i: &crate::eval::images::ImageReport, k: usize| i.recall_at_fpr.get(k).map(|p| p.recall);
        deltas.push(delta("images.auroc", ia.auroc, ib.auroc, true));
        deltas.push(delta("images.auprc", ia.auprc, ib.auprc, true));
        deltas.push(delta("images.recall_at_3pct_fpr", r(ia, 0), r(ib, 0), true));
        deltas.push(delta("images.recall_at_5pct_fpr", r(ia, 1), r(ib, 1), true));
        deltas.push(delta("images.precision", ia.at_threshold.precision, ib.at_threshold.precision, true));
        deltas.push(delta("images.recall", ia.at_threshold.recall, ib.at_threshold.recall, true));
        deltas.push(delta("images.f1", ia.at_threshold.f1, ib.at_threshold.f1, true));
        deltas.push(delta("images.fpr", ia.at_threshold.fpr, ib.at_threshold.fpr, false));
        deltas.push(delta("images.ece", ia.ece, ib.ece, false));
        deltas.push(delta("images.ece_top_label", ia.ece_top_label, ib.ece_top_label, false));
        deltas.push(delta("images.accuracy", ia.accuracy, ib.accuracy, true));
        deltas.push(delta("images.macro_f1", ia.macro_f1, ib.macro_f1, true));
        let (ta, tb) = (ia.threshold.value, ib.threshold.value);
        let mut n = 0;
        let mut d = 0;
        for (x, y) in ia.rows.iter().zip(&ib.rows) {
            if x.name == y.name {
                n += 1;
                d += u64::from((x.score >= ta) != (y.score >= tb));
            }
        }
        disagree = Some(d);
        compared = Some(n);
    }
    if let (Some(sa), Some(sb)) = (&a.sequences, &b.sequences) {
        let (sa, sb) = (&sa.summary, &sb.summary);
        deltas.push(delta("sequences.detection_rate", sa.detection_rate, sb.detection_rate, true));
        deltas.push(delta("sequences.ttd_s.median", sa.ttd_s.median, sb.ttd_s.median, false));
        deltas.push(delta("sequences.ttd_s.p90", sa.ttd_s.p90, sb.ttd_s.p90, false));
        deltas.push(delta("sequences.ttd_layers.median", sa.ttd_layers.median, sb.ttd_layers.median, false));
        deltas.push(delta(
            "sequences.false_pauses.per_100h",
            sa.false_pauses.per_100h,
            sb.false_pauses.per_100h,
            false,
        ));
        deltas.push(delta(
            "sequences.false_warnings.per_100h",
            sa.false_warnings.per_100h,
            sb.false_warnings.per_100h,
            false,
        ));
    }
    Comparison {
        a: a.label.clone(),
        b: b.label.clone(),
        deltas,
        images_disagreeing: disagree,
        images_compared: compared,
    }
}
