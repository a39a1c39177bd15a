//! The self-contained HTML report: one file, inline CSS and SVG, no scripts,
//! nothing fetched. Sections: summary, comparison (with `--compare`), per run
//! the image metrics (tables, ROC, PR, reliability, score histogram,
//! confusion heat-map, breakdowns, worst misses), the sequences (summary and
//! one timeline per sequence with the onset, warning/pause markers and
//! levels), the sweep (trade-off curve and table), and every skipped input.
//! This file owns the page frame and the parts shown once; each run section
//! has its own file, and `ids` keeps element ids unique when a page holds
//! several runs.

mod comparison;
mod format;
mod ids;
mod images;
mod sequences;
mod sweep;
mod timeline;

use std::fmt::Write as _;

use super::Report;
use super::svg::esc;
use comparison::render_comparison;
use format::{f3, opt, pct};
use ids::RunIds;
use images::render_images;
use sequences::render_sequences;
use sweep::render_sweep;

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px \
    auto;max-width:1240px;color:#1b1b1b;padding:0 16px;line-height:1.4}\
h1{font-size:24px;margin-bottom:4px}h2{font-size:20px;border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:36px}\
h3{font-size:16px;margin-top:24px}table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}\
th,td{border:1px solid #d5d5d5;padding:3px 8px;text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}\
.meta{color:#555;font-size:13px}.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}\
.card{border:1px solid #d5d5d5;border-radius:6px;padding:8px 14px;min-width:150px;background:#fafafa}\
.card b{display:block;font-size:22px}.card span{font-size:12px;color:#555}\
.plots{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}.note{font-size:12px;color:#555;max-width:1000px}\
.good{color:#17692b}.bad{color:#a3221b}code{background:#f3f3f3;padding:1px 4px;border-radius:3px;font-size:12px}\
details{margin:6px 0}summary{cursor:pointer}";

/// Renders the whole page.
pub fn render(r: &Report) -> String {
    let mut h = String::with_capacity(256 * 1024);
    let title = format!(
        "layerwatch evaluation — {}",
        r.datasets.iter().map(|d| d.path.as_str()).collect::<Vec<_>>().join(", ")
    );
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
            content=\"width=device-width\"><title>{}</title><style>{CSS}</style></head><body>",
        esc(&title)
    );
    let _ = write!(
        h,
        "<h1>layerwatch evaluation</h1><div class=\"meta\">{} · {} · schema {} v{}<br>command: <code>{}</code></div>",
        esc(&r.generated_at),
        esc(&r.tool),
        r.schema,
        r.schema_version,
        esc(&r.command)
    );
    h.push_str(
        "<h2 id=\"data\">Data</h2><table><tr><th class=\"l\">dataset</th><th \
        class=\"l\">kind</th><th>items</th><th class=\"l\">split</th></tr>",
    );
    for d in &r.datasets {
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td class=\"l\">{}</td></tr>",
            esc(&d.path),
            esc(&d.kind),
            d.items,
            esc(d.split.as_deref().unwrap_or("all"))
        );
    }
    let _ = write!(
        h,
        "</table><p class=\"meta\">{} frames scored in {:.1} s on {} worker(s) ({} frames/s); replay and metrics \
            {:.2} s. {} input(s) skipped (listed at the end).</p>",
        r.timing.frames_scored,
        r.timing.scoring_s,
        r.timing.workers,
        opt(r.timing.frames_per_s, 1),
        r.timing.replay_s,
        r.skipped.len()
    );
    if let Some(c) = &r.comparison {
        render_comparison(&mut h, c, &r.runs);
    }
    for (i, run) in r.runs.iter().enumerate() {
        let anchor = format!("run{i}");
        let ids = RunIds::new(i, r.runs.len());
        let _ =
            write!(h, "<h2 id=\"{anchor}\">Run {}: model <code>{}</code></h2>", esc(&run.label), esc(&run.model.name));
        let d = &run.decision;
        let _ = write!(
            h,
            "<p class=\"meta\">model {} ({} classes: {}); calibration <b>{}</b> ({}); sensitivity {:.2}; levels at \
                sensitivity 0.5: warning {:.3}, pause {:.3}, fast {:.3}; \
             effective warning {:.3}, pause {:.3}; half-life {:.1} s; window {} of {}.</p>",
            esc(&run.model.source),
            run.model.labels.len(),
            esc(&run.model.labels.join(", ")),
            esc(&d.calibration),
            esc(&d.calibration_source),
            d.sensitivity,
            d.warning_level,
            d.pause_level,
            d.fast_level,
            d.effective_warning_level,
            d.effective_pause_level,
            d.half_life_s,
            d.window.0,
            d.window.1
        );
        h.push_str("<div class=\"cards\">");
        if let Some(im) = &run.images {
            card(&mut h, &f3(im.auroc), "AUROC (images)");
            card(&mut h, &f3(im.auprc), "AUPRC (images)");
            if let Some(p) = im.recall_at_fpr.get(1) {
                card(&mut h, &pct(Some(p.recall)), "recall at 5 % FPR");
            }
            card(&mut h, &f3(im.at_threshold.f1), &format!("F1 at {:.3}", im.threshold.value));
            card(&mut h, &f3(im.ece), "ECE (15 bins)");
        }
        if let Some(s) = &run.sequences {
            let sm = &s.summary;
            card(&mut h, &pct(sm.detection_rate), &format!("detected ({} of {})", sm.detected, sm.detectable));
            card(&mut h, &opt(sm.ttd_s.median, 1), "median s to detection");
            card(&mut h, &opt(sm.ttd_layers.median, 1), "median layers to detection");
            card(
                &mut h,
                &opt(sm.false_pauses.per_100h, 2),
                &format!("false pauses /100 h ({:.2} h)", sm.false_pauses.print_hours),
            );
        }
        h.push_str("</div>");
        if let Some(im) = &run.images {
            render_images(&mut h, im, i, ids);
        }
        if let Some(s) = &run.sequences {
            render_sequences(&mut h, s, ids);
        }
        if let Some(sw) = &run.sweep {
            render_sweep(&mut h, sw, ids);
        }
    }
    let _ = write!(h, "<h2 id=\"skipped\">Skipped inputs ({})</h2>", r.skipped.len());
    if r.skipped.is_empty() {
        h.push_str("<p>None: every input was used.</p>");
    } else {
        h.push_str("<table><tr><th class=\"l\">kind</th><th>count</th></tr>");
        for (k, n) in &r.skipped_by_kind {
            let _ = write!(h, "<tr><td class=\"l\">{k}</td><td>{n}</td></tr>");
        }
        h.push_str(
            "</table><table id=\"skipped-list\"><tr><th class=\"l\">kind</th><th \
            class=\"l\">file</th><th>line</th><th class=\"l\">reason</th></tr>",
        );
        for s in r.skipped.iter().take(2000) {
            let _ = write!(
                h,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td class=\"l\">{}</td></tr>",
                s.kind.name(),
                esc(&s.file),
                s.line.map(|l| l.to_string()).unwrap_or_default(),
                esc(&s.reason)
            );
        }
        h.push_str("</table>");
        if r.skipped.len() > 2000 {
            let _ = write!(h, "<p class=\"note\">…and {} more in report.json.</p>", r.skipped.len() - 2000);
        }
    }
    h.push_str("</body></html>\n");
    h
}

fn card(h: &mut String, value: &str, label: &str) {
    let _ = write!(h, "<div class=\"card\"><b>{}</b><span>{}</span></div>", esc(value), esc(label));
}
