//! Classifies one line from the printer into a closed `Response` enum.
//!
//! Pure and total: every byte sequence maps to some variant (unknown text is
//! `Other`, undecodable noise is `Garbage`), so the link never fails on input.
//! Firmware-specific meaning (is `!!` fatal? does `ok` carry temperatures?) is
//! decided by `quirks.rs`, not here.

use serde::Serialize;

use super::report::{Area, Position, TempReport, parse_area, parse_position, parse_temps};

/// One line from the firmware.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Response {
    /// `ok`, `ok N12`, `ok 12`, `ok N12 P15 B3` (ADVANCED_OK), `ok T:…` (M105), `ok X:…` (M114).
    Ok(OkReply),
    /// `Resend: N`, `Resend:N`, `rs N`.
    Resend { line: u32 },
    /// `wait`: the firmware is idle with an empty command queue.
    Wait,
    /// `busy: processing`, `echo:busy: paused for user`… (host keep-alive).
    Busy { reason: BusyReason },
    /// A temperature report without `ok` (auto-report, heating progress).
    Temperatures(TempReport),
    /// A position report without `ok` (`M114` on Marlin, `M154` auto-report).
    Position(Position),
    /// `SD printing byte 1234/5678`.
    SdProgress { pos: u64, size: u64 },
    /// `Not SD printing`.
    NotSdPrinting,
    /// `Done printing file`.
    SdDone,
    /// `File opened: NAME Size: 1234`.
    FileOpened { name: String, size: Option<u64> },
    /// `File selected`.
    FileSelected,
    /// `Current file: NAME` (`M27 C`): a file is open on the SD card (`None`: `(no file)`).
    CurrentFile { name: Option<String> },
    /// `open failed, File: NAME.`
    OpenFailed { name: String },
    /// Prusa `M73` report: `NORMAL MODE: Percent done: 36; print time remaining in mins: 120`.
    Progress { percent: f32, remaining_min: Option<u32> },
    /// `//action:…` host action command.
    Action(Action),
    /// `Error:…`, `!! …`, `fatal:…`, `echo:Unknown command…`.
    Error(FirmwareError),
    /// The `M115` identity line.
    Firmware(FirmwareInfo),
    /// `Cap:NAME:0|1` after `M115`.
    Capability { name: String, enabled: bool },
    /// `area:{…}` after `M115` (Marlin's geometry report).
    Area(Area),
    /// `start`: the firmware (re)booted.
    Start,
    /// Other `echo:` text.
    Echo(String),
    /// `// …` informational comment (Klipper state lines, OctoPrint-style notes).
    Comment(String),
    /// Readable text we have no use for (`SD card ok`, boot banners, file lists).
    Other(String),
    /// Undecodable noise (baud mismatch, boot loader junk, a cut-off line).
    Garbage { len: usize },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OkReply {
    /// Line number the `ok` refers to, when the firmware says.
    pub line: Option<u32>,
    /// ADVANCED_OK: free planner slots.
    pub planner_free: Option<u16>,
    /// ADVANCED_OK: free command-buffer slots.
    pub buffer_free: Option<u16>,
    pub temps: Option<TempReport>,
    pub position: Option<Position>,
    /// Klipper answers `M115` on the `ok` line itself.
    pub firmware: Option<FirmwareInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BusyReason {
    Processing,
    PausedForUser,
    PausedForInput,
    Other(String),
}

impl BusyReason {
    /// The firmware is blocked waiting for a person (filament change, M0).
    pub fn waits_for_user(&self) -> bool {
        matches!(self, BusyReason::PausedForUser | BusyReason::PausedForInput)
    }
}

/// Host action commands (Marlin `HOST_ACTION_COMMANDS`, Prusa, Klipper macros).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", content = "text", rename_all = "snake_case")]
pub enum Action {
    /// The firmware asks the host to pause (filament runout, LCD).
    Pause,
    /// The firmware paused by itself and tells the host.
    Paused,
    Resume,
    Resumed,
    Cancel,
    Start,
    Disconnect,
    Notification(String),
    PromptBegin(String),
    PromptButton(String),
    PromptChoice(String),
    PromptShow,
    PromptEnd,
    Other(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Checksum mismatch: a `Resend` follows.
    Checksum,
    /// Line number is not last line + 1: a `Resend` follows.
    LineNumber,
    /// A numbered line without checksum.
    MissingChecksum,
    /// A checksummed line without number.
    MissingLineNumber,
    /// The firmware stopped: `Printer halted. kill() called!`, thermal runaway, MAXTEMP…
    Halted,
    /// A `!!` line: fatal on Marlin and Smoothieware, a command error on Klipper (quirks decide).
    Bang,
    UnknownCommand,
    Other,
}

impl ErrorKind {
    /// Transmission errors, after which the firmware asks for a resend.
    pub fn is_transmission(self) -> bool {
        matches!(
            self,
            ErrorKind::Checksum | ErrorKind::LineNumber | ErrorKind::MissingChecksum | ErrorKind::MissingLineNumber
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirmwareError {
    pub kind: ErrorKind,
    pub message: String,
    /// `Last Line: N` when given.
    pub last_line: Option<u32>,
}

/// The `M115` identity line, split into its `KEY:value` fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FirmwareInfo {
    /// `FIRMWARE_NAME` value (e.g. `Marlin 2.1.2.1 (Jul 18 2023 12:00:00)`).
    pub name: String,
    pub fields: Vec<(String, String)>,
}

impl FirmwareInfo {
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Classifies one raw line.
pub fn parse(raw: &[u8]) -> Response {
    let text = match decode(raw) {
        Some(t) => t,
        None => return Response::Garbage { len: raw.len() },
    };
    parse_text(&text)
}

/// Drops leading noise (boot loader junk, NULs, a baud-rate glitch) and returns the
/// readable text, or `None` when the rest is not clean text: a line with noise
/// inside it could be a mangled `ok` or `Resend`, and must not count as one.
fn decode(raw: &[u8]) -> Option<String> {
    let start = raw.iter().position(|b| b.is_ascii_graphic())?;
    let text = std::str::from_utf8(&raw[start..]).ok()?;
    if text.chars().any(|c| c.is_control() && c != '\t') {
        return None;
    }
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

fn parse_text(text: &str) -> Response {
    if let Some(rest) = strip_word(text, "ok") {
        return Response::Ok(parse_ok(rest));
    }
    if text == "wait" {
        return Response::Wait;
    }
    if text == "start" {
        return Response::Start;
    }
    if let Some(line) = parse_resend(text) {
        return Response::Resend { line };
    }
    if let Some(r) = parse_busy(text) {
        return r;
    }
    if let Some(rest) = text.strip_prefix("echo:") {
        let rest = rest.trim_start();
        if let Some(r) = parse_busy(rest) {
            return r;
        }
        if let Some(action) = parse_action(rest) {
            return Response::Action(action);
        }
        if rest.starts_with("Unknown command") || rest.starts_with("Invalid extruder") {
            return Response::Error(FirmwareError {
                kind: ErrorKind::UnknownCommand,
                message: rest.to_string(),
                last_line: None,
            });
        }
        if is_halt_text(rest) {
            return Response::Error(FirmwareError {
                kind: ErrorKind::Halted,
                message: rest.to_string(),
                last_line: None,
            });
        }
        return Response::Echo(rest.to_string());
    }
    if let Some(action) = parse_action(text) {
        return Response::Action(action);
    }
    if let Some(rest) = text.strip_prefix("//") {
        return Response::Comment(rest.trim().to_string());
    }
    if let Some(rest) = strip_prefix_ci(text, "error:") {
        return Response::Error(parse_error(rest.trim()));
    }
    if let Some(rest) = text.strip_prefix("!!") {
        let message = rest.trim().to_string();
        let kind = if is_halt_text(&message) {
            ErrorKind::Halted
        } else {
            ErrorKind::Bang
        };
        return Response::Error(FirmwareError {
            kind,
            message,
            last_line: None,
        });
    }
    if let Some(rest) = strip_prefix_ci(text, "fatal:") {
        return Response::Error(FirmwareError {
            kind: ErrorKind::Halted,
            message: rest.trim().to_string(),
            last_line: None,
        });
    }
    if let Some(t) = parse_temps(text) {
        return Response::Temperatures(t);
    }
    if let Some(p) = parse_position(text) {
        return Response::Position(p);
    }
    if let Some(rest) = text.strip_prefix("SD printing byte") {
        if let Some((pos, size)) = rest.trim().split_once('/') {
            if let (Ok(pos), Ok(size)) = (pos.trim().parse(), size.trim().parse()) {
                return Response::SdProgress { pos, size };
            }
        }
    }
    if text.trim_end_matches('.') == "Not SD printing" {
        return Response::NotSdPrinting;
    }
    if text.starts_with("Done printing file") {
        return Response::SdDone;
    }
    if let Some(rest) = text.strip_prefix("File opened:") {
        let (name, size) = match rest.rfind("Size:") {
            Some(i) => (&rest[..i], rest[i + 5..].trim().parse().ok()),
            None => (rest, None),
        };
        return Response::FileOpened {
            name: name.trim().to_string(),
            size,
        };
    }
    if text == "File selected" {
        return Response::FileSelected;
    }
    if let Some(rest) = text.strip_prefix("Current file:") {
        let name = rest.trim();
        let none = name.is_empty() || name.eq_ignore_ascii_case("(no file)");
        return Response::CurrentFile {
            name: (!none).then(|| name.to_string()),
        };
    }
    if let Some(rest) = text.strip_prefix("open failed, File:") {
        return Response::OpenFailed {
            name: rest.trim().trim_end_matches('.').to_string(),
        };
    }
    if let Some(rest) = text.strip_prefix("Cap:") {
        if let Some((name, value)) = rest.rsplit_once(':') {
            return Response::Capability {
                name: name.trim().to_ascii_uppercase(),
                enabled: value.trim() == "1",
            };
        }
    }
    if text.starts_with("area:") {
        if let Some(a) = parse_area(text) {
            return Response::Area(a);
        }
    }
    if let Some(info) = parse_firmware(text) {
        return Response::Firmware(info);
    }
    if let Some(r) = parse_prusa_progress(text) {
        return r;
    }
    Response::Other(text.to_string())
}

/// `word` followed by end of text or whitespace; returns what follows.
fn strip_word<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let rest = text.strip_prefix(word)?;
    if rest.is_empty() || rest.starts_with([' ', '\t']) {
        Some(rest.trim_start())
    } else {
        None
    }
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

fn parse_ok(rest: &str) -> OkReply {
    let mut reply = OkReply::default();
    let mut report = rest;
    // Leading `N12`, `12`, `P15`, `B3` words (no colon) before any report.
    for word in rest.split_ascii_whitespace() {
        if word.contains(':') {
            break;
        }
        let (letter, digits) = match word.as_bytes()[0] {
            b'0'..=b'9' => ('N', word),
            b'N' | b'P' | b'B' => (word.as_bytes()[0] as char, &word[1..]),
            _ => break,
        };
        let Ok(v) = digits.parse::<u32>() else { break };
        match letter {
            'N' => reply.line = Some(v),
            'P' => reply.planner_free = u16::try_from(v).ok(),
            _ => reply.buffer_free = u16::try_from(v).ok(),
        }
        report = report[report.find(word).map_or(0, |i| i + word.len())..].trim_start();
    }
    if !report.is_empty() {
        reply.temps = parse_temps(report);
        if reply.temps.is_none() {
            reply.position = parse_position(report);
        }
        if reply.temps.is_none() && reply.position.is_none() {
            reply.firmware = parse_firmware(report);
        }
    }
    reply
}

fn parse_resend(text: &str) -> Option<u32> {
    let rest = strip_prefix_ci(text, "resend:")
        .or_else(|| strip_prefix_ci(text, "resend "))
        .or_else(|| strip_word(text, "rs"))?;
    let rest = rest.trim();
    let rest = rest.strip_prefix(['N', 'n']).unwrap_or(rest);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn parse_busy(text: &str) -> Option<Response> {
    let rest = text.strip_prefix("busy")?;
    let rest = rest.strip_prefix(':').unwrap_or(rest).trim();
    let reason = match rest {
        "processing" => BusyReason::Processing,
        "paused for user" => BusyReason::PausedForUser,
        "paused for input" => BusyReason::PausedForInput,
        other => BusyReason::Other(other.to_string()),
    };
    Some(Response::Busy { reason })
}

fn parse_action(text: &str) -> Option<Action> {
    let rest = text.strip_prefix("//")?.trim_start();
    let rest = rest.strip_prefix("action:")?;
    let (name, arg) = match rest.split_once(char::is_whitespace) {
        Some((n, a)) => (n, a.trim().to_string()),
        None => (rest.trim(), String::new()),
    };
    Some(match name {
        "pause" => Action::Pause,
        "paused" => Action::Paused,
        "resume" => Action::Resume,
        "resumed" => Action::Resumed,
        "cancel" => Action::Cancel,
        "start" => Action::Start,
        "disconnect" => Action::Disconnect,
        "notification" => Action::Notification(arg),
        "prompt_begin" => Action::PromptBegin(arg),
        "prompt_button" => Action::PromptButton(arg),
        "prompt_choice" => Action::PromptChoice(arg),
        "prompt_show" => Action::PromptShow,
        "prompt_end" => Action::PromptEnd,
        _ if arg.is_empty() => Action::Other(name.to_string()),
        _ => Action::Other(format!("{name} {arg}")),
    })
}

fn is_halt_text(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "halted",
        "kill() called",
        "killed",
        "system stopped",
        "printer stopped",
        "emergency shutdown",
        "shutdown due to",
    ]
    .iter()
    .any(|p| t.contains(p))
        || ((t.contains("maxtemp") || t.contains("mintemp")) && t.contains("trigger"))
        || t.contains("thermal runaway")
        || t.contains("heating failed")
}

fn parse_error(message: &str) -> FirmwareError {
    let lower = message.to_ascii_lowercase();
    let last_line = lower.find("last line:").and_then(|i| {
        let digits: String = message[i + 10..]
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    });
    let kind = if lower.contains("checksum mismatch") {
        ErrorKind::Checksum
    } else if lower.contains("line number is not last line number")
        || lower.starts_with("expected line")
        || lower.contains("line number mismatch")
    {
        ErrorKind::LineNumber
    } else if lower.contains("no checksum") || lower.contains("missing checksum") {
        ErrorKind::MissingChecksum
    } else if lower.contains("no line number") || lower.contains("missing line number") {
        ErrorKind::MissingLineNumber
    } else if is_halt_text(message) {
        ErrorKind::Halted
    } else if lower.starts_with("unknown command") {
        ErrorKind::UnknownCommand
    } else {
        ErrorKind::Other
    };
    FirmwareError {
        kind,
        message: message.to_string(),
        last_line,
    }
}

/// Splits `FIRMWARE_NAME:Marlin 2.1 (date) SOURCE_CODE_URL:… PROTOCOL_VERSION:1.0 …`.
fn parse_firmware(text: &str) -> Option<FirmwareInfo> {
    let start = match (text.find("FIRMWARE_NAME:"), text.find("FIRMWARE_VERSION:")) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    if text[..start].trim().len() > 0 {
        return None;
    }
    let mut keys: Vec<(usize, usize)> = Vec::new(); // (key start, value start)
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let at_boundary = i == 0 || matches!(bytes[i - 1], b' ' | b',' | b'\t');
        if at_boundary && bytes[i].is_ascii_uppercase() {
            let len = bytes[i..]
                .iter()
                .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || **b == b'_' || **b == b'-')
                .count();
            if len >= 2 && bytes.get(i + len) == Some(&b':') {
                keys.push((i, i + len + 1));
                i += len + 1;
                continue;
            }
        }
        i += 1;
    }
    let mut info = FirmwareInfo::default();
    for (n, &(k, v)) in keys.iter().enumerate() {
        let end = keys.get(n + 1).map_or(text.len(), |next| next.0);
        let key = text[k..v - 1].to_string();
        let value = text[v..end].trim().trim_end_matches(',').trim().to_string();
        if key == "FIRMWARE_NAME" {
            info.name = value.clone();
        }
        info.fields.push((key, value));
    }
    (!info.name.is_empty() || info.field("FIRMWARE_VERSION").is_some()).then_some(info)
}

fn parse_prusa_progress(text: &str) -> Option<Response> {
    let rest = text
        .strip_prefix("NORMAL MODE:")
        .or_else(|| text.strip_prefix("SILENT MODE:"))?;
    let mut percent = None;
    let mut remaining = None;
    for part in rest.split(';') {
        let Some((k, v)) = part.split_once(':') else { continue };
        let k = k.trim().to_ascii_lowercase();
        if k == "percent done" {
            percent = v.trim().parse::<f32>().ok();
        } else if k.starts_with("print time remaining") {
            remaining = v.trim().parse::<i64>().ok().and_then(|m| u32::try_from(m).ok());
        }
    }
    Some(Response::Progress {
        percent: percent?,
        remaining_min: remaining,
    })
}
