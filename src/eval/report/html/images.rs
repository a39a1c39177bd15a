//! The image-metrics section of one run in the HTML report: operating-point
//! tables, ROC, precision–recall, reliability and score-histogram plots, the
//! confusion heat-map with per-class metrics, breakdowns by label column,
//! and the worst misses and false alarms.

use std::fmt::Write as _;

use super::format::{BLUE, GREEN, GREY, ORANGE, RED, curve, f3, pct};
use super::ids::RunIds;
use crate::eval::images::ImageReport;
use crate::eval::report::svg::{Axis, Chart, esc, heatmap};

/// The image-metrics section of one run.
pub(super) fn render_images(h: &mut String, im: &ImageReport, run: usize, ids: RunIds) {
    operating_points(h, im, run, ids);
    summary_metrics(h, im);
    let plots = [roc(im), precision_recall(im), reliability(im), histogram(im)];
    let _ = write!(h, "<div class=\"plots\">{}</div>", plots.concat());
    confusion_and_classes(h, im);
    breakdowns(h, im);
    worst(h, im);
}

/// The heading, the operating point and its confusion counts (and the warning level's).
fn operating_points(h: &mut String, im: &ImageReport, run: usize, ids: RunIds) {
    let _ = write!(
        h,
        "<h3 id=\"images{run}\">Images: {} ({} failures, {} normal)</h3>",
        im.images, im.failures, im.normals
    );
    let _ = write!(
        h,
        "<p class=\"note\">Operating point: failure probability ≥ <b>{:.3}</b> — {}. A score at or above the \
            threshold is called a failure.</p>",
        im.threshold.value,
        esc(&im.threshold.source)
    );
    let _ = write!(
        h,
        "<table id=\"{}\"><tr><th \
        class=\"l\">threshold</th><th>TP</th><th>FP</th><th>TN</th><th>FN</th><th>precision</th><th>recall</th><th>\
            F1</th><th>FPR</th></tr>",
        ids.id("binary")
    );
    let mut rows = vec![(format!("{:.3} (operating point)", im.threshold.value), im.at_threshold)];
    if let Some((t, c)) = &im.at_warning {
        rows.push((format!("{:.3} (warning level)", t.value), *c));
    }
    for (name, c) in rows {
        let _ = write!(
            h,
            "<tr><td \
                class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>\
                    {}</td></tr>",
            esc(&name),
            c.tp,
            c.fp,
            c.tn,
            c.fn_,
            f3(c.precision),
            f3(c.recall),
            f3(c.f1),
            f3(c.fpr)
        );
    }
}

/// AUROC, AUPRC, recall at fixed false-positive rates, calibration and accuracy.
fn summary_metrics(h: &mut String, im: &ImageReport) {
    h.push_str("</table><table><tr><th class=\"l\">metric</th><th>value</th></tr>");
    let _ = write!(
        h,
        "<tr><td class=\"l\">AUROC</td><td>{}</td></tr><tr><td class=\"l\">AUPRC (average \
            precision)</td><td>{}</td></tr>",
        f3(im.auroc),
        f3(im.auprc)
    );
    for p in &im.recall_at_fpr {
        let _ = write!(
            h,
            "<tr><td class=\"l\">recall at {:.0} % FPR</td><td>{} (threshold {:.4}, FPR reached {})</td></tr>",
            p.target_fpr * 100.0,
            f3(Some(p.recall)),
            p.threshold,
            pct(Some(p.fpr))
        );
    }
    let _ = write!(
        h,
        "<tr><td class=\"l\">ECE, failure score (15 bins)</td><td>{}</td></tr><tr><td class=\"l\">ECE, top label (15 \
            bins)</td><td>{}</td></tr>\
         <tr><td class=\"l\">top-class accuracy</td><td>{}</td></tr><tr><td \
             class=\"l\">macro-F1</td><td>{}</td></tr></table>",
        f3(im.ece),
        f3(im.ece_top_label),
        f3(im.accuracy),
        f3(im.macro_f1)
    );
}

/// The ROC curve with the operating point.
fn roc(im: &ImageReport) -> String {
    let mut roc = Chart::new(
        380.0,
        340.0,
        "ROC",
        Axis::new(0.0, 1.0, "false-positive rate"),
        Axis::new(0.0, 1.0, "recall (true-positive rate)"),
    );
    roc.line(&[(0.0, 0.0), (1.0, 1.0)], GREY, 1.0, Some("4 3"));
    roc.line(&curve(&im.roc), BLUE, 2.0, None);
    if let (Some(fpr), Some(rec)) = (im.at_threshold.fpr, im.at_threshold.recall) {
        roc.dots(&[(fpr, rec)], RED, 4.5).text(fpr, rec, &format!("t = {:.2}", im.threshold.value), RED);
    }
    roc.legend(&format!("AUROC {}", f3(im.auroc)), BLUE);
    roc.render()
}

/// Precision against recall, with the share of failures as the baseline.
fn precision_recall(im: &ImageReport) -> String {
    let mut pr =
        Chart::new(380.0, 340.0, "Precision–recall", Axis::new(0.0, 1.0, "recall"), Axis::new(0.0, 1.0, "precision"));
    pr.line(&curve(&im.pr), BLUE, 2.0, None);
    if let (Some(p), Some(r)) = (im.at_threshold.precision, im.at_threshold.recall) {
        pr.dots(&[(r, p)], RED, 4.5).text(r, p, &format!("t = {:.2}", im.threshold.value), RED);
    }
    if im.images > 0 {
        let base = im.failures as f64 / im.images as f64;
        pr.hline(base, GREY, Some("4 3"), &format!("share of failures {base:.2}"));
    }
    pr.legend(&format!("AUPRC {}", f3(im.auprc)), BLUE);
    pr.render()
}

