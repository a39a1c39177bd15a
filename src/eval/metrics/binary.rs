//! Failure-vs-normal metrics from `(score, is_failure)` pairs.
//!
//! - ROC and PR curves have one point per distinct score (ties move together),
//!   ordered from the highest threshold down.
//! - AUROC is the trapezoid area under ROC (equal to the Mann–Whitney
//!   probability that a failure outscores a normal, ties counting half).
//! - AUPRC is average precision, `Σ (R_k − R_{k−1}) · P_k` over the distinct
//!   thresholds (scikit-learn's `average_precision_score`), not a trapezoid,
//!   which would be optimistic.
//! - Recall at an FPR target uses the lowest threshold whose false-positive
//!   rate is still at or below the target on this data.

use serde::Serialize;

/// One point of a ROC or PR curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurvePoint {
    /// Scores at or above this are called failures.
    pub threshold: f32,
    /// ROC: false-positive rate; PR: recall.
    pub x: f64,
    /// ROC: true-positive rate (recall); PR: precision.
    pub y: f64,
}

/// Confusion counts at one threshold, and the rates derived from them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BinaryCounts {
    pub threshold: f32,
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
    /// `null` when nothing was called a failure.
    pub precision: Option<f64>,
    /// `null` when there are no failures.
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    /// `null` when there are no normals.
    pub fpr: Option<f64>,
    pub accuracy: Option<f64>,
}

/// A threshold chosen for a target false-positive rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OperatingPoint {
    pub target_fpr: f64,
    pub threshold: f32,
    pub recall: f64,
    /// The false-positive rate actually reached on this data (≤ target).
    pub fpr: f64,
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// Counts at `threshold`. NaN scores count as "not a failure".
pub fn counts_at(data: &[(f32, bool)], threshold: f32) -> BinaryCounts {
    let (mut tp, mut fp, mut tn, mut fn_) = (0u64, 0u64, 0u64, 0u64);
    for &(s, y) in data {
        let called = s >= threshold;
        match (called, y) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, false) => tn += 1,
            (false, true) => fn_ += 1,
        }
    }
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let f1 = match (precision, recall) {
        (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
        (Some(_), Some(_)) => Some(0.0),
        _ => None,
    };
    BinaryCounts {
        threshold,
        tp,
        fp,
        tn,
        fn_,
        precision,
        recall,
        f1,
        fpr: ratio(fp, fp + tn),
        accuracy: ratio(tp + tn, tp + tn + fp + fn_),
    }
}

/// `(threshold, tp, fp)` after each distinct score, highest first.
fn sweep(data: &[(f32, bool)]) -> Vec<(f32, u64, u64)> {
    let mut v: Vec<(f32, bool)> = data.iter().copied().filter(|(s, _)| !s.is_nan()).collect();
    v.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut out = Vec::new();
    let (mut tp, mut fp) = (0u64, 0u64);
    let mut i = 0;
    while i < v.len() {
        let s = v[i].0;
        while i < v.len() && v[i].0 == s {
            if v[i].1 {
                tp += 1
            } else {
                fp += 1
            }
            i += 1;
        }
        out.push((s, tp, fp));
    }
    out
}

fn totals(data: &[(f32, bool)]) -> (u64, u64) {
    let pos = data.iter().filter(|(s, y)| *y && !s.is_nan()).count() as u64;
    let neg = data.iter().filter(|(s, y)| !*y && !s.is_nan()).count() as u64;
    (pos, neg)
}

/// ROC curve from `(0, 0)` (threshold +∞) to `(1, 1)`; empty without both classes.
pub fn roc_curve(data: &[(f32, bool)]) -> Vec<CurvePoint> {
    let (pos, neg) = totals(data);
    if pos == 0 || neg == 0 {
        return vec![];
    }
    let mut out = vec![CurvePoint { threshold: f32::INFINITY, x: 0.0, y: 0.0 }];
    out.extend(sweep(data).into_iter().map(|(t, tp, fp)| CurvePoint {
        threshold: t,
        x: fp as f64 / neg as f64,
        y: tp as f64 / pos as f64,
    }));
    out
}

/// PR curve (recall, precision) from the highest threshold down; empty without failures.
pub fn pr_curve(data: &[(f32, bool)]) -> Vec<CurvePoint> {
    let (pos, _) = totals(data);
    if pos == 0 {
        return vec![];
    }
    sweep(data)
        .into_iter()
        .map(|(t, tp, fp)| CurvePoint { threshold: t, x: tp as f64 / pos as f64, y: tp as f64 / (tp + fp) as f64 })
        .collect()
}

/// Area under the ROC curve; `None` without both classes.
pub fn auroc(data: &[(f32, bool)]) -> Option<f64> {
    let roc = roc_curve(data);
    if roc.is_empty() {
        return None;
    }
    Some(roc.windows(2).map(|w| (w[1].x - w[0].x) * (w[1].y + w[0].y) / 2.0).sum())
}

