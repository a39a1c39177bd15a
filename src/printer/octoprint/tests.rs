//! Unit tests of the OctoPrint link, data-driven over messages captured from a
//! real OctoPrint 1.11.8 + VirtualPrinter (`testdata/`, see its README): the
//! state table, the push-message parser and the state tracker.

use std::fmt::Write;

use expect_test::{expect, expect_file};

use super::model::{Flags, JobResponse, PrinterResponse, PushMessage, StateInfo, parse_push, reported_z};
use super::state::{Observation, Tracker, map_state};
use crate::domain::{PrintJob, PrinterStatus, Timestamp};

/// One line per status: state, job, temperatures.
fn render(s: &PrinterStatus) -> String {
    let mut out = s.state.name().to_string();
    match &s.state {
        crate::domain::PrinterState::Error { message } => write!(out, " {message:?}").unwrap(),
        other => {
            if let Some(j) = other.job() {
                write!(out, " {}", render_job(j)).unwrap();
            }
        }
    }
    let h = |x: Option<crate::domain::Heater>| x.map(|h| format!("{}/{}", h.actual, h.target)).unwrap_or("-".into());
    write!(out, " | T {} B {}", h(s.temps.hotend), h(s.temps.bed)).unwrap();
    out
}

fn render_job(j: &PrintJob) -> String {
    let o = |v: Option<String>| v.unwrap_or("-".into());
    format!(
        "{} pos={} z={} progress={} layer={}",
        j.file,
        o(j.file_position.map(|p| p.to_string())),
        o(j.z.map(|z| z.to_string())),
        o(j.progress.map(|p| format!("{:.3}", p))),
        o(j.layer.map(|l| l.to_string()))
    )
}

fn label(m: &PushMessage) -> String {
    match m {
        PushMessage::Connected { version } => format!("connected {version}"),
        PushMessage::Current(c) => format!("current {:?}", c.state.text),
        PushMessage::History(c) => format!("history {:?}", c.state.text),
        PushMessage::Event(e) => format!("event {e:?}"),
        PushMessage::ReauthRequired { reason } => format!("reauth {reason}"),
        PushMessage::Other(k) => format!("other {k}"),
    }
}

#[test]
fn a_captured_push_session_drives_the_tracker() {
    let mut t = Tracker::default();
    let mut out = String::new();
    for line in include_str!("testdata/push.jsonl").lines() {
        let m = parse_push(line).expect("captured message parses");
        let l = label(&m);
        match m {
            PushMessage::Current(c) | PushMessage::History(c) => t.observe(Observation::from_push(*c)),
            PushMessage::Event(e) => t.event(&e),
            _ => {}
        }
        let l: String = l.chars().take(60).collect();
        writeln!(out, "{l:<60} => {}", render(&t.status(None, Timestamp(0)))).unwrap();
    }
    expect_file!["testdata/push.expected"].assert_eq(&out);
}

#[test]
fn captured_rest_answers_parse() {
    let mut out = String::new();
    let mut printer: Option<PrinterResponse> = None;
    for line in include_str!("testdata/rest.jsonl").lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let (req, status, body) = (v["request"].as_str().unwrap(), v["status"].as_u64().unwrap(), v["body"].clone());
        match (req, status) {
            ("GET /api/printer", 200) => printer = Some(serde_json::from_value(body).expect("printer body")),
            ("GET /api/printer", 409) => printer = None,
            ("GET /api/job", 200) => {
                let job: JobResponse = serde_json::from_value(body).expect("job body");
                let mut t = Tracker::default();
                t.observe(Observation::from_rest(job, printer.take()));
                writeln!(out, "{req} => {}", render(&t.status(None, Timestamp(0)))).unwrap();
            }
            _ => {
                let msg: String = body.get("error").and_then(|e| e.as_str()).unwrap_or("ok").chars().take(60).collect();
                writeln!(out, "{req} {status} => {msg}").unwrap();
            }
        }
    }
    expect![[r#"
        GET /api/version 200 => ok
        GET /api/connection 200 => ok
        GET /api/job => idle | T 214.52/0 B 214.5/0
        POST /api/job pause (idle) 409 => Printer is neither printing nor paused, 'pause' command cann
        GET /api/version (bad key) 403 => You don't have the permission to access the requested resour
        GET /api/job => disconnected | T - B -
    "#]]
    .assert_eq(&out);
}

#[test]
fn state_texts_map_through_the_table() {
    let texts = [
        "Operational",
        "Printing",
        "Printing from SD",
        "Starting",
        "Pausing",
        "Paused",
        "Resuming",
        "Finishing",
        "Cancelling",
        "Offline",
        "Closed",
        "Offline after error",
        "Error: Printer halted. kill() called!",
        "Opening serial connection",
        "Detecting serial connection",
        "Connecting",
        "Transferring file to SD",
        "Unknown State (17)",
        "Something new",
    ];
    let mut out = String::new();
    for text in texts {
        let s = StateInfo { text: text.into(), flags: Flags::from_text(text), error: None };
        let job = Some(PrintJob { file: "a.gcode".into(), ..Default::default() });
        writeln!(out, "{text:<38} => {}", map_state(&s, None, job, false).name()).unwrap();
    }
    expect![[r#"
        Operational                            => idle
        Printing                               => printing
        Printing from SD                       => printing
        Starting                               => printing
        Pausing                                => pausing
        Paused                                 => paused
        Resuming                               => printing
        Finishing                              => printing
        Cancelling                             => cancelled
        Offline                                => disconnected
        Closed                                 => disconnected
        Offline after error                    => error
        Error: Printer halted. kill() called!  => error
        Opening serial connection              => disconnected
        Detecting serial connection            => disconnected
        Connecting                             => disconnected
        Transferring file to SD                => idle
        Unknown State (17)                     => disconnected
        Something new                          => idle
    "#]]
    .assert_eq(&out);
}

#[test]
fn heating_is_only_before_the_first_layer() {
    let printing = StateInfo { text: "Printing".into(), flags: Flags::from_text("Printing"), error: None };
    let early = PrintJob { file: "a".into(), progress: Some(0.01), ..Default::default() };
    let late = PrintJob { layer: Some(3), progress: Some(0.5), ..early.clone() };
    assert_eq!(map_state(&printing, None, Some(early), true).name(), "heating");
    assert_eq!(map_state(&printing, None, Some(late), false).name(), "printing");
}

#[test]
fn position_reports_are_read_from_the_terminal_log() {
    assert_eq!(reported_z("Recv: X:95.285 Y:96.302 Z:10.6 E:11.86 Count: A:9528 B:9630 C:1060"), Some(10.6));
    assert_eq!(reported_z("Recv: ok X:95.285 Y:96.302 Z:0.6 E:13.86 Count: A:1 B:2 C:3"), Some(0.6));
    assert_eq!(reported_z("Send: M114"), None);
    assert_eq!(reported_z("Recv: T:215.00/ 0.00 B:215.00/ 0.00 @:64"), None);
    assert_eq!(reported_z("Recv: X:1 Y:2 Z:nan-ish"), None);
}

#[test]
fn garbage_frames_are_errors_not_panics() {
    assert!(parse_push("{not json").is_err());
    assert!(matches!(parse_push("[]"), Ok(PushMessage::Other(_))));
    assert!(matches!(parse_push(r#"{"slicingProgress": {}}"#), Ok(PushMessage::Other(k)) if k == "slicingProgress"));
    // A `current` with wrong types is an error (counted by the loop), not a default.
    assert!(parse_push(r#"{"current": {"state": 5}}"#).is_err());
}
