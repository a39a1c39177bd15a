//! The sweep section of one run in the HTML report: the trade-off plots
//! (false pauses and false warnings against time to detection, detection rate
//! by sensitivity), one curve per pause level and half-life, the chosen point,
//! and the table of every setting.

use std::fmt::Write as _;

use super::format::{BLUE, GREEN, ORANGE, RED, opt, pct};
use super::ids::RunIds;
use crate::eval::report::SweepReport;
use crate::eval::report::svg::{Axis, Chart, esc};
use crate::eval::sweep::SweepPoint;

/// Colours of the curves, one per (pause level, half-life) group, cycling.
const PALETTE: [&str; 6] = [BLUE, ORANGE, GREEN, "#7b1fa2", "#00838f", "#6d4c41"];

/// The sweep section of one run.
pub(super) fn render_sweep(h: &mut String, sw: &SweepReport, ids: RunIds) {
    let _ = write!(h, "<h3 id=\"{}\">Sweep: {} settings</h3>", ids.id("sweep"), sw.points.len());
    h.push_str(
        "<p class=\"note\">Every frame was scored once; each setting re-ran only the decision layer. False \
        pauses and false warnings per 100 print-hours \
        (observed; the table gives the 95 % upper bound, which stays large when few print-hours were replayed) \
            against median time to detection.</p>",
    );
    let false_pauses = |p: &SweepPoint| p.summary.false_pauses.per_100h;
    let false_warnings = |p: &SweepPoint| p.summary.false_warnings.per_100h;
    let ttd = |p: &SweepPoint| p.summary.ttd_s.median;
    let ymax = axis_max(sw, ttd);
    let mut c = Chart::new(
        520.0,
        360.0,
        "Trade-off: false pauses vs time to detection",
        Axis::new(0.0, axis_max(sw, false_pauses), "false pauses per 100 print-hours"),
        Axis::new(0.0, ymax, "median seconds to detection after onset"),
    );
    let groups = Groups::of(sw);
    groups.curves(&mut c, sw, (1.5, 3.0), |p| (false_pauses(p), ttd(p)));
    mark_chosen(&mut c, sw, |p| (false_pauses(p), ttd(p)));
    let mut d = Chart::new(
        520.0,
        360.0,
        "Detection rate by sensitivity",
        Axis::new(0.0, 1.0, "sensitivity"),
        Axis::new(0.0, 1.05, "detection rate"),
    );
    groups.curves(&mut d, sw, (1.8, 2.5), |p| (Some(f64::from(p.sensitivity)), p.summary.detection_rate));
    if groups.0.len() <= 1 {
        d.legend("detection rate", BLUE);
    }
    // False warnings are alerts too (by default): the same trade-off against them.
    let mut w = Chart::new(
        520.0,
        360.0,
        "Trade-off: false warnings vs time to detection",
        Axis::new(0.0, axis_max(sw, false_warnings), "false warnings per 100 print-hours"),
        Axis::new(0.0, ymax, "median seconds to detection after onset"),
    );
    groups.curves(&mut w, sw, (1.5, 3.0), |p| (false_warnings(p), ttd(p)));
    mark_chosen(&mut w, sw, |p| (false_warnings(p), ttd(p)));
    let _ = write!(h, "<div class=\"plots\">{}{}{}</div>", c.render(), w.render(), d.render());
    if let Some(ch) = &sw.chosen {
        let _ = write!(h, "<p><b>Chosen:</b> {}</p>", esc(&ch.reason));
    } else {
        h.push_str(
            "<p><b>No point chosen</b>: none is within the false-pause budget, or there are no failure sequences.</p>",
        );
    }
    if let Some(w) = &sw.written {
        let _ = write!(h, "<p>Written to <code>{}</code>.</p>", esc(w));
    }
    let _ = write!(
        h,
        "<details><summary>All settings</summary><table id=\"{}\"><tr><th>sensitivity</th><th>pause \
        level</th><th>half-life s</th><th>effective pause</th><th>detection</th><th>median TTD s</th><th>p90 TTD \
            s</th><th>median TTD layers</th><th>false pauses /100 h</th><th>upper 95 %</th><th>false warnings /100 \
            h</th></tr>",
        ids.id("sweep-table")
    );
    for (i, p) in sw.points.iter().enumerate() {
        let s = &p.summary;
        let mark = if sw.chosen.as_ref().is_some_and(|c| c.index == i) { " style=\"background:#fde7e4\"" } else { "" };
        let _ = write!(
            h,
            "<tr{mark}><td>{:.2}</td><td>{:.3}</td><td>{:.1}</td><td>{:.3}</td><td>{}</td><td>{}</td><td>{}</td><td>\
                {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            p.sensitivity,
            p.pause_level,
            p.half_life_s,
            p.effective_pause_level,
            pct(s.detection_rate),
            opt(s.ttd_s.median, 1),
            opt(s.ttd_s.p90, 1),
            opt(s.ttd_layers.median, 1),
            opt(s.false_pauses.per_100h, 2),
            opt(s.false_pauses.per_100h_upper95, 1),
            opt(s.false_warnings.per_100h, 1)
        );
    }
    h.push_str("</table></details>");
}