/// Average precision; `None` without failures.
pub fn auprc(data: &[(f32, bool)]) -> Option<f64> {
    let pr = pr_curve(data);
    if pr.is_empty() {
        return None;
    }
    let mut prev_r = 0.0;
    let mut ap = 0.0;
    for p in &pr {
        ap += (p.x - prev_r) * p.y;
        prev_r = p.x;
    }
    Some(ap)
}

/// The most recall reachable with a false-positive rate at or below `target`.
pub fn recall_at_fpr(data: &[(f32, bool)], target: f64) -> Option<OperatingPoint> {
    let roc = roc_curve(data);
    roc.iter()
        .skip(1)
        .filter(|p| p.x <= target + 1e-12)
        .last()
        .map(|p| OperatingPoint { target_fpr: target, threshold: p.threshold, recall: p.y, fpr: p.x })
        .or_else(|| {
            (!roc.is_empty()).then_some(OperatingPoint {
                target_fpr: target,
                threshold: f32::INFINITY,
                recall: 0.0,
                fpr: 0.0,
            })
        })
}

/// Keeps at most `max` points of a curve (always the first and last), for plots and JSON.
pub fn thin(curve: &[CurvePoint], max: usize) -> Vec<CurvePoint> {
    if curve.len() <= max || max < 2 {
        return curve.to_vec();
    }
    let step = (curve.len() - 1) as f64 / (max - 1) as f64;
    (0..max).map(|i| curve[((i as f64 * step).round() as usize).min(curve.len() - 1)]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_random_and_inverted_rankings() {
        let perfect = [(0.9, true), (0.8, true), (0.2, false), (0.1, false)];
        assert_eq!(auroc(&perfect), Some(1.0));
        assert_eq!(auprc(&perfect), Some(1.0));
        let inverted = [(0.1, true), (0.2, true), (0.8, false), (0.9, false)];
        assert_eq!(auroc(&inverted), Some(0.0));
        let ties = [(0.5, true), (0.5, false)];
        assert_eq!(auroc(&ties), Some(0.5));
        assert_eq!(auroc(&[(0.5, true)]), None);
        assert_eq!(auprc(&[(0.5, false)]), None);
    }

    #[test]
    fn auroc_equals_the_mann_whitney_probability() {
        // Pseudo-random scores: compare with the O(n²) pair count.
        let mut x = 12345u64;
        let mut data = vec![];
        for i in 0..300 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let r = ((x >> 40) % 100) as f32 / 100.0;
            let y = i % 3 != 0;
            data.push((if y { (r + 0.3).min(1.0) } else { r }, y));
        }
        let (mut wins, mut pairs) = (0.0, 0.0);
        for a in data.iter().filter(|d| d.1) {
            for b in data.iter().filter(|d| !d.1) {
                pairs += 1.0;
                wins += if a.0 > b.0 {
                    1.0
                } else if a.0 == b.0 {
                    0.5
                } else {
                    0.0
                };
            }
        }
        assert!((auroc(&data).unwrap() - wins / pairs).abs() < 1e-9);
    }

    #[test]
    fn average_precision_matches_a_hand_computation() {
        // Ranking: T F T F F → AP = (1/2)(1/1) + (1/2)(2/3) = 0.8333
        let d = [(0.9, true), (0.8, false), (0.7, true), (0.6, false), (0.5, false)];
        assert!((auprc(&d).unwrap() - (0.5 + 1.0 / 3.0)).abs() < 1e-9);
        let c = counts_at(&d, 0.7);
        assert_eq!((c.tp, c.fp, c.tn, c.fn_), (2, 1, 2, 0));
        assert!((c.precision.unwrap() - 2.0 / 3.0).abs() < 1e-9 && c.recall == Some(1.0));
        assert!((c.f1.unwrap() - 0.8).abs() < 1e-9);
    }

    #[test]
    fn recall_at_fpr_takes_the_lowest_threshold_within_target() {
        let mut d: Vec<(f32, bool)> = (0..20).map(|i| (i as f32 / 20.0, false)).collect();
        d.extend([(0.99, true), (0.97, true), (0.93, true), (0.5, true)]);
        // Normals top out at 0.95 and 0.90: FPR 1/20 = 5 % for thresholds in (0.90, 0.95].
        let at5 = recall_at_fpr(&d, 0.05).unwrap();
        assert_eq!((at5.threshold, at5.recall, at5.fpr), (0.93, 0.75, 0.05));
        let at3 = recall_at_fpr(&d, 0.03).unwrap();
        assert_eq!((at3.threshold, at3.recall, at3.fpr), (0.97, 0.5, 0.0));
    }
}
