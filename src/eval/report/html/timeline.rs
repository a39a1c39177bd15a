//! One sequence's timeline plot in the HTML report: raw and smoothed scores,
//! the warning and pause levels, the onset, frames not judged, and the
//! warning / pause / false-alarm markers.

use super::format::{AMBER, BLUE, GREY, RED};
use crate::decision::Gate;
use crate::domain::Level;
use crate::eval::replay::TimelinePoint;
use crate::eval::report::svg::{Axis, Chart};
use crate::eval::sequences::SequenceReport;

/// One sequence: raw scores (dots), smoothed score (line), warning and pause
/// levels (step lines), the onset, and warning / pause / false-pause markers.
pub(super) fn timeline(q: &SequenceReport, id: &str) -> String {
    let tl = &q.outcome.timeline;
    let tmax = tl.last().map(|p| p.t).unwrap_or(1.0).max(q.onset_t.unwrap_or(0.0)).max(1.0);
    let tmin = tl.first().map(|p| p.t).unwrap_or(0.0).min(0.0);
    let title = format!("{} — {}", q.name, if q.failure { q.kind.as_deref().unwrap_or("failure") } else { "normal" });
    let mut c =
        Chart::new(600.0, 250.0, &title, Axis::new(tmin, tmax, "seconds"), Axis::new(0.0, 1.0, "failure score"));
    // Frames that were not judged (warm-up, not printing, dark, repeated…) shaded grey.
    let mut i = 0;
    while i < tl.len() {
        if tl[i].gate != Gate::Judged {
            let start = if i > 0 { (tl[i - 1].t + tl[i].t) / 2.0 } else { tl[i].t };
            let mut j = i;
            while j + 1 < tl.len() && tl[j + 1].gate != Gate::Judged {
                j += 1;
            }
            let end = if j + 1 < tl.len() { (tl[j].t + tl[j + 1].t) / 2.0 } else { tl[j].t };
            c.span(start, end, GREY, 0.12);
            i = j + 1;
        } else {
            i += 1;
        }
    }
    if let Some(o) = q.onset_t {
        c.span(o, tmax, RED, 0.05).vline(o, RED, Some("6 3"), "onset");
    }
    let lvl = |v: Option<f32>| v.map_or(f64::NAN, f64::from);
    c.step(&series(tl, |p| lvl(p.warning_level)), AMBER, 1.2, Some("5 3"));
    c.step(&series(tl, |p| lvl(p.pause_level)), RED, 1.2, Some("5 3"));
    c.dots(&series(tl, |p| f64::from(p.raw)), "#7a9cc6", 1.8);
    c.line(&series(tl, |p| f64::from(p.smoothed)), BLUE, 1.8, None);
    for e in &q.outcome.events {
        let color = match e.what.as_str() {
            "pause" => RED,
            "false_pause" => "#7b1fa2",
            "warning" => AMBER,
            "false_warning" => "#b08900",
            _ => continue,
        };
        let y = tl.iter().find(|p| (p.t - e.t).abs() < 1e-6).map(|p| f64::from(p.smoothed)).unwrap_or(0.95);
        c.marker(e.t, y.max(0.1), color, &format!("{} at {:.1} s: {}", e.what, e.t, e.note));
    }
    c.legend("raw", "#7a9cc6").legend("smoothed", BLUE).legend("warning level", AMBER).legend("pause level", RED);
    let levels: Vec<Level> = tl.iter().map(|p| p.level).collect();
    let worst = levels.iter().max().copied().unwrap_or(Level::Ok);
    format!("<div id=\"{id}\" class=\"timeline\" data-worst=\"{worst:?}\">{}</div>", c.render())
}

/// One value of every timeline point against its time.
fn series(tl: &[TimelinePoint], y: impl Fn(&TimelinePoint) -> f64) -> Vec<(f64, f64)> {
    tl.iter().map(|p| (p.t, y(p))).collect()
}
