//! Labelled images → image metrics: failure-vs-normal at the operating point,
//! ROC/PR with AUROC/AUPRC, recall at 3 % and 5 % FPR, calibration (ECE over
//! 15 bins, binary and top-label), the confusion matrix of the model's top
//! class against the dataset label mapped onto model classes, and breakdowns
//! by any column of the labels file.
//!
//! Pure: takes the image set and each image's scores (from `score`), returns
//! an [`ImageReport`] (part of the JSON report schema, `docs/eval-report.md`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::dataset::ImageSet;
use super::error::Skip;
use super::metrics::{self, BinaryCounts, ClassMetrics, Confusion, CurvePoint, OperatingPoint, ReliabilityBin};
use crate::domain::Scores;

/// Points kept per curve in the report.
pub const CURVE_POINTS: usize = 600;
/// Bins of the ECE and the reliability diagram.
pub const ECE_BINS: usize = 15;
/// False-positive rates at which recall is reported.
pub const FPR_TARGETS: [f64; 2] = [0.03, 0.05];

/// The failure-probability threshold images are judged at, and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Threshold {
    pub value: f32,
    /// E.g. `calibration "default" levels.pause = 0.70 at sensitivity 0.50`, or `--threshold`.
    pub source: String,
}

/// Settings of an image evaluation.
#[derive(Debug, Clone)]
pub struct ImageOptions {
    pub threshold: Threshold,
    /// Also reported: counts at the warning level.
    pub warning: Option<Threshold>,
    /// Columns to break the numbers down by (`source`, `split`, `license`…).
    pub by: Vec<String>,
}

/// One image's outcome, for the per-image table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageRow {
    pub name: String,
    pub label: String,
    pub class: String,
    pub failure: bool,
    /// Failure probability `1 − p(normal)`.
    pub score: f32,
    pub top_class: String,
    pub top_p: f32,
}

/// Numbers for one value of a breakdown column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub value: String,
    pub images: u64,
    pub failures: u64,
    pub normals: u64,
    /// Only when the group has both classes.
    pub auroc: Option<f64>,
    pub mean_score: Option<f64>,
    /// Share called a failure at the operating threshold.
    pub flagged: Option<f64>,
    pub recall: Option<f64>,
    pub fpr: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breakdown {
    pub column: String,
    pub groups: Vec<Group>,
}

/// Everything measured on a labelled image set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageReport {
    pub images: u64,
    pub failures: u64,
    pub normals: u64,
    pub threshold: Threshold,
    pub at_threshold: BinaryCounts,
    pub at_warning: Option<(Threshold, BinaryCounts)>,
    pub auroc: Option<f64>,
    pub auprc: Option<f64>,
    pub recall_at_fpr: Vec<OperatingPoint>,
    /// FPR (x) vs recall (y), at most `CURVE_POINTS` points.
    pub roc: Vec<CurvePoint>,
    /// Recall (x) vs precision (y).
    pub pr: Vec<CurvePoint>,
    /// Failure probability vs failure label, 15 bins.
    pub ece: Option<f64>,
    /// Top-class probability vs top class correct, 15 bins.
    pub ece_top_label: Option<f64>,
    pub reliability: Vec<ReliabilityBin>,
    pub confusion: Confusion,
    pub per_class: Vec<ClassMetrics>,
    pub accuracy: Option<f64>,
    pub macro_f1: Option<f64>,
    pub breakdowns: Vec<Breakdown>,
    /// Dataset label → model class, as applied.
    pub label_map: Vec<(String, String)>,
    pub rows: Vec<ImageRow>,
    pub skipped: Vec<Skip>,
}

fn top(scores: &Scores) -> (String, f32) {
    scores.classes.iter().max_by(|a, b| a.p.total_cmp(&b.p)).map(|c| (c.label.to_string(), c.p)).unwrap_or_default()
}

/// Builds the report. `scores[i]` belongs to `set.images[i]`; `None` means
/// the image was skipped (its reason is in `skipped`).
pub fn evaluate(
    set: &ImageSet,
    scores: &[Option<Scores>],
    model_classes: &[String],
    label_map: Vec<(String, String)>,
    skipped: Vec<Skip>,
    opts: &ImageOptions,
) -> ImageReport {
    let mut rows = vec![];
    let mut conf = Confusion::new(model_classes);
    let mut cols: Vec<&BTreeMap<String, String>> = vec![];
    for (img, s) in set.images.iter().zip(scores) {
        let Some(s) = s else { continue };
        let (top_class, top_p) = top(s);
        conf.add(&img.class, &top_class);
        rows.push(ImageRow {
            name: img.name.clone(),
            label: img.label.clone(),
            class: img.class.clone(),
            failure: img.failure,
            score: s.failure,
            top_class,
            top_p,
        });
        cols.push(&img.columns);
    }
    let data: Vec<(f32, bool)> = rows.iter().map(|r| (r.score, r.failure)).collect();
    let top_pairs: Vec<(f32, bool)> = rows.iter().map(|r| (r.top_p, r.top_class == r.class)).collect();
    let failures = data.iter().filter(|d| d.1).count() as u64;
    let t = opts.threshold.value;
    let breakdowns = opts
        .by
        .iter()
        .map(|column| {
            let mut groups: BTreeMap<String, Vec<(f32, bool)>> = BTreeMap::new();
            for (r, c) in rows.iter().zip(&cols) {
                let v = c.get(column).cloned().unwrap_or_default();
                groups.entry(v).or_default().push((r.score, r.failure));
            }
            let groups = groups
                .into_iter()
                .map(|(value, d)| {
                    let c = metrics::counts_at(&d, t);
                    let scores: Vec<f64> = d.iter().map(|x| f64::from(x.0)).collect();
                    Group {
                        value,
                        images: d.len() as u64,
                        failures: c.tp + c.fn_,
                        normals: c.fp + c.tn,
                        auroc: metrics::auroc(&d),
                        mean_score: metrics::mean(&scores),
                        flagged: (!d.is_empty()).then(|| (c.tp + c.fp) as f64 / d.len() as f64),
                        recall: c.recall,
                        fpr: c.fpr,
                    }
                })
                .collect();
            Breakdown { column: column.clone(), groups }
        })
        .collect();
    ImageReport {
        images: data.len() as u64,
        failures,
        normals: data.len() as u64 - failures,
        threshold: opts.threshold.clone(),
        at_threshold: metrics::counts_at(&data, t),
        at_warning: opts.warning.clone().map(|w| {
            let c = metrics::counts_at(&data, w.value);
            (w, c)
        }),
        auroc: metrics::auroc(&data),
        auprc: metrics::auprc(&data),
        recall_at_fpr: FPR_TARGETS.iter().filter_map(|f| metrics::recall_at_fpr(&data, *f)).collect(),
        roc: metrics::binary::thin(&metrics::roc_curve(&data), CURVE_POINTS),
        pr: metrics::binary::thin(&metrics::pr_curve(&data), CURVE_POINTS),
        ece: metrics::ece(&data, ECE_BINS),
        ece_top_label: metrics::ece(&top_pairs, ECE_BINS),
        reliability: metrics::reliability(&data, ECE_BINS),
        per_class: conf.per_class(),
        accuracy: conf.accuracy(),
        macro_f1: conf.macro_f1(),
        confusion: conf,
        breakdowns,
        label_map,
        rows,
        skipped,
    }
}
