//! `GET /metrics`: Prometheus text exposition format (version 0.0.4), written
//! by hand from the status board's counters and the store's alert rows.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::read::name_of;
use super::server::WebState;
use super::{ApiStatus, Counters, LATENCY_BUCKETS_MS};
use crate::store::OutboxRow;

/// Alerts counted for `layerwatch_alerts_total` (newest rows).
const ALERT_ROWS: u32 = 10_000;

/// The text, with a `printer="…"` label first on every sample when `printer` is set.
struct Out(String, String);

impl Out {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }
    fn val(&mut self, name: &str, labels: &str, v: impl std::fmt::Display) {
        let joined;
        let labels = match (self.1.is_empty(), labels.is_empty()) {
            (true, _) => labels,
            (false, true) => self.1.as_str(),
            (false, false) => {
                joined = format!("{},{labels}", self.1);
                joined.as_str()
            }
        };
        if labels.is_empty() {
            let _ = writeln!(self.0, "{name} {v}");
        } else {
            let _ = writeln!(self.0, "{name}{{{labels}}} {v}");
        }
    }
    fn one(&mut self, name: &str, kind: &str, help: &str, v: impl std::fmt::Display) {
        self.head(name, kind, help);
        self.val(name, "", v);
    }
}

/// Escapes a label value.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The exposition text (pure, for tests).
pub fn render(s: &ApiStatus, c: &Counters, alerts: &[OutboxRow]) -> String {
    render_for(s, c, alerts, None)
}

/// [`render`] with `printer="<name>"` on every sample (several printers: `web::farm`).
pub fn render_for(s: &ApiStatus, c: &Counters, alerts: &[OutboxRow], printer: Option<&str>) -> String {
    let label = printer.map(|p| format!("printer=\"{}\"", esc(p))).unwrap_or_default();
    let mut o = Out(String::with_capacity(4096), label);
    let cam = format!("camera=\"{}\"", esc(&s.camera.name));
    o.head("layerwatch_frames_total", "counter", "Frames captured by the camera.");
    o.val("layerwatch_frames_total", &cam, s.camera.frames);
    o.head("layerwatch_frames_dropped_total", "counter", "Frames dropped between capture and inference.");
    o.val("layerwatch_frames_dropped_total", &cam, s.camera.dropped);
    o.head("layerwatch_frames_bad_total", "counter", "Frames that could not be decoded.");
    o.val("layerwatch_frames_bad_total", &cam, s.camera.bad_frames);
    o.head("layerwatch_camera_reconnects_total", "counter", "Camera reconnections.");
    o.val("layerwatch_camera_reconnects_total", &cam, s.camera.reconnects);
    o.head("layerwatch_camera_fps", "gauge", "Frames per second over the last seconds.");
    o.val("layerwatch_camera_fps", &cam, s.camera.fps);
    o.one("layerwatch_frames_classified_total", "counter", "Frames scored by the classifier.", s.vision.classified);
    o.one("layerwatch_inference_failures_total", "counter", "Frames the classifier failed on.", s.vision.failed);

    let name = "layerwatch_inference_latency_seconds";
    o.head(name, "histogram", "Decode, preprocess and inference time per frame.");
    let mut cumulative = 0;
    for (i, le) in LATENCY_BUCKETS_MS.iter().enumerate() {
        cumulative += c.latency_buckets[i];
        o.val(&format!("{name}_bucket"), &format!("le=\"{}\"", le / 1000.0), cumulative);
    }
    cumulative += c.latency_buckets[LATENCY_BUCKETS_MS.len()];
    o.val(&format!("{name}_bucket"), "le=\"+Inf\"", cumulative);
    o.val(&format!("{name}_sum"), "", c.latency_sum_ms / 1000.0);
    o.val(&format!("{name}_count"), "", c.latency_count);

    if let Some(d) = &s.decision {
        o.one("layerwatch_score_raw", "gauge", "The classifier's failure score of the latest frame.", d.raw);
        o.one("layerwatch_score_smoothed", "gauge", "The smoothed failure score the verdict is based on.", d.smoothed);
    }
    o.head("layerwatch_verdicts_total", "counter", "Judged frames by verdict level.");
    o.val("layerwatch_verdicts_total", "level=\"ok\"", c.verdicts_ok);
    o.val("layerwatch_verdicts_total", "level=\"warning\"", c.verdicts_warning);
    o.val("layerwatch_verdicts_total", "level=\"failure\"", c.verdicts_failure);

    o.head("layerwatch_alerts_total", "counter", "Alerts by channel and delivery state (newest 10000).");
    let mut by: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for a in alerts {
        let key = (name_of(&a.channel), name_of(&a.state));
        *by.entry(key).or_default() += 1;
    }
    for ((ch, state), n) in by {
        o.val("layerwatch_alerts_total", &format!("channel=\"{}\",state=\"{}\"", esc(&ch), esc(&state)), n);
    }
    o.one("layerwatch_outbox_pending", "gauge", "Alerts waiting to be sent.", s.outbox.pending);
    o.one("layerwatch_outbox_failed", "gauge", "Alerts that gave up.", s.outbox.failed);

    o.one(
        "layerwatch_printer_up",
        "gauge",
        "1 when the printer link is connected.",
        u8::from(s.printer.state != "disconnected"),
    );
    o.one(
        "layerwatch_printer_reconnects_total",
        "counter",
        "Times the printer link came back after being down.",
        c.printer_reconnects,
    );
    o.one("layerwatch_timelapses_written_total", "counter", "Time-lapse videos written.", c.timelapses_written);
    o.one(
        "layerwatch_timelapse_failures_total",
        "counter",
        "Time-lapse videos that failed to encode.",
        c.timelapse_failures,
    );
    o.one(
        "layerwatch_light_switches_total",
        "counter",
        "Light switches the printer confirmed ([printer.light]).",
        c.light_switches,
    );
    o.one(
        "layerwatch_light_switch_failures_total",
        "counter",
        "Light switches the printer refused or did not confirm.",
        c.light_switch_failures,
    );
    o.one("layerwatch_light_on", "gauge", "1 while layerwatch has the printer's light on.", c.light_on);
    o.one("layerwatch_mqtt_connected", "gauge", "1 while the MQTT connection is up ([mqtt]).", c.mqtt_connected);
    o.one(
        "layerwatch_mqtt_connections_total",
        "counter",
        "MQTT connections made (the first and each reconnect).",
        c.mqtt_connections,
    );
    o.one("layerwatch_up", "gauge", "1 when every stage runs and the printer link is up.", u8::from(s.health.ok));
    o.one("layerwatch_muted", "gauge", "1 while pauses and alerts are muted by the owner.", u8::from(s.mute.is_some()));
    let left = s.mute.as_ref().and_then(|m| m.until).map_or(0.0, |t| (t.millis() as f64 / 1000.0 - now_s(s)).max(0.0));
    o.one("layerwatch_mute_remaining_seconds", "gauge", "Seconds until a timed mute ends (0: none or until the print ends).", left);
    o.one("layerwatch_uptime_seconds", "gauge", "Seconds since the daemon started.", s.uptime_s);
    o.0
}

