//! Small statistics for honest reporting: mean, quantiles (linear
//! interpolation between order statistics, as numpy's default), the Wilson
//! score interval for a proportion, and the exact Poisson upper bound for a
//! rate from a count (so "0 false pauses in 5 print-hours" is reported with
//! its real uncertainty: at most 0.6 per hour at 95 %).

use serde::Serialize;

/// A two-sided 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

pub fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// The `q` quantile (0..=1) with linear interpolation; `None` when empty.
pub fn quantile(v: &[f64], q: f64) -> Option<f64> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (s.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(s[lo] + (s[hi] - s[lo]) * (pos - lo as f64))
}

/// Wilson score interval for `k` successes in `n` trials; `None` when `n = 0`.
pub fn wilson_95(k: u64, n: u64) -> Option<Interval> {
    if n == 0 {
        return None;
    }
    let z = 1.959_964f64;
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * ((p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt()) / denom;
    Some(Interval { lo: (centre - half).max(0.0), hi: (centre + half).min(1.0) })
}

/// One-sided 95 % upper bound on a Poisson mean after observing `k` events
/// (0 → 3.00, 1 → 4.74, 2 → 6.30…): the smallest λ with P(X ≤ k; λ) ≤ 0.05.
pub fn poisson_upper_95(k: u64) -> f64 {
    let cdf = |lambda: f64| {
        let mut term = (-lambda).exp();
        let mut sum = term;
        for i in 1..=k {
            term *= lambda / i as f64;
            sum += term;
        }
        sum
    };
    let (mut lo, mut hi) = (0.0f64, 10.0 + 3.0 * k as f64);
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if cdf(mid) > 0.05 { lo = mid } else { hi = mid }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_intervals() {
        let v = [1.0, 2.0, 3.0, 4.0, 10.0];
        assert_eq!(quantile(&v, 0.5), Some(3.0));
        assert!((quantile(&v, 0.9).unwrap() - 7.6).abs() < 1e-9);
        assert_eq!(quantile(&[], 0.5), None);
        assert!((poisson_upper_95(0) - 2.9957).abs() < 1e-3);
        assert!((poisson_upper_95(1) - 4.7439).abs() < 1e-3);
        let w = wilson_95(8, 10).unwrap();
        assert!((w.lo - 0.4902).abs() < 1e-3 && (w.hi - 0.9433).abs() < 1e-3, "{w:?}");
        assert_eq!(wilson_95(0, 0), None);
    }
}
