//! What the daemon shows on the bus (pure): the [`Snapshot`] the daemon hands
//! over, the one JSON state message built from it, and when it is worth
//! sending again.

use serde::Serialize;

/// The daemon's state as the bus sees it, read by `app` from the status board and the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// `idle`, `printing`, `paused`… (`PrinterState::name`).
    pub printer_state: String,
    pub file: Option<String>,
    /// The decider's smoothed failure score, 0–1.
    pub failure_score: Option<f32>,
    /// `ok`, `warning`, `failure` for the latest judged frame.
    pub verdict: Option<String>,
    /// 1-based.
    pub layer: Option<u32>,
    pub layer_count: Option<u32>,
    /// 0–1.
    pub progress: Option<f32>,
    /// Seconds spent printing so far.
    pub elapsed_s: Option<f64>,
    pub hotend: Option<f32>,
    pub hotend_target: Option<f32>,
    pub bed: Option<f32>,
    pub bed_target: Option<f32>,
    /// The open incident, if any (a failure called and not yet closed).
    pub incident: Option<i64>,
    pub muted: bool,
}

/// The JSON on `<base>/state` (every sensor's `value_template` reads one field).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateMessage {
    pub printer_state: String,
    pub file: Option<String>,
    /// Percent, one decimal.
    pub failure_score: Option<f32>,
    pub verdict: Option<String>,
    pub layer: Option<u32>,
    pub layer_count: Option<u32>,
    /// Percent, one decimal.
    pub progress: Option<f32>,
    /// Estimated from the time spent and the progress; none before 1 % or without either.
    pub time_left_s: Option<u64>,
    pub hotend: Option<f32>,
    pub hotend_target: Option<f32>,
    pub bed: Option<f32>,
    pub bed_target: Option<f32>,
    pub failure: bool,
    pub incident: Option<i64>,
    pub muted: bool,
    /// The last button pressed on the bus and how it ended.
    pub last_command: Option<String>,
}

fn one_decimal(x: f32) -> f32 {
    (x * 10.0).round() / 10.0
}

/// Seconds left from the time spent and the fraction done.
pub fn time_left(elapsed_s: Option<f64>, progress: Option<f32>) -> Option<u64> {
    let (e, p) = (elapsed_s?, f64::from(progress?));
    if !(0.01..=1.0).contains(&p) || !e.is_finite() || e < 0.0 {
        return None;
    }
    Some((e * (1.0 - p) / p).round() as u64)
}

impl StateMessage {
    pub fn from_snapshot(s: &Snapshot, last_command: Option<String>) -> StateMessage {
        let finite = |x: Option<f32>| x.filter(|v| v.is_finite());
        StateMessage {
            printer_state: s.printer_state.clone(),
            file: s.file.clone().filter(|f| !f.is_empty()),
            failure_score: finite(s.failure_score).map(|v| one_decimal(v.clamp(0.0, 1.0) * 100.0)),
            verdict: s.verdict.clone(),
            layer: s.layer,
            layer_count: s.layer_count,
            progress: finite(s.progress).map(|v| one_decimal(v.clamp(0.0, 1.0) * 100.0)),
            time_left_s: time_left(s.elapsed_s, s.progress),
            hotend: finite(s.hotend).map(one_decimal),
            hotend_target: finite(s.hotend_target).map(one_decimal),
            bed: finite(s.bed).map(one_decimal),
            bed_target: finite(s.bed_target).map(one_decimal),
            failure: s.incident.is_some(),
            incident: s.incident,
            muted: s.muted,
            last_command,
        }
    }

    /// A change Home Assistant should see at once, not at the next interval:
    /// the printer's state, the verdict, a failure, the mute, a button's answer.
    pub fn urgent_change(&self, before: &StateMessage) -> bool {
        self.printer_state != before.printer_state
            || self.verdict != before.verdict
            || self.failure != before.failure
            || self.incident != before.incident
            || self.muted != before.muted
            || self.last_command != before.last_command
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_in_percent_and_estimates_time_left() {
        let s = Snapshot {
            printer_state: "printing".into(),
            failure_score: Some(0.1234),
            verdict: Some("ok".into()),
            progress: Some(0.25),
            elapsed_s: Some(600.0),
            hotend: Some(f32::NAN),
            bed: Some(59.96),
            incident: Some(7),
            ..Snapshot::default()
        };
        let m = StateMessage::from_snapshot(&s, None);
        assert_eq!(m.failure_score, Some(12.3));
        assert_eq!(m.progress, Some(25.0));
        assert_eq!(m.time_left_s, Some(1800));
        assert_eq!(m.hotend, None);
        assert_eq!(m.bed, Some(60.0));
        assert!(m.failure);
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["layer"], serde_json::Value::Null);
        assert_eq!(time_left(Some(10.0), Some(0.001)), None);
        let mut later = m.clone();
        later.bed = Some(61.0);
        assert!(!later.urgent_change(&m));
        later.verdict = Some("warning".into());
        assert!(later.urgent_change(&m));
    }
}
