//! OctoPrint's JSON, as it arrives: REST bodies (`/api/printer`, `/api/job`,
//! `/api/connection`, `/api/login`, `/api/files`) and push-socket messages
//! (`connected`, `current`, `history`, `event`, `reauthRequired`).
//!
//! Parsing is lenient where OctoPrint is loose (nulls, missing keys, numbers
//! as floats) and strict only about what we act on. Unknown message kinds and
//! events are kept as `Other` so a newer OctoPrint never breaks the link.

use serde::Deserialize;
use serde_json::Value;

/// `state.flags` of `/api/printer` and push `current`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Flags {
    pub operational: bool,
    pub printing: bool,
    pub cancelling: bool,
    pub pausing: bool,
    pub resuming: bool,
    pub finishing: bool,
    pub closed_or_error: bool,
    pub error: bool,
    pub paused: bool,
    pub ready: bool,
}

impl Flags {
    /// Flags for a state text when only the text is known (`/api/job`, or a
    /// 409 from `/api/printer` because the printer is not operational).
    pub(crate) fn from_text(text: &str) -> Flags {
        let t = text.trim();
        let lower = t.to_ascii_lowercase();
        let mut f = Flags::default();
        if lower.starts_with("offline after error") || lower.starts_with("error") {
            f.closed_or_error = true;
            f.error = true;
        } else if lower.starts_with("offline") || lower.starts_with("closed") {
            f.closed_or_error = true;
        } else if lower.starts_with("opening serial")
            || lower.starts_with("detecting")
            || lower.starts_with("connecting")
            || lower.starts_with("unknown")
        {
            // Not operational yet.
        } else {
            f.operational = true;
            match lower.as_str() {
                "operational" => f.ready = true,
                "paused" => f.paused = true,
                "pausing" => {
                    f.pausing = true;
                    f.printing = true;
                }
                "resuming" => {
                    f.resuming = true;
                    f.printing = true;
                }
                "cancelling" => {
                    f.cancelling = true;
                    f.printing = true;
                }
                "finishing" => {
                    f.finishing = true;
                    f.printing = true;
                }
                s if s.starts_with("printing") || s.starts_with("starting") => f.printing = true,
                _ => f.ready = true,
            }
        }
        f
    }
}

/// `state` of `/api/printer` and push `current`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct StateInfo {
    pub text: String,
    pub flags: Flags,
    pub error: Option<String>,
}

/// `job.file`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct JobFile {
    pub name: Option<String>,
    pub path: Option<String>,
    pub display: Option<String>,
    /// `local` or `sdcard`.
    pub origin: Option<String>,
    pub size: Option<f64>,
    /// Upload time, seconds since the epoch.
    pub date: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct Job {
    pub file: JobFile,
    #[serde(rename = "estimatedPrintTime")]
    pub estimated_print_time: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Progress {
    /// Percent, 0..=100.
    pub completion: Option<f64>,
    /// Byte offset of the next line OctoPrint will send.
    pub filepos: Option<f64>,
    /// Seconds.
    pub print_time: Option<f64>,
    pub print_time_left: Option<f64>,
}

/// One heater in `/api/printer` `temperature` or a push `temps` sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct HeaterReading {
    pub actual: Option<f32>,
    pub target: Option<f32>,
}

/// `tool0` and `bed` of a temperature record (other tools and the chamber are ignored).
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct TempRecord {
    pub tool0: Option<HeaterReading>,
    pub bed: Option<HeaterReading>,
}

/// Push `current` and `history` payloads (same shape).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Current {
    pub state: StateInfo,
    pub job: Job,
    pub progress: Progress,
    pub current_z: Option<f32>,
    /// Oldest first; often empty.
    pub temps: Vec<TempRecord>,
    /// Terminal lines since the last push (`Send: …`, `Recv: …`).
    pub logs: Vec<String>,
}

/// `GET /api/printer` (200).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct PrinterResponse {
    pub state: StateInfo,
    pub temperature: TempRecord,
}

/// `GET /api/job`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct JobResponse {
    pub job: Job,
    pub progress: Progress,
    /// State text (`Operational`, `Printing`, `Offline after error`…).
    pub state: String,
    pub error: Option<String>,
}

