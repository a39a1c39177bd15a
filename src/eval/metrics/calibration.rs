//! Calibration: do scores mean what they say? Expected calibration error over
//! equal-width bins and the per-bin numbers a reliability diagram draws.
//!
//! `ece(pairs, bins)` takes `(confidence, correct)` pairs: for the binary
//! failure score that is `(p_failure, is_failure)` (does a 0.8 mean 80 % of
//! such frames are failures?); for top-label ECE it is
//! `(max class probability, argmax == true class)`. ECE is
//! `Σ_b (n_b / N) · |mean confidence_b − accuracy_b|`; the last bin includes 1.0.

use serde::Serialize;

/// One bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ReliabilityBin {
    pub lo: f64,
    pub hi: f64,
    pub count: u64,
    /// Mean confidence in the bin; `null` when empty.
    pub confidence: Option<f64>,
    /// Share of positives (or correct answers) in the bin; `null` when empty.
    pub accuracy: Option<f64>,
}

/// Equal-width bins over [0, 1].
pub fn reliability(pairs: &[(f32, bool)], bins: usize) -> Vec<ReliabilityBin> {
    let bins = bins.max(1);
    let mut sum = vec![0.0f64; bins];
    let mut hits = vec![0u64; bins];
    let mut n = vec![0u64; bins];
    for &(c, y) in pairs {
        if !c.is_finite() {
            continue;
        }
        let c = f64::from(c.clamp(0.0, 1.0));
        let b = ((c * bins as f64) as usize).min(bins - 1);
        sum[b] += c;
        n[b] += 1;
        hits[b] += u64::from(y);
    }
    (0..bins)
        .map(|b| ReliabilityBin {
            lo: b as f64 / bins as f64,
            hi: (b + 1) as f64 / bins as f64,
            count: n[b],
            confidence: (n[b] > 0).then(|| sum[b] / n[b] as f64),
            accuracy: (n[b] > 0).then(|| hits[b] as f64 / n[b] as f64),
        })
        .collect()
}

/// Expected calibration error with `bins` equal-width bins; `None` when empty.
pub fn ece(pairs: &[(f32, bool)], bins: usize) -> Option<f64> {
    let r = reliability(pairs, bins);
    let total: u64 = r.iter().map(|b| b.count).sum();
    if total == 0 {
        return None;
    }
    Some(r.iter().filter_map(|b| Some(b.count as f64 / total as f64 * (b.confidence? - b.accuracy?).abs())).sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfectly_calibrated_scores_have_zero_ece() {
        // In the 0.2 bin, 1 of 5 is positive; in the 0.8 bin, 4 of 5.
        let mut p = vec![(0.2, true), (0.2, false), (0.2, false), (0.2, false), (0.2, false)];
        p.extend([(0.8, true), (0.8, true), (0.8, true), (0.8, true), (0.8, false)]);
        assert!(ece(&p, 15).unwrap() < 1e-6);
        let over: Vec<(f32, bool)> = vec![(0.9, false); 10];
        assert!((ece(&over, 15).unwrap() - 0.9).abs() < 1e-6);
        assert_eq!(ece(&[], 15), None);
        let r = reliability(&[(1.0, true), (0.0, false)], 15);
        assert_eq!((r[14].count, r[0].count), (1, 1));
    }
}
