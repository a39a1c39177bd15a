//! Unit tests of the Moonraker link, data-driven over messages captured from a
//! real Moonraker 0.11.0 (`testdata/`, see its README): the state table, the
//! object merging and the follower that the loop drives.

use std::fmt::Write;

use expect_test::{expect, expect_file};
use serde_json::{Value, json};

use super::follow::{Follow, Next};
use super::objects::{Klippy, Objects};
use super::state::map_state;
use crate::domain::{PrinterStatus, Temperatures, Timestamp};

fn render(s: &PrinterStatus) -> String {
    let mut out = s.state.name().to_string();
    match &s.state {
        crate::domain::PrinterState::Error { message } => write!(out, " {message:?}").unwrap(),
        other => {
            if let Some(j) = other.job() {
                let o = |v: Option<String>| v.unwrap_or("-".into());
                write!(
                    out,
                    " {} layer={}/{} z={} pos={} progress={}",
                    j.file,
                    o(j.layer.map(|l| l.to_string())),
                    o(j.layer_count.map(|l| l.to_string())),
                    o(j.z.map(|z| z.to_string())),
                    o(j.file_position.map(|p| p.to_string())),
                    o(j.progress.map(|p| format!("{p:.3}")))
                )
                .unwrap();
            }
        }
    }
    let h = |x: Option<crate::domain::Heater>| x.map(|h| format!("{}/{}", h.actual, h.target)).unwrap_or("-".into());
    write!(out, " | T {} B {}", h(s.temps.hotend), h(s.temps.bed)).unwrap();
    out
}

#[test]
fn captured_sessions_drive_the_follower() {
    let mut f = Follow::default();
    let mut subscription = Value::Null;
    let mut out = String::new();
    for line in include_str!("testdata/session.jsonl").lines() {
        let m: Value = serde_json::from_str(line).expect("captured message is json");
        let label = if let Some(c) = m.get("comment") {
            f = Follow::default();
            format!("-- {}", c.as_str().unwrap_or(""))
        } else if let Some(r) = m.get("result") {
            if let Some(status) = r.get("status") {
                subscription = status.clone();
                f.subscribed(status);
                "subscribe answer".to_string()
            } else if let Some(k) = r.get("klippy_state").and_then(Value::as_str) {
                format!("server.info klippy_state={k}")
            } else {
                continue;
            }
        } else {
            let method = m["method"].as_str().unwrap_or("");
            let params = m.get("params").cloned().unwrap_or(Value::Null);
            let next = f.notification(method, &params);
            if next == Next::Resubscribe {
                // The loop subscribes again; replay the session's subscription answer.
                f.subscribed(&subscription);
            }
            let keys: Vec<String> =
                params.get(0).and_then(Value::as_object).map(|o| o.keys().cloned().collect()).unwrap_or_default();
            format!("{method} {}", keys.join(","))
        };
        let label: String = label.chars().take(58).collect();
        writeln!(out, "{label:<58} => {}", render(&f.status(None, Timestamp(0)))).unwrap();
    }
    expect_file!["testdata/session.expected"].assert_eq(&out);
}

#[test]
fn diffs_merge_field_by_field() {
    let mut o = Objects::default();
    o.reset(&json!({"print_stats": {"state": "standby", "info": {"total_layer": null, "current_layer": null}},
                    "toolhead": {"position": [0.0, 0.0, 0.0, 0.0]}}));
    o.merge(&json!({"print_stats": {"state": "printing", "filename": "a.gcode", "info": {"current_layer": 3}}}));
    o.merge(
        &json!({"toolhead": {"position": [1.0, 2.0, 0.6, 5.0]}, "extruder": {"temperature": 200.5, "target": 210}}),
    );
    o.merge(&json!({"print_stats": {"info": {"total_layer": 12}}}));
    o.merge(&json!(["not", "an", "object"]));
    let v = o.view();
    assert_eq!((v.current_layer, v.total_layer, v.z), (Some(3), Some(12), Some(0.6)));
    assert_eq!(v.filename.as_deref(), Some("a.gcode"));
    assert_eq!(v.extruder, Some((200.5, 210.0)));
    assert_eq!(v.bed, None);
}

