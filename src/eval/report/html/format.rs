//! Number formatting and the colour palette shared by the HTML report's sections.

use crate::eval::metrics::CurvePoint;
use crate::eval::sequences::{Rate, Spread};

pub(super) const BLUE: &str = "#1f63b5";
pub(super) const ORANGE: &str = "#d9661f";
pub(super) const RED: &str = "#c0271d";
pub(super) const GREEN: &str = "#2f8a3b";
pub(super) const GREY: &str = "#888";
pub(super) const AMBER: &str = "#e0a100";

/// A finite value with `digits` decimals, else a dash.
pub(super) fn opt(v: Option<f64>, digits: usize) -> String {
    v.filter(|x| x.is_finite()).map(|v| format!("{v:.digits$}")).unwrap_or_else(|| "–".into())
}

/// Three decimals, else a dash.
pub(super) fn f3(v: Option<f64>) -> String {
    opt(v, 3)
}

/// A share as a percentage with one decimal, else a dash.
pub(super) fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{:.1} %", v * 100.0)).unwrap_or_else(|| "–".into())
}

/// An event rate: count, print-hours, per 100 h and its 95 % upper bound.
pub(super) fn rate(r: &Rate) -> String {
    format!(
        "{} in {:.2} h = {} /100 h (95 % ≤ {})",
        r.events,
        r.print_hours,
        opt(r.per_100h, 2),
        opt(r.per_100h_upper95, 1)
    )
}

/// Median and p90 with their unit, or a dash when nothing was measured.
pub(super) fn spread(s: &Spread, unit: &str) -> String {
    if s.n == 0 {
        return "–".into();
    }
    format!("median {} {unit}, p90 {} {unit} (n = {})", opt(s.median, 1), opt(s.p90, 1), s.n)
}

/// A ROC or precision–recall curve as chart points.
pub(super) fn curve(points: &[CurvePoint]) -> Vec<(f64, f64)> {
    points.iter().map(|p| (p.x, p.y)).collect()
}
