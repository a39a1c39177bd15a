//! The sections of the HTML report, one function each, plus number formatting.

use std::fmt::Write as _;

use super::svg::{Axis, Chart, esc, heatmap};
use super::{Run, SequencesReport, SweepReport};
use crate::domain::Level;
use crate::eval::compare::Comparison;
use crate::eval::images::ImageReport;
use crate::eval::sequences::{Rate, SequenceReport, Spread};

const BLUE: &str = "#1f63b5";
const ORANGE: &str = "#d9661f";
const RED: &str = "#c0271d";
const GREEN: &str = "#2f8a3b";
const GREY: &str = "#888";
const AMBER: &str = "#e0a100";
/// Most sequence timelines drawn (the JSON has them all).
const MAX_TIMELINES: usize = 80;

pub fn opt(v: Option<f64>, digits: usize) -> String {
    v.filter(|x| x.is_finite()).map(|v| format!("{v:.digits$}")).unwrap_or_else(|| "–".into())
}

pub fn f3(v: Option<f64>) -> String {
    opt(v, 3)
}

pub fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{:.1} %", v * 100.0)).unwrap_or_else(|| "–".into())
}

fn rate(r: &Rate) -> String {
    format!(
        "{} in {:.2} h = {} /100 h (95 % ≤ {})",
        r.events,
        r.print_hours,
        opt(r.per_100h, 2),
        opt(r.per_100h_upper95, 1)
    )
}

fn spread(s: &Spread, unit: &str) -> String {
    if s.n == 0 {
        return "–".into();
    }
    format!("median {} {unit}, p90 {} {unit} (n = {})", opt(s.median, 1), opt(s.p90, 1), s.n)
}

pub fn render_comparison(h: &mut String, c: &Comparison, runs: &[Run]) {
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
            roc.line(&im.roc.iter().map(|p| (p.x, p.y)).collect::<Vec<_>>(), colors[k], 1.8, None)
                .legend(&name, colors[k]);
            pr.line(&im.pr.iter().map(|p| (p.x, p.y)).collect::<Vec<_>>(), colors[k], 1.8, None)
                .legend(&run.label, colors[k]);
        }
        let _ = write!(h, "<div class=\"plots\">{}{}</div>", roc.render(), pr.render());
    }
}

