//! The comparison section of the HTML report (`--compare A B`): the metric
//! deltas and A's and B's ROC and precision–recall curves on shared axes.

use std::fmt::Write as _;

use super::format::{BLUE, ORANGE, curve, f3, opt};
use crate::eval::compare::Comparison;
use crate::eval::images::ImageReport;
use crate::eval::report::Run;
use crate::eval::report::svg::{Axis, Chart, esc};

/// The comparison section; the curves only when both runs have image metrics.
pub(super) fn render_comparison(h: &mut String, c: &Comparison, runs: &[Run]) {
    let _ = write!(h, "<h2 id=\"comparison\">Comparison: {} vs {}</h2>", esc(&c.a), esc(&c.b));
    h.push_str(
        "<p class=\"note\">Both runs scored the same frames. Delta is B − A; \
         the better side is marked per metric.</p>",
    );
    h.push_str(
        "<table id=\"deltas\"><tr><th class=\"l\">metric</th><th>A</th><th>B</th><th>B − A</th><th \
        class=\"l\">better</th></tr>",
    );
    for d in &c.deltas {
        let cls = match d.better {
            Some("b") => "good",
            Some("a") => "bad",
            _ => "",
        };
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td class=\"{cls}\">{}</td><td class=\"l\">{}</td></tr>",
            esc(&d.metric),
            opt(d.a, 4),
            opt(d.b, 4),
            d.delta.map(|v| format!("{v:+.4}")).unwrap_or_else(|| "–".into()),
            d.better.unwrap_or("–")
        );
    }
    h.push_str("</table>");
    if let (Some(n), Some(d)) = (c.images_compared, c.images_disagreeing) {
        let _ = write!(h, "<p>{d} of {n} images are called differently by A and B at their thresholds.</p>");
    }
    let imgs: Vec<(&Run, &ImageReport)> = runs.iter().filter_map(|r| r.images.as_ref().map(|i| (r, i))).collect();
    if imgs.len() == 2 {
        let colors = [BLUE, ORANGE];
        let mut roc = Chart::new(
            400.0,
            360.0,
            "ROC, A vs B",
            Axis::new(0.0, 1.0, "false-positive rate"),
            Axis::new(0.0, 1.0, "recall"),
        );
        let mut pr = Chart::new(
            400.0,
            360.0,
            "Precision–recall, A vs B",
            Axis::new(0.0, 1.0, "recall"),
            Axis::new(0.0, 1.0, "precision"),
        );
        for (k, (run, im)) in imgs.iter().enumerate() {
            let name = format!("{} (AUROC {})", run.label, f3(im.auroc));
            roc.line(&curve(&im.roc), colors[k], 1.8, None).legend(&name, colors[k]);
            pr.line(&curve(&im.pr), colors[k], 1.8, None).legend(&run.label, colors[k]);
        }
        let _ = write!(h, "<div class=\"plots\">{}{}</div>", roc.render(), pr.render());
    }
}
