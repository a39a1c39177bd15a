//! Human text for an alert: a title, a few lines for push and chat channels,
//! and one SMS of at most `SMS_MAX_CHARS` characters.

use crate::domain::{Level, Timestamp};
use crate::store::AlertKind;

use super::Alert;

/// Twilio splits longer bodies into segments (and bills each); two segments at most.
pub const SMS_MAX_CHARS: usize = 320;

fn level_word(l: Level) -> &'static str {
    match l {
        Level::Ok => "ok",
        Level::Warning => "warning",
        Level::Failure => "FAILURE",
    }
}

fn cause_words(a: &Alert) -> String {
    a.cause.map(|c| c.as_str().replace('_', " ")).unwrap_or_default()
}

/// `Prusa: FAILURE spaghetti` / `Prusa: resolved (resumed)` / `Prusa: 4 alerts suppressed`.
pub fn title(a: &Alert) -> String {
    match a.kind {
        AlertKind::Incident => {
            let cause = cause_words(a);
            format!("{}: {} {}", a.printer, level_word(a.level), cause).trim_end().to_string()
        }
        AlertKind::Resolved => match a.resolution {
            Some(r) => format!("{}: resolved ({})", a.printer, r.as_str().replace('_', " ")),
            None => format!("{}: resolved", a.printer),
        },
        AlertKind::Summary => format!("{}: {} alerts suppressed", a.printer, a.suppressed.unwrap_or(0)),
        AlertKind::Test => format!("{}: test alert", a.printer),
        AlertKind::Muted => format!("{}: monitoring muted", a.printer),
    }
}

/// `spaghetti 91% at layer 13/40 (30%) of benchy.gcode`, or what is known of it.
fn what_and_where(a: &Alert, max_file_chars: usize) -> String {
    let mut s = cause_words(a);
    if let Some(c) = a.confidence {
        s.push_str(&format!(" {:.0}%", (c.clamp(0.0, 1.0) * 100.0).round()));
    }
    if let Some(p) = &a.print {
        match (p.layer, p.layer_count) {
            (Some(l), Some(n)) => s.push_str(&format!(" at layer {}/{n}", l + 1)),
            (Some(l), None) => s.push_str(&format!(" at layer {}", l + 1)),
            _ => {}
        }
        if let Some(pr) = p.progress {
            s.push_str(&format!(" ({:.0}%)", (pr.clamp(0.0, 1.0) * 100.0).round()));
        }
        if !p.file.is_empty() {
            s.push_str(" of ");
            s.push_str(&shorten(&p.file, max_file_chars));
        }
    }
    s.trim().to_string()
}

/// Local time of day, `16:49`.
pub fn clock_time(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp_millis(t.millis())
        .map(|d| d.with_timezone(&chrono::Local).format("%H:%M").to_string())
        .unwrap_or_default()
}

/// A few lines for ntfy, Telegram captions and the test command.
pub fn body(a: &Alert) -> String {
    let mut lines = Vec::new();
    match a.kind {
        AlertKind::Incident => {
            lines.push(what_and_where(a, 80));
            if let Some(act) = &a.action {
                lines.push(act.summary.clone());
            }
            if !a.note.is_empty() {
                lines.push(a.note.clone());
            }
        }
        AlertKind::Resolved | AlertKind::Summary | AlertKind::Test | AlertKind::Muted => lines.push(a.note.clone()),
    }
    let mut last = clock_time(a.time);
    if let Some(id) = a.incident_id {
        last.push_str(&format!(", incident {id}"));
    }
    lines.push(last);
    if let Some(url) = a.snapshot.as_ref().and_then(|s| s.url.as_ref()) {
        lines.push(url.clone());
    }
    if let Some(t) = &a.timelapse {
        lines.push(format!("time-lapse (once the print ends): {}", t.url));
    }
    lines.retain(|l| !l.trim().is_empty());
    lines.join("\n")
}

/// One SMS of at most `SMS_MAX_CHARS` characters.
pub fn sms(a: &Alert) -> String {
    let url = a.snapshot.as_ref().and_then(|s| s.url.clone());
    for file_chars in [40, 16, 0] {
        let mut parts = vec![format!("layerwatch {}", title(a))];
        match a.kind {
            AlertKind::Incident => {
                let w = what_and_where(a, file_chars);
                let c = cause_words(a);
                let w = w.strip_prefix(c.as_str()).map(str::trim).unwrap_or(&w).to_string();
                if !w.is_empty() {
                    parts[0] = format!("{} {w}", parts[0]);
                }
                if let Some(act) = &a.action {
                    parts.push(act.summary.clone());
                }
            }
            _ => parts.push(a.note.clone()),
        }
        parts.push(clock_time(a.time));
        if let Some(u) = &url {
            parts.push(u.clone());
        }
        parts.retain(|p| !p.trim().is_empty());
        let text = parts.join(". ");
        if text.chars().count() <= SMS_MAX_CHARS {
            return text;
        }
        if file_chars == 0 {
            return shorten(&text, SMS_MAX_CHARS);
        }
    }
    String::new()
}

/// Cuts `s` to `max` characters, ending in `…` when cut.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;
    use crate::actions::alerts::{ActionReport, PrintInfo, SnapshotRef};
    use crate::actions::config::Policy;
    use crate::store::IncidentCause;

    fn failure() -> Alert {
        let mut a =
            Alert::new(AlertKind::Incident, "Prusa MK4", Timestamp::from_millis(1_700_000_000_000), Level::Failure);
        a.cause = Some(IncidentCause::Spaghetti);
        a.confidence = Some(0.914);
        a.incident_id = Some(7);
        a.print = Some(PrintInfo {
            file: "benchy_0.2mm_PLA_MK4_1h2m.gcode".into(),
            layer: Some(12),
            layer_count: Some(40),
            progress: Some(0.3),
        });
        a.note = "smoothed 0.91 over 6 frames".into();
        a.action = Some(ActionReport {
            policy: Policy::PauseAndPark,
            steps: vec![],
            printer_stopped: true,
            summary: "Paused and parked".into(),
        });
        a.snapshot = Some(SnapshotRef {
            id: "s1".into(),
            url: Some("https://p.example/api/snapshots/s1.jpg".into()),
            jpeg_base64: None,
        });
        a
    }

    #[test]
    fn texts_say_what_where_and_what_was_done() {
        let a = failure();
        expect!["Prusa MK4: FAILURE spaghetti"].assert_eq(&title(&a));
        let sms = sms(&a);
        let sms = sms.replace(&clock_time(a.time), "HH:MM");
        expect!["layerwatch Prusa MK4: FAILURE spaghetti 91% at layer 13/40 (30%) of benchy_0.2mm_PLA_MK4_1h2m.gcode. Paused and parked. HH:MM. https://p.example/api/snapshots/s1.jpg"]
            .assert_eq(&sms);
    }

    #[test]
    fn sms_never_exceeds_320_characters() {
        let mut a = failure();
        a.printer = "p".repeat(100);
        a.print.as_mut().unwrap().file = "f".repeat(400);
        a.action.as_mut().unwrap().summary = "PAUSE NOT CONFIRMED: ".to_string() + &"x".repeat(300);
        let s = sms(&a);
        assert!(s.chars().count() <= SMS_MAX_CHARS, "{} chars", s.chars().count());
        assert!(s.starts_with("layerwatch ppp"));
    }
}
