//! The demo's closing timeline: every scored frame (layer, raw and smoothed
//! score, verdict), the printer's state changes, the commands the daemon
//! sent, each alert delivery attempt and what the receivers got, in time
//! order, then one summary line (onset → pause in seconds and layers).
//!
//! Pure: it formats the facts the demo collected; times are shown relative
//! to the start of the print.

use std::fmt::Write as _;

use crate::app::StepRecord;
use crate::domain::{Level, Timestamp};
use crate::store::{AttemptRow, AuditRow, OutboxRow};

/// A printer state change as the demo saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterEvent {
    pub at: Timestamp,
    pub state: &'static str,
    /// 0-based.
    pub layer: Option<u32>,
}

/// A moment with the printer's layer (0-based) at that time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mark {
    pub at: Timestamp,
    pub layer: Option<u32>,
}

/// What a receiver got: time and one line.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub at: Timestamp,
    pub line: String,
    pub accepted: bool,
}

/// Everything the demo collected.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub print_started: Option<Timestamp>,
    pub layer_count: Option<u32>,
    /// The first failure frame leaving the camera.
    pub onset: Option<Mark>,
    /// The printer first reported pausing or paused.
    pub pause: Option<Mark>,
    pub frames: Vec<StepRecord>,
    pub printer: Vec<PrinterEvent>,
    pub audit: Vec<AuditRow>,
    pub alerts: Vec<(OutboxRow, Vec<AttemptRow>)>,
    pub received: Vec<Received>,
}

impl Facts {
    /// The first accepted delivery at a receiver at or after the pause (any, without one).
    pub fn first_delivery(&self) -> Option<&Received> {
        let after = self.pause.map_or(Timestamp(i64::MIN), |p| p.at);
        self.received.iter().filter(|r| r.accepted && r.at >= after).min_by_key(|r| r.at)
    }
}

