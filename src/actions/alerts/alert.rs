//! `Alert`: what every channel is told, and the webhook's JSON body (schema
//! version `ALERT_SCHEMA_VERSION`, documented in docs/alerts.md).
//!
//! An alert is rendered once, when its incident opens, and stored in the
//! outbox as JSON; every retry and every channel sends that same alert.

use serde::{Deserialize, Serialize};

use crate::actions::config::Policy;
use crate::domain::{Level, Timestamp};
use crate::store::{AlertKind, AuditCommand, CloseReason, CommandResult, IncidentCause};

/// Bumped on any incompatible change of the JSON below.
pub const ALERT_SCHEMA_VERSION: u32 = 1;

/// One message to the owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Schema version of this JSON (`ALERT_SCHEMA_VERSION`).
    pub version: u32,
    /// Unique per alert, the same on every channel and every retry: receivers
    /// use it to drop duplicates (delivery is at-least-once).
    pub id: String,
    pub kind: AlertKind,
    /// `general.name`.
    pub printer: String,
    /// When the incident opened (or the follow-up/summary was made).
    #[serde(with = "rfc3339")]
    pub time: Timestamp,
    pub level: Level,
    /// What went wrong; absent for summaries and tests.
    pub cause: Option<IncidentCause>,
    /// 0..=1 for incidents from the model.
    pub confidence: Option<f32>,
    pub incident_id: Option<i64>,
    pub print: Option<PrintInfo>,
    /// One human sentence: the evidence, or what the summary/follow-up says.
    pub note: String,
    /// What the daemon did to the printer.
    pub action: Option<ActionReport>,
    pub snapshot: Option<SnapshotRef>,
    /// The print's time-lapse (`[timelapse] enabled` with `alerts.public_url`): the
    /// link works once the print has ended and its video is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timelapse: Option<TimelapseRef>,
    /// `resolved` follow-ups: why the incident closed.
    pub resolution: Option<CloseReason>,
    /// `summary`: how many alerts the rate limit suppressed.
    pub suppressed: Option<u32>,
}

/// The print an alert is about.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PrintInfo {
    pub file: String,
    /// 0-based, as the printer reports it.
    pub layer: Option<u32>,
    pub layer_count: Option<u32>,
    /// 0..=1.
    pub progress: Option<f32>,
}

/// What the daemon did about the incident before alerting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionReport {
    pub policy: Policy,
    pub steps: Vec<ActionStep>,
    /// True when the printer is known to be stopped (pause or cancel confirmed,
    /// or it already was). False means the print may still be running.
    pub printer_stopped: bool,
    /// One line for people: `paused and parked`, `PAUSE NOT CONFIRMED: …`.
    pub summary: String,
}

/// One printer command and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionStep {
    pub command: AuditCommand,
    pub result: CommandResult,
    /// How often it was sent (2 when an unconfirmed pause was retried).
    pub attempts: u32,
    pub error: Option<String>,
}

/// The alert's picture: stored by the daemon under `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRef {
    pub id: String,
    /// `{alerts.public_url}/api/snapshots/{id}.jpg` when a public URL is configured.
    pub url: Option<String>,
    /// The JPEG itself, base64: only in webhook bodies with `snapshot = "embed"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jpeg_base64: Option<String>,
}

/// Where the print's time-lapse will be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelapseRef {
    pub print_id: i64,
    /// `{alerts.public_url}/api/prints/{print_id}/timelapse.mp4`.
    pub url: String,
}

impl Alert {
    /// A new alert of `kind` with a fresh id; the caller fills in the rest.
    pub fn new(kind: AlertKind, printer: &str, time: Timestamp, level: Level) -> Alert {
        Alert {
            version: ALERT_SCHEMA_VERSION,
            id: new_alert_id(time),
            kind,
            printer: printer.to_string(),
            time,
            level,
            cause: None,
            confidence: None,
            incident_id: None,
            print: None,
            note: String::new(),
            action: None,
            snapshot: None,
            timelapse: None,
            resolution: None,
            suppressed: None,
        }
    }
}

/// `lw-<ms>-<64 random bits>`: unique without coordination.
pub fn new_alert_id(at: Timestamp) -> String {
    use rand::RngExt;
    format!("lw-{}-{:016x}", at.millis(), rand::rng().random::<u64>())
}

/// The snapshot URL under a public base URL.
pub fn snapshot_url(public_url: &str, id: &str) -> String {
    format!("{}/api/snapshots/{id}.jpg", public_url.trim_end_matches('/'))
}

/// The time-lapse URL of a print under a public base URL (the web route `timelapse::url_path`).
pub fn timelapse_url(public_url: &str, print: i64) -> String {
    format!("{}/api/prints/{print}/timelapse.mp4", public_url.trim_end_matches('/'))
}

mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::domain::Timestamp;

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = String::deserialize(d)?;
        chrono::DateTime::parse_from_rfc3339(&s)
            .map(|t| Timestamp::from_millis(t.timestamp_millis()))
            .map_err(serde::de::Error::custom)
    }
}