/// `POST /api/login` with `passive`: the session the push socket authenticates with.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Login {
    pub name: String,
    pub session: String,
}

/// `GET /api/files/local/<path>`: only the download reference is needed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct FileInfo {
    pub refs: FileRefs,
    pub size: Option<f64>,
    pub date: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct FileRefs {
    pub download: Option<String>,
}

/// `GET /api/version`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Version {
    pub server: String,
    pub api: String,
}

/// An OctoPrint event, as far as printer state is concerned.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum HostEvent {
    PrintStarted {
        path: Option<String>,
    },
    PrintPaused,
    PrintResumed,
    PrintDone,
    PrintCancelling,
    PrintCancelled,
    /// `reason` is `cancelled` or `error`.
    PrintFailed {
        reason: Option<String>,
    },
    /// The printer (serial link) connected or disconnected.
    Connected,
    Disconnected,
    Error {
        error: String,
    },
    FileSelected {
        path: Option<String>,
    },
    Other(String),
}

/// One push-socket message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PushMessage {
    Connected {
        version: String,
    },
    Current(Box<Current>),
    History(Box<Current>),
    Event(HostEvent),
    /// The session expired (logout, user change): log in again.
    ReauthRequired {
        reason: String,
    },
    Other(String),
}

/// Parses one push-socket text frame.
pub(crate) fn parse_push(text: &str) -> Result<PushMessage, serde_json::Error> {
    let v: Value = serde_json::from_str(text)?;
    let Some((kind, body)) = v.as_object().and_then(|o| o.iter().next()) else {
        return Ok(PushMessage::Other(String::new()));
    };
    Ok(match kind.as_str() {
        "connected" => PushMessage::Connected { version: str_at(body, "version").unwrap_or_default() },
        "current" => PushMessage::Current(Box::new(Current::deserialize(body)?)),
        "history" => PushMessage::History(Box::new(Current::deserialize(body)?)),
        "event" => PushMessage::Event(parse_event(body)),
        "reauthRequired" => PushMessage::ReauthRequired { reason: str_at(body, "reason").unwrap_or_default() },
        other => PushMessage::Other(other.to_string()),
    })
}

fn parse_event(body: &Value) -> HostEvent {
    let kind = body.get("type").and_then(Value::as_str).unwrap_or("");
    let payload = body.get("payload").unwrap_or(&Value::Null);
    match kind {
        "PrintStarted" => HostEvent::PrintStarted { path: str_at(payload, "path") },
        "PrintPaused" => HostEvent::PrintPaused,
        "PrintResumed" => HostEvent::PrintResumed,
        "PrintDone" => HostEvent::PrintDone,
        "PrintCancelling" => HostEvent::PrintCancelling,
        "PrintCancelled" => HostEvent::PrintCancelled,
        "PrintFailed" => HostEvent::PrintFailed { reason: str_at(payload, "reason") },
        "Connected" => HostEvent::Connected,
        "Disconnected" => HostEvent::Disconnected,
        "Error" => HostEvent::Error { error: str_at(payload, "error").unwrap_or_default() },
        "FileSelected" => HostEvent::FileSelected { path: str_at(payload, "path") },
        other => HostEvent::Other(other.to_string()),
    }
}

fn str_at(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// The `Z:` of a firmware position report (`M114`) in a terminal log line:
/// `Recv: X:10.00 Y:20.00 Z:15.30 E:0.00 Count: …`, also with a leading `ok `.
pub(crate) fn reported_z(log_line: &str) -> Option<f32> {
    let rest = log_line.strip_prefix("Recv: ")?.trim_start();
    let rest = rest.strip_prefix("ok ").unwrap_or(rest).trim_start();
    if !rest.starts_with("X:") {
        return None;
    }
    let report = rest.split(" Count").next()?;
    let z = report.split_whitespace().find_map(|w| w.strip_prefix("Z:"))?;
    z.parse().ok()
}

/// A non-negative float field as an integer (OctoPrint sometimes sends `123.0`).
pub(crate) fn as_u64(v: Option<f64>) -> Option<u64> {
    v.filter(|x| x.is_finite() && *x >= 0.0).map(|x| x as u64)
}