enum Row<'a> {
    Frame(&'a StepRecord),
    Printer(&'a PrinterEvent),
    Onset(Mark),
    Audit(&'a AuditRow),
    Attempt(&'a OutboxRow, &'a AttemptRow),
    Received(&'a Received),
}

/// The timeline and its summary, ready to print.
pub fn render(f: &Facts) -> String {
    let origin = f.print_started.or(f.frames.first().map(|r| r.at)).unwrap_or_default();
    let rel = |t: Timestamp| format!("{:>+8.2}s", t.secs_since(origin));
    let layer = |l: Option<u32>, n: Option<u32>| match (l, n.or(f.layer_count)) {
        (Some(l), Some(n)) => format!("{}/{}", l + 1, n),
        (Some(l), None) => format!("{}", l + 1),
        _ => "-".into(),
    };
    let mut rows: Vec<(Timestamp, u8, Row)> = Vec::new();
    rows.extend(f.frames.iter().map(|r| (r.at, 2, Row::Frame(r))));
    rows.extend(f.printer.iter().map(|p| (p.at, 1, Row::Printer(p))));
    rows.extend(f.onset.map(|m| (m.at, 0, Row::Onset(m))));
    rows.extend(f.audit.iter().map(|a| (a.entry.at, 3, Row::Audit(a))));
    for (o, attempts) in &f.alerts {
        rows.extend(attempts.iter().map(|a| (a.at, 4, Row::Attempt(o, a))));
    }
    rows.extend(f.received.iter().map(|r| (r.at, 5, Row::Received(r))));
    rows.sort_by_key(|(t, order, _)| (*t, *order));

    let mut out = String::new();
    let _ = writeln!(out, "{:>9}  {:>6}  {:>5}  {:>8}  {:<18}  event", "time", "layer", "raw", "smoothed", "verdict");
    for (_, _, row) in &rows {
        let line = match row {
            Row::Frame(r) => {
                let verdict = match (r.level, r.kind) {
                    (Level::Ok, _) if r.gate != "judged" => format!("ok ({})", r.gate.replace('_', "-")),
                    (Level::Ok, _) => "ok".into(),
                    (Level::Warning, k) => format!("WARNING {}", k.unwrap_or("")),
                    (Level::Failure, k) => format!("FAILURE {}", k.unwrap_or("")),
                };
                format!(
                    "{}  {:>6}  {:>5.2}  {:>8.2}  {:<18}",
                    rel(r.at),
                    layer(r.layer, r.layer_count),
                    r.raw,
                    r.smoothed,
                    verdict.trim_end()
                )
            }
            Row::Printer(p) => event(&rel(p.at), &layer(p.layer, None), &format!("printer: {}", p.state)),
            Row::Onset(m) => event(&rel(m.at), &layer(m.layer, None), ">>> the failure appears on the camera"),
            Row::Audit(a) => {
                let e = &a.entry;
                let mut s = format!("action: {} {} in {} ms", e.command, e.result, e.duration_ms);
                if let Some(err) = &e.error {
                    let _ = write!(s, " ({err})");
                }
                if !e.reason.is_empty() {
                    let _ = write!(s, ", {}", e.reason);
                }
                event(&rel(e.at), "", &s)
            }
            Row::Attempt(o, a) => {
                let outcome = match (a.status, &a.error) {
                    (Some(s), None) => format!("HTTP {s}"),
                    (Some(s), Some(e)) => format!("HTTP {s}: {e}"),
                    (None, Some(e)) => e.clone(),
                    (None, None) => "no answer".into(),
                };
                event(&rel(a.at), "", &format!("alert #{} ({}) via {}: {outcome}", o.id, o.kind, o.channel))
            }
            Row::Received(r) => event(&rel(r.at), "", &format!("received: {}", r.line)),
        };
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&summary(f, &rel, &layer));
    out
}

fn event(time: &str, layer: &str, text: &str) -> String {
    format!("{time}  {layer:>6}  {:>5}  {:>8}  {:<18}  {text}", "", "", "")
}

fn summary(f: &Facts, rel: &dyn Fn(Timestamp) -> String, layer: &dyn Fn(Option<u32>, Option<u32>) -> String) -> String {
    let mut s = String::new();
    match (f.onset, f.pause) {
        (Some(o), Some(p)) => {
            let _ = write!(
                s,
                "summary: failure onset at {} (layer {}) -> paused at {} (layer {}): {:.2} s",
                rel(o.at).trim(),
                layer(o.layer, None),
                rel(p.at).trim(),
                layer(p.layer, None),
                p.at.secs_since(o.at)
            );
            if let (Some(a), Some(b)) = (o.layer, p.layer) {
                let _ = write!(s, " and {} layer(s)", b.saturating_sub(a));
            }
        }
        (Some(o), None) => {
            let _ = write!(s, "summary: failure onset at {} but the printer was NOT paused", rel(o.at).trim());
        }
        (None, Some(p)) => {
            let _ = write!(s, "summary: paused at {} before the failure appeared (false alarm)", rel(p.at).trim());
        }
        (None, None) => s.push_str("summary: the failure never appeared on the camera"),
    }
    s.push_str(";\n         ");
    match (f.first_delivery(), f.pause) {
        (Some(d), Some(p)) => {
            let _ = write!(s, "alert delivered {:.2} s after the pause", d.at.secs_since(p.at));
        }
        (Some(_), None) => s.push_str("an alert was delivered"),
        (None, _) => s.push_str("NO alert was delivered"),
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    fn frame(ms: i64, layer: u32, raw: f32, smoothed: f32, level: Level, gate: &'static str) -> StepRecord {
        StepRecord {
            at: Timestamp(ms),
            frame_seq: Some(ms as u64 / 100),
            printer: "printing",
            layer: Some(layer),
            layer_count: Some(27),
            raw,
            smoothed,
            level,
            kind: (level != Level::Ok).then_some("spaghetti"),
            gate,
            pause_level: Some(0.6),
            latency_ms: 12.0,
            geometry: None,
        }
    }

    #[test]
    fn renders_frames_events_and_the_summary() {
        let f = Facts {
            print_started: Some(Timestamp(1_000)),
            layer_count: Some(27),
            onset: Some(Mark { at: Timestamp(3_000), layer: Some(10) }),
            pause: Some(Mark { at: Timestamp(5_500), layer: Some(13) }),
            frames: vec![
                frame(1_500, 0, 0.2, 0.2, Level::Ok, "warm_up"),
                frame(3_300, 10, 0.96, 0.4, Level::Ok, "judged"),
                frame(5_000, 13, 0.96, 0.7, Level::Failure, "judged"),
            ],
            printer: vec![
                PrinterEvent { at: Timestamp(1_000), state: "printing", layer: None },
                PrinterEvent { at: Timestamp(5_500), state: "paused", layer: Some(13) },
            ],
            received: vec![Received {
                at: Timestamp(6_000),
                line: "webhook incident failure (signed) -> 200".into(),
                accepted: true,
            }],
            ..Default::default()
        };
        expect![[r#"
                 time   layer    raw  smoothed  verdict             event
               +0.00s       -                                       printer: printing
               +0.50s    1/27   0.20      0.20  ok (warm-up)
               +2.00s   11/27                                       >>> the failure appears on the camera
               +2.30s   11/27   0.96      0.40  ok
               +4.00s   14/27   0.96      0.70  FAILURE spaghetti
               +4.50s   14/27                                       printer: paused
               +5.00s                                               received: webhook incident failure (signed) -> 200

            summary: failure onset at +2.00s (layer 11/27) -> paused at +4.50s (layer 14/27): 2.50 s and 3 layer(s);
                     alert delivered 0.50 s after the pause
        "#]]
        .assert_eq(&render(&f));
    }
}