#[test]
fn klippy_and_print_states_map_through_the_table() {
    let mut out = String::new();
    let klippy = [Klippy::Ready, Klippy::Startup, Klippy::Shutdown, Klippy::Error, Klippy::Disconnected];
    let jobs = ["standby", "printing", "paused", "complete", "cancelled", "error"];
    for k in klippy {
        for j in jobs {
            let mut o = Objects::default();
            o.reset(&json!({
                "webhooks": {
                    "state": format!("{k:?}").to_lowercase(),
                    "state_message": "MCU 'mcu' shutdown: Timer too close",
                },
                "print_stats": {"state": j, "filename": "a.gcode", "message": "Move out of range"},
                "pause_resume": {"is_paused": false},
            }));
            let v = o.view();
            let job = super::state::job(&v, None);
            let s = map_state(k, &v, job, None, &Temperatures::default());
            let shown = match &s {
                crate::domain::PrinterState::Error { message } => format!("error {message:?}"),
                other => other.name().to_string(),
            };
            writeln!(out, "{:<13} {j:<10} => {shown}", format!("{k:?}")).unwrap();
        }
    }
    expect![[r#"
        Ready         standby    => idle
        Ready         printing   => printing
        Ready         paused     => paused
        Ready         complete   => finished
        Ready         cancelled  => cancelled
        Ready         error      => error "klipper: Move out of range"
        Startup       standby    => disconnected
        Startup       printing   => disconnected
        Startup       paused     => disconnected
        Startup       complete   => disconnected
        Startup       cancelled  => disconnected
        Startup       error      => disconnected
        Shutdown      standby    => error "klipper: MCU 'mcu' shutdown: Timer too close"
        Shutdown      printing   => error "klipper: MCU 'mcu' shutdown: Timer too close"
        Shutdown      paused     => error "klipper: MCU 'mcu' shutdown: Timer too close"
        Shutdown      complete   => error "klipper: MCU 'mcu' shutdown: Timer too close"
        Shutdown      cancelled  => error "klipper: MCU 'mcu' shutdown: Timer too close"
        Shutdown      error      => error "klipper: MCU 'mcu' shutdown: Timer too close"
        Error         standby    => error "klipper: MCU 'mcu' shutdown: Timer too close"
        Error         printing   => error "klipper: MCU 'mcu' shutdown: Timer too close"
        Error         paused     => error "klipper: MCU 'mcu' shutdown: Timer too close"
        Error         complete   => error "klipper: MCU 'mcu' shutdown: Timer too close"
        Error         cancelled  => error "klipper: MCU 'mcu' shutdown: Timer too close"
        Error         error      => error "klipper: MCU 'mcu' shutdown: Timer too close"
        Disconnected  standby    => disconnected
        Disconnected  printing   => disconnected
        Disconnected  paused     => disconnected
        Disconnected  complete   => disconnected
        Disconnected  cancelled  => disconnected
        Disconnected  error      => disconnected
    "#]]
    .assert_eq(&out);
}

#[test]
fn pausing_and_heating_are_inferred() {
    let mut o = Objects::default();
    o.reset(&json!({
        "webhooks": {"state": "ready"},
        "print_stats": {"state": "printing", "filename": "a.gcode", "info": {"total_layer": 10, "current_layer": 0}},
        "pause_resume": {"is_paused": true},
        "extruder": {"temperature": 120.0, "target": 210.0},
    }));
    let v = o.view();
    let temps = super::state::temps(&v);
    let job = super::state::job(&v, None);
    assert_eq!(map_state(Klippy::Ready, &v, job.clone(), None, &temps).name(), "pausing");
    o.merge(&json!({"pause_resume": {"is_paused": false}}));
    let v = o.view();
    assert_eq!(map_state(Klippy::Ready, &v, job, None, &temps).name(), "heating");
    o.merge(&json!({"print_stats": {"info": {"current_layer": 1}}}));
    let v = o.view();
    let job = super::state::job(&v, None);
    assert_eq!(job.as_ref().and_then(|j| j.layer), Some(0), "CURRENT_LAYER is 1-based");
    assert_eq!(
        map_state(Klippy::Ready, &v, job, None, &temps).name(),
        "printing",
        "a cool-down mid-print is not heating"
    );
}
