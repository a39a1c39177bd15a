//! The sequences section of one run in the HTML report: the summary table,
//! one row per sequence linking to its timeline, and the timelines.

use std::fmt::Write as _;

use super::format::{opt, pct, rate, spread};
use super::ids::RunIds;
use super::timeline::timeline;
use crate::domain::Level;
use crate::eval::report::SequencesReport;
use crate::eval::report::svg::esc;

/// Most sequence timelines drawn (the JSON has them all).
const MAX_TIMELINES: usize = 80;

/// The sequences section of one run.
pub(super) fn render_sequences(h: &mut String, s: &SequencesReport, ids: RunIds) {
    let sm = &s.summary;
    let _ = write!(
        h,
        "<h3 id=\"{}\">Sequences: {} ({} with a failure, {} normal)</h3><table id=\"{}\"><tr><th \
            class=\"l\">metric</th><th class=\"l\">value</th></tr>",
        ids.id("sequences"),
        sm.sequences,
        sm.failure_sequences,
        sm.normal_sequences,
        ids.id("sequence-summary")
    );
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
    let _ = write!(
        h,
        "<table id=\"{}\"><tr><th class=\"l\">sequence</th><th>frames</th><th>min</th><th \
        class=\"l\">label</th><th>onset s</th><th>first warning s</th><th>pause s</th><th>expected</th><th>TTD \
            s</th><th>TTD layers</th><th>false pauses</th><th>false warnings</th><th>mean score before/after</th><th>\
                skipped</th></tr>",
        ids.id("sequence-table")
    );
    let anchors = ids.sequences(s.sequences.iter().map(|q| q.name.as_str()));
    for (k, (q, id)) in s.sequences.iter().zip(&anchors).enumerate() {
        let o = &q.outcome;
        let label = if q.failure { q.kind.clone().unwrap_or_else(|| "failure".into()) } else { "normal".into() };
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}{}</td><td>{}</td><td>{:.1}</td><td \
                class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>\
                    {}</td><td>{} / {}</td><td>{}</td></tr>",
            // Only sequences with a timeline on the page get a link to it.
            if k < MAX_TIMELINES { format!("<a href=\"#{id}\">{}</a>", esc(&q.name)) } else { esc(&q.name) },
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
    for (q, id) in s.sequences.iter().zip(&anchors).take(MAX_TIMELINES) {
        h.push_str(&timeline(q, id));
    }
    h.push_str("</div>");
}