/// Wall-clock seconds of the status (start plus uptime), so `render` stays pure.
fn now_s(s: &ApiStatus) -> f64 {
    s.started_at.millis() as f64 / 1000.0 + s.uptime_s
}

/// Several printers' texts as one exposition: each family's `# HELP`/`# TYPE` once, then every
/// printer's samples of it (Prometheus wants a family's lines together).
pub fn merge_families(texts: &[String]) -> String {
    let mut families: Vec<(String, Vec<String>)> = Vec::new();
    for text in texts {
        let mut current: Option<usize> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap_or_default().to_string();
                current = Some(match families.iter().position(|(n, _)| *n == name) {
                    Some(i) => i,
                    None => {
                        families.push((name, vec![line.to_string()]));
                        families.len() - 1
                    }
                });
                continue;
            }
            let Some(i) = current else { continue };
            let first_of_family = families[i].1.len() == 1;
            if line.starts_with("# TYPE ") && !first_of_family {
                continue;
            }
            families[i].1.push(line.to_string());
        }
    }
    let mut out = String::new();
    for (_, lines) in families {
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}

/// The newest alert rows of a printer's store, for `layerwatch_alerts_total`.
pub(super) async fn alert_rows(st: &WebState) -> Vec<OutboxRow> {
    match &st.store {
        Some(store) => store.recent_alerts(ALERT_ROWS).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "metrics: cannot read alerts");
            Vec::new()
        }),
        None => Vec::new(),
    }
}

pub async fn metrics(State(st): State<WebState>) -> Response {
    let alerts = alert_rows(&st).await;
    let text = render(&st.status.status(), &st.status.counters(), &alerts);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}