pub fn render_images(h: &mut String, im: &ImageReport, run: usize) {
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
    h.push_str(
        "<table id=\"binary\"><tr><th \
        class=\"l\">threshold</th><th>TP</th><th>FP</th><th>TN</th><th>FN</th><th>precision</th><th>recall</th><th>\
            F1</th><th>FPR</th></tr>",
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
    // Curves.
    let mut roc = Chart::new(
        380.0,
        340.0,
        "ROC",
        Axis::new(0.0, 1.0, "false-positive rate"),
        Axis::new(0.0, 1.0, "recall (true-positive rate)"),
    );
    roc.line(&[(0.0, 0.0), (1.0, 1.0)], GREY, 1.0, Some("4 3"));
    roc.line(&im.roc.iter().map(|p| (p.x, p.y)).collect::<Vec<_>>(), BLUE, 2.0, None);
    if let (Some(fpr), Some(rec)) = (im.at_threshold.fpr, im.at_threshold.recall) {
        roc.dots(&[(fpr, rec)], RED, 4.5).text(fpr, rec, &format!("t = {:.2}", im.threshold.value), RED);
    }
    roc.legend(&format!("AUROC {}", f3(im.auroc)), BLUE);
    let mut pr =
        Chart::new(380.0, 340.0, "Precision–recall", Axis::new(0.0, 1.0, "recall"), Axis::new(0.0, 1.0, "precision"));
    pr.line(&im.pr.iter().map(|p| (p.x, p.y)).collect::<Vec<_>>(), BLUE, 2.0, None);
    if let (Some(p), Some(r)) = (im.at_threshold.precision, im.at_threshold.recall) {
        pr.dots(&[(r, p)], RED, 4.5).text(r, p, &format!("t = {:.2}", im.threshold.value), RED);
    }
    if im.images > 0 {
        let base = im.failures as f64 / im.images as f64;
        pr.hline(base, GREY, Some("4 3"), &format!("share of failures {base:.2}"));
    }
    pr.legend(&format!("AUPRC {}", f3(im.auprc)), BLUE);
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
    // Score histogram by truth.
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
    let _ = write!(h, "<div class=\"plots\">{}{}{}{}</div>", roc.render(), pr.render(), rel.render(), hist.render());
    // Confusion and per-class.
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
    // Worst misses.
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

pub fn render_sequences(h: &mut String, s: &SequencesReport) {
    let sm = &s.summary;
    let _ = write!(
        h,
        "<h3 id=\"sequences\">Sequences: {} ({} with a failure, {} normal)</h3>",
        sm.sequences, sm.failure_sequences, sm.normal_sequences
    );
    h.push_str("<table id=\"sequence-summary\"><tr><th class=\"l\">metric</th><th class=\"l\">value</th></tr>");
    let ci = sm
        .detection_rate_ci95
        .map(|i| format!(" (95 % CI {:.0}–{:.0} %)", i.lo * 100.0, i.hi * 100.0))
        .unwrap_or_default();
    let rows = [
        (
            "detection rate (expected verdict after onset)",
            format!("{} of {} = {}{ci}", sm.detected, sm.detectable, pct(sm.detection_rate)),
        ),
        ("…kinds that should pause", format!("{} of {} paused", sm.paused, sm.pause_expected)),
        ("…kinds that should only warn", format!("{} of {} warned", sm.warned, sm.warning_expected)),
        ("time to detection after onset", spread(&sm.ttd_s, "s")),
        ("layers to detection after onset", spread(&sm.ttd_layers, "layers")),
        ("time to pause after onset (pause kinds)", spread(&sm.pause_ttd_s, "s")),
        ("time to first warning after onset", spread(&sm.warning_ttd_s, "s")),
        ("false pauses, normal sequences", rate(&sm.false_pauses_normal)),
        ("false pauses, before onset", rate(&sm.false_pauses_before_onset)),
        ("false pauses, all", rate(&sm.false_pauses)),
        ("false warnings, normal sequences", rate(&sm.false_warnings_normal)),
        ("false warnings, before onset", rate(&sm.false_warnings_before_onset)),
    ];
    for (k, v) in rows {
        let _ = write!(h, "<tr><td class=\"l\">{k}</td><td class=\"l\">{}</td></tr>", esc(&v));
    }
    h.push_str(
        "</table><p class=\"note\">A pause before the onset (or on a normal sequence) is a false pause; the \
        replay then resumes the print as an owner would. \
        Detection is the verdict the labelled kind should get under the calibration's per-kind actions: a pause for \
            kinds that pause \
        (spaghetti, other by default), a warning for kinds that only warn (stringing, surface). Time to detection \
            counts from the labelled onset \
        to that verdict; layers are the printer's reported layers.</p>",
    );
    h.push_str(
        "<table id=\"sequence-table\"><tr><th class=\"l\">sequence</th><th>frames</th><th>min</th><th \
        class=\"l\">label</th><th>onset s</th><th>first warning s</th><th>pause s</th><th>expected</th><th>TTD \
            s</th><th>TTD layers</th><th>false pauses</th><th>false warnings</th><th>mean score before/after</th><th>\
                skipped</th></tr>",
    );
    for q in &s.sequences {
        let o = &q.outcome;
        let label = if q.failure { q.kind.clone().unwrap_or_else(|| "failure".into()) } else { "normal".into() };
        let _ = write!(
            h,
            "<tr><td class=\"l\"><a href=\"#seq-{}\">{}</a>{}</td><td>{}</td><td>{:.1}</td><td \
                class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>\
                    {}</td><td>{} / {}</td><td>{}</td></tr>",
            anchor(&q.name),
            esc(&q.name),
            if q.synthetic { " <small>(synthetic)</small>" } else { "" },
            q.frames,
            q.duration_s / 60.0,
            esc(&label),
            opt(q.onset_t, 1),
            opt(o.first_warning_t, 1),
            opt(o.first_pause_t, 1),
            match o.expected {
                Some(Level::Failure) => "pause",
                Some(Level::Warning) => "warning",
                _ => "–",
            },
            opt(o.ttd_s, 1),
            o.ttd_layers.map(|l| l.to_string()).unwrap_or_else(|| "–".into()),
            o.false_pauses,
            o.false_warnings,
            opt(q.mean_score_before_onset, 2),
            opt(q.mean_score_after_onset, 2),
            q.skipped.len()
        );
    }
    h.push_str("</table>");
    if s.sequences.len() > MAX_TIMELINES {
        let _ =
            write!(h, "<p class=\"note\">Timelines of the first {MAX_TIMELINES} sequences; report.json has all.</p>");
    }
    h.push_str("<div class=\"plots\">");
    for q in s.sequences.iter().take(MAX_TIMELINES) {
        h.push_str(&timeline(q));
    }
    h.push_str("</div>");
}

fn anchor(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

/// One sequence: raw scores (dots), smoothed score (line), warning and pause
/// levels (step lines), the onset, and warning / pause / false-pause markers.
fn timeline(q: &SequenceReport) -> String {
    let tl = &q.outcome.timeline;
    let tmax = tl.last().map(|p| p.t).unwrap_or(1.0).max(q.onset_t.unwrap_or(0.0)).max(1.0);
    let tmin = tl.first().map(|p| p.t).unwrap_or(0.0).min(0.0);
    let title = format!("{} — {}", q.name, if q.failure { q.kind.as_deref().unwrap_or("failure") } else { "normal" });
    let mut c =
        Chart::new(600.0, 250.0, &title, Axis::new(tmin, tmax, "seconds"), Axis::new(0.0, 1.0, "failure score"));
    // Frames that were not judged (warm-up, not printing, dark, repeated…) shaded grey.
    let mut i = 0;
    while i < tl.len() {
        if tl[i].gate != crate::decision::Gate::Judged {
            let start = if i > 0 { (tl[i - 1].t + tl[i].t) / 2.0 } else { tl[i].t };
            let mut j = i;
            while j + 1 < tl.len() && tl[j + 1].gate != crate::decision::Gate::Judged {
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
    c.step(&tl.iter().map(|p| (p.t, lvl(p.warning_level))).collect::<Vec<_>>(), AMBER, 1.2, Some("5 3"));
    c.step(&tl.iter().map(|p| (p.t, lvl(p.pause_level))).collect::<Vec<_>>(), RED, 1.2, Some("5 3"));
    c.dots(&tl.iter().map(|p| (p.t, f64::from(p.raw))).collect::<Vec<_>>(), "#7a9cc6", 1.8);
    c.line(&tl.iter().map(|p| (p.t, f64::from(p.smoothed))).collect::<Vec<_>>(), BLUE, 1.8, None);
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
    format!("<div id=\"seq-{}\" class=\"timeline\" data-worst=\"{:?}\">{}</div>", anchor(&q.name), worst, c.render())
}

pub fn render_sweep(h: &mut String, sw: &SweepReport) {
    let _ = write!(h, "<h3 id=\"sweep\">Sweep: {} settings</h3>", sw.points.len());
    h.push_str(
        "<p class=\"note\">Every frame was scored once; each setting re-ran only the decision layer. False \
        pauses and false warnings per 100 print-hours \
        (observed; the table gives the 95 % upper bound, which stays large when few print-hours were replayed) \
            against median time to detection.</p>",
    );
    let xs: Vec<f64> = sw.points.iter().filter_map(|p| p.summary.false_pauses.per_100h).collect();
    let ys: Vec<f64> = sw.points.iter().filter_map(|p| p.summary.ttd_s.median).collect();
    let xmax = xs.iter().copied().fold(0.0f64, f64::max).max(1.0) * 1.1;
    let ymax = ys.iter().copied().fold(0.0f64, f64::max).max(1.0) * 1.1;
    let mut c = Chart::new(
        520.0,
        360.0,
        "Trade-off: false pauses vs time to detection",
        Axis::new(0.0, xmax, "false pauses per 100 print-hours"),
        Axis::new(0.0, ymax, "median seconds to detection after onset"),
    );
    let mut groups: Vec<(f32, f32)> = sw.points.iter().map(|p| (p.pause_level, p.half_life_s)).collect();
    groups.dedup();
    groups.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    groups.dedup();
    let palette = [BLUE, ORANGE, GREEN, "#7b1fa2", "#00838f", "#6d4c41"];
    // Short legend labels: the half-life only when it varies.
    let one_half_life = groups.iter().all(|g| g.1 == groups[0].1);
    let glabel = |pl: f32, hl: f32| {
        if one_half_life { format!("pause {pl:.2}") } else { format!("pause {pl:.2}, half-life {hl:.0} s") }
    };
    for (k, (pl, hl)) in groups.iter().enumerate() {
        let color = palette[k % palette.len()];
        let pts: Vec<(f64, f64)> = sw
            .points
            .iter()
            .filter(|p| p.pause_level == *pl && p.half_life_s == *hl)
            .map(|p| (p.summary.false_pauses.per_100h.unwrap_or(f64::NAN), p.summary.ttd_s.median.unwrap_or(f64::NAN)))
            .collect();
        c.line(&pts, color, 1.5, None).dots(&pts, color, 3.0);
        if groups.len() > 1 {
            c.legend(&glabel(*pl, *hl), color);
        }
    }
    if let Some(ch) = &sw.chosen
        && let Some(p) = sw.points.get(ch.index)
    {
        let (x, y) = (p.summary.false_pauses.per_100h.unwrap_or(0.0), p.summary.ttd_s.median.unwrap_or(0.0));
        c.dots(&[(x, y)], RED, 6.0).text(x, y, &format!("chosen: sensitivity {:.2}", p.sensitivity), RED);
    }
    let mut d = Chart::new(
        520.0,
        360.0,
        "Detection rate by sensitivity",
        Axis::new(0.0, 1.0, "sensitivity"),
        Axis::new(0.0, 1.05, "detection rate"),
    );
    for (k, (pl, hl)) in groups.iter().enumerate() {
        let color = palette[k % palette.len()];
        let pts: Vec<(f64, f64)> = sw
            .points
            .iter()
            .filter(|p| p.pause_level == *pl && p.half_life_s == *hl)
            .map(|p| (f64::from(p.sensitivity), p.summary.detection_rate.unwrap_or(f64::NAN)))
            .collect();
        d.line(&pts, color, 1.8, None).dots(&pts, color, 2.5);
        if groups.len() > 1 {
            d.legend(&glabel(*pl, *hl), color);
        }
    }
    if groups.len() <= 1 {
        d.legend("detection rate", BLUE);
    }
    // False warnings are alerts too (by default): the same trade-off against them.
    let wx: Vec<f64> = sw.points.iter().filter_map(|p| p.summary.false_warnings.per_100h).collect();
    let wmax = wx.iter().copied().fold(0.0f64, f64::max).max(1.0) * 1.1;
    let mut w = Chart::new(
        520.0,
        360.0,
        "Trade-off: false warnings vs time to detection",
        Axis::new(0.0, wmax, "false warnings per 100 print-hours"),
        Axis::new(0.0, ymax, "median seconds to detection after onset"),
    );
    for (k, (pl, hl)) in groups.iter().enumerate() {
        let color = palette[k % palette.len()];
        let pts: Vec<(f64, f64)> = sw
            .points
            .iter()
            .filter(|p| p.pause_level == *pl && p.half_life_s == *hl)
            .map(|p| {
                (p.summary.false_warnings.per_100h.unwrap_or(f64::NAN), p.summary.ttd_s.median.unwrap_or(f64::NAN))
            })
            .collect();
        w.line(&pts, color, 1.5, None).dots(&pts, color, 3.0);
        if groups.len() > 1 {
            w.legend(&glabel(*pl, *hl), color);
        }
    }
    if let Some(ch) = &sw.chosen
        && let Some(p) = sw.points.get(ch.index)
    {
        let (x, y) = (p.summary.false_warnings.per_100h.unwrap_or(0.0), p.summary.ttd_s.median.unwrap_or(0.0));
        w.dots(&[(x, y)], RED, 6.0).text(x, y, &format!("chosen: sensitivity {:.2}", p.sensitivity), RED);
    }
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
    h.push_str(
        "<details><summary>All settings</summary><table id=\"sweep-table\"><tr><th>sensitivity</th><th>pause \
        level</th><th>half-life s</th><th>effective pause</th><th>detection</th><th>median TTD s</th><th>p90 TTD \
            s</th><th>median TTD layers</th><th>false pauses /100 h</th><th>upper 95 %</th><th>false warnings /100 \
            h</th></tr>",
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