/// Reliability of the failure score, bars weighted by their share of images.
fn reliability(im: &ImageReport) -> String {
    let mut rel = Chart::new(
        380.0,
        340.0,
        "Reliability (failure score)",
        Axis::new(0.0, 1.0, "mean predicted failure probability"),
        Axis::new(0.0, 1.0, "share that are failures"),
    );
    rel.line(&[(0.0, 0.0), (1.0, 1.0)], GREY, 1.0, Some("4 3"));
    let total: u64 = im.reliability.iter().map(|b| b.count).sum();
    for b in &im.reliability {
        if let Some(acc) = b.accuracy {
            rel.bar(b.lo, b.hi, acc, BLUE, 0.25 + 0.6 * (b.count as f64 / total.max(1) as f64).sqrt());
        }
    }
    let pts: Vec<(f64, f64)> = im.reliability.iter().filter_map(|b| Some((b.confidence?, b.accuracy?))).collect();
    rel.line(&pts, ORANGE, 1.5, None).dots(&pts, ORANGE, 3.0).legend(&format!("ECE {}", f3(im.ece)), ORANGE);
    rel.render()
}

/// The failure score by true label.
fn histogram(im: &ImageReport) -> String {
    let bins = 20;
    let mut hf = vec![0u64; bins];
    let mut hn = vec![0u64; bins];
    for r in &im.rows {
        let b = ((f64::from(r.score) * bins as f64) as usize).min(bins - 1);
        if r.failure { hf[b] += 1 } else { hn[b] += 1 }
    }
    let ymax = hf.iter().chain(&hn).copied().max().unwrap_or(1).max(1) as f64;
    let mut hist = Chart::new(
        380.0,
        340.0,
        "Failure score by true label",
        Axis::new(0.0, 1.0, "failure probability"),
        Axis::new(0.0, ymax * 1.08, "images"),
    );
    for b in 0..bins {
        let (lo, hi) = (b as f64 / bins as f64, (b + 1) as f64 / bins as f64);
        hist.bar(lo, hi, hn[b] as f64, GREEN, 0.55).bar(lo, hi, hf[b] as f64, RED, 0.45);
    }
    hist.vline(f64::from(im.threshold.value), "#000", Some("5 3"), "threshold")
        .legend("normal", GREEN)
        .legend("failure", RED);
    hist.render()
}

/// The confusion heat-map, per-class metrics and the label map.
fn confusion_and_classes(h: &mut String, im: &ImageReport) {
    let hm = heatmap(
        "Confusion: true class (dataset label mapped) vs model's top class",
        &im.confusion.rows,
        &im.confusion.columns,
        &im.confusion.matrix,
        "true ↓",
        "predicted →",
    );
    let _ = write!(
        h,
        "<div class=\"plots\">{hm}<div><table><tr><th \
            class=\"l\">class</th><th>support</th><th>predicted</th><th>precision</th><th>recall</th><th>F1</th></tr>"
    );
    for c in &im.per_class {
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.class),
            c.support,
            c.predicted,
            f3(c.precision),
            f3(c.recall),
            f3(c.f1)
        );
    }
    h.push_str("</table><table><tr><th class=\"l\">dataset label</th><th class=\"l\">model class</th></tr>");
    for (a, b) in &im.label_map {
        let _ = write!(h, "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>", esc(a), esc(b));
    }
    h.push_str("</table></div></div>");
}

/// One table per label column the dataset breaks down by.
fn breakdowns(h: &mut String, im: &ImageReport) {
    for b in &im.breakdowns {
        let _ = write!(
            h,
            "<h3>By {}</h3><table class=\"breakdown\"><tr><th \
                class=\"l\">{}</th><th>images</th><th>failures</th><th>normal</th><th>AUROC</th><th>mean \
                    score</th><th>flagged</th><th>recall</th><th>FPR</th></tr>",
            esc(&b.column),
            esc(&b.column)
        );
        for g in &b.groups {
            let _ = write!(
                h,
                "<tr><td \
                    class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                        <td>{}</td></tr>",
                esc(if g.value.is_empty() { "(empty)" } else { &g.value }),
                g.images,
                g.failures,
                g.normals,
                f3(g.auroc),
                f3(g.mean_score),
                pct(g.flagged),
                f3(g.recall),
                f3(g.fpr)
            );
        }
        h.push_str("</table>");
    }
}

/// The worst misses and false alarms (25 of each at most).
fn worst(h: &mut String, im: &ImageReport) {
    let mut misses: Vec<_> = im.rows.iter().filter(|r| r.failure && r.score < im.threshold.value).collect();
    misses.sort_by(|a, b| a.score.total_cmp(&b.score));
    let mut false_alarms: Vec<_> = im.rows.iter().filter(|r| !r.failure && r.score >= im.threshold.value).collect();
    false_alarms.sort_by(|a, b| b.score.total_cmp(&a.score));
    for (title, list) in [("Missed failures (lowest scores)", misses), ("False alarms (highest scores)", false_alarms)]
    {
        let _ = write!(
            h,
            "<details><summary>{title}: {}</summary><table><tr><th class=\"l\">image</th><th \
                class=\"l\">label</th><th>score</th><th class=\"l\">top class</th></tr>",
            list.len()
        );
        for r in list.iter().take(25) {
            let _ = write!(
                h,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{:.3}</td><td class=\"l\">{} ({:.2})</td></tr>",
                esc(&r.name),
                esc(&r.label),
                r.score,
                esc(&r.top_class),
                r.top_p
            );
        }
        h.push_str("</table></details>");
    }
}