/// The upper end of an axis showing `value` of every point: 10 % above the
/// largest, at least 1.1.
fn axis_max(sw: &SweepReport, value: impl Fn(&SweepPoint) -> Option<f64>) -> f64 {
    sw.points.iter().filter_map(value).fold(0.0f64, f64::max).max(1.0) * 1.1
}

/// The distinct (pause level, half-life) pairs swept, in order: one curve each.
struct Groups(Vec<(f32, f32)>);

impl Groups {
    fn of(sw: &SweepReport) -> Groups {
        let mut groups: Vec<(f32, f32)> = sw.points.iter().map(|p| (p.pause_level, p.half_life_s)).collect();
        groups.dedup();
        groups.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        groups.dedup();
        Groups(groups)
    }

    /// Short legend labels: the half-life only when it varies.
    fn label(&self, pause_level: f32, half_life_s: f32) -> String {
        if self.0.iter().all(|g| g.1 == self.0[0].1) {
            format!("pause {pause_level:.2}")
        } else {
            format!("pause {pause_level:.2}, half-life {half_life_s:.0} s")
        }
    }

    /// One line with dots per group through `xy` of its points (a missing
    /// value leaves a gap), with a legend when there are several groups.
    fn curves(
        &self,
        chart: &mut Chart,
        sw: &SweepReport,
        (line_width, dot_radius): (f64, f64),
        xy: impl Fn(&SweepPoint) -> (Option<f64>, Option<f64>),
    ) {
        for (k, &(pl, hl)) in self.0.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            let pts: Vec<(f64, f64)> = sw
                .points
                .iter()
                .filter(|p| p.pause_level == pl && p.half_life_s == hl)
                .map(|p| {
                    let (x, y) = xy(p);
                    (x.unwrap_or(f64::NAN), y.unwrap_or(f64::NAN))
                })
                .collect();
            chart.line(&pts, color, line_width, None).dots(&pts, color, dot_radius);
            if self.0.len() > 1 {
                chart.legend(&self.label(pl, hl), color);
            }
        }
    }
}

/// Marks the chosen point (a missing value drawn at 0), if any.
fn mark_chosen(chart: &mut Chart, sw: &SweepReport, xy: impl Fn(&SweepPoint) -> (Option<f64>, Option<f64>)) {
    if let Some(ch) = &sw.chosen
        && let Some(p) = sw.points.get(ch.index)
    {
        let (x, y) = xy(p);
        let (x, y) = (x.unwrap_or(0.0), y.unwrap_or(0.0));
        chart.dots(&[(x, y)], RED, 6.0).text(x, y, &format!("chosen: sensitivity {:.2}", p.sensitivity), RED);
    }
}
