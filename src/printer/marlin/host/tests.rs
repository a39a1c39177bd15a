//! Host mode driven by hand, without I/O: feed printer lines and timer ticks,
//! check what it writes and which state it reports.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::HostMode;
use crate::domain::{PrinterState, Temperatures};
use crate::printer::PrinterConfig;
use crate::printer::marlin::conn::Handshake;
use crate::printer::marlin::counters::Counters;
use crate::printer::marlin::driver::{Cx, Mode};
use crate::printer::marlin::protocol::{FirmwareInfo, parse};
use crate::printer::marlin::quirks::{Capabilities, Quirks};
use crate::printer::marlin::{Reply, Request, Settings};

fn quirks(name: &str) -> Quirks {
    let info = FirmwareInfo {
        name: name.into(),
        fields: vec![("FIRMWARE_NAME".into(), name.into())],
    };
    Quirks::detect(Some(&info), Capabilities::default(), None)
}

fn setup(name: &str) -> (HostMode, Cx, Settings) {
    let mut settings = Settings::from_config(&PrinterConfig::default());
    settings.read_timeout = Duration::from_secs(1);
    let (tx, _rx) = mpsc::unbounded_channel();
    let q = quirks(name);
    let cx = Cx {
        out: Vec::new(),
        quirks: q,
        temps: Temperatures::default(),
        counters: Arc::new(Counters::default()),
        settings: settings.clone(),
        now: Instant::now(),
        last_rx: Instant::now(),
        disconnect: None,
        events: tx,
        printer: "test".into(),
    };
    (HostMode::new(settings.clone()), cx, settings)
}

fn feed(m: &mut HostMode, cx: &mut Cx, line: &str) {
    m.on_response(cx, parse(line.as_bytes()));
}

/// Connects, starts printing `text`, answers the set-up poll; returns the first file line sent.
async fn printing(name: &str, text: &str) -> (HostMode, Cx, tempfile::TempDir, String) {
    let (mut m, mut cx, _) = setup(name);
    let hs = Handshake {
        quirks: cx.quirks.clone(),
        firmware: None,
        last_line: Some(1),
        saw_boot: false,
    };
    m.on_connected(&mut cx, &hs);
    assert_eq!(
        cx.out,
        vec!["N2 M105*37".to_string()],
        "no autoreport capability: a poll"
    );
    cx.out.clear();
    feed(&mut m, &mut cx, "ok T:20.0 /0.0 B:20.0 /0.0");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.gcode");
    std::fs::write(&path, text).unwrap();
    let (tx, _rx) = tokio::sync::oneshot::channel();
    m.on_request(&mut cx, Request::Print { path, reply: Reply(tx) });
    assert_eq!(cx.out.len(), 1, "{:?}", cx.out);
    let first = cx.out.remove(0);
    (m, cx, dir, first)
}

#[tokio::test]
async fn a_lost_answer_is_sent_again_on_marlin() {
    let (mut m, mut cx, _dir, first) = printing("Marlin 2.1.2", "G28\nG1 X1\n").await;
    assert_eq!(first, "N3 G28*16");
    cx.now += Duration::from_millis(1100);
    m.on_timer(&mut cx);
    assert_eq!(
        cx.out,
        vec!["N3 G28*16".to_string()],
        "same number: the firmware refuses a duplicate"
    );
    assert_eq!(cx.counters.snapshot().retransmitted, 1);
}

#[tokio::test]
async fn klipper_is_never_sent_a_line_twice() {
    let (mut m, mut cx, _dir, first) = printing("Klipper", "G28\nG1 X1\n").await;
    assert_eq!(first, "N3 G28*16");
    cx.now += Duration::from_millis(1100);
    m.on_timer(&mut cx);
    feed(&mut m, &mut cx, "wait");
    assert!(
        cx.out.is_empty(),
        "Klipper ignores line numbers: a copy would run twice: {:?}",
        cx.out
    );
    let c = cx.counters.snapshot();
    assert_eq!((c.timeouts, c.retransmitted), (1, 0));
    feed(&mut m, &mut cx, "ok");
    assert_eq!(cx.out, vec!["N4 G1 X1*101".to_string()]);
}

#[tokio::test]
async fn heating_wait_is_reported_and_kept_alive_by_temperature_lines() {
    let (mut m, mut cx, _dir, first) = printing("Marlin 2.1.2", "M109 S200\nG1 X1\n").await;
    assert!(first.starts_with("N3 M109 S200*"));
    assert!(matches!(m.state(), PrinterState::Heating { .. }), "{:?}", m.state());
    for _ in 0..5 {
        cx.now += Duration::from_millis(900);
        feed(&mut m, &mut cx, "T:150.2 E:0 W:?");
        m.on_timer(&mut cx);
    }
    assert!(
        cx.out.is_empty(),
        "no probe while the firmware reports heating: {:?}",
        cx.out
    );
    feed(&mut m, &mut cx, "ok");
    assert_eq!(
        cx.temps.hotend.map(|h| h.target),
        Some(200.0),
        "accepted M109 sets the reported target"
    );
    assert!(matches!(m.state(), PrinterState::Printing { .. }));
}
