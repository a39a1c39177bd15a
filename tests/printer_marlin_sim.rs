//! Host and monitor mode against the in-process Marlin simulator (`sim::marlin`):
//! the same scenarios as the VirtualPrinter tests plus the faults only the
//! simulator can produce on demand (lost `ok`, hangs, reboots, kill, actions).

mod printer_support;

use std::sync::Arc;
use std::time::Duration;

use layerwatch::domain::PrinterState;
use layerwatch::printer::marlin::{HandshakeTiming, MarlinLink, SerialTransport, Settings};
use layerwatch::printer::{Confirmation, PrinterConfig, PrinterError, PrinterLink, SerialMode};
use layerwatch::sim::marlin::{Fault, MarlinSim, SimConfig, SimHandle};
use printer_support::gcode::{self, Spec};
use printer_support::{record_states, wait_for};
use tokio_util::sync::CancellationToken;

struct Rig {
    sim: SimHandle,
    link: Arc<MarlinLink>,
    dir: tempfile::TempDir,
    cancel: CancellationToken,
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn rig(mode: SerialMode, cfg: SimConfig) -> Rig {
    rig_with(mode, cfg, |_| {}).await
}

async fn rig_with(mode: SerialMode, cfg: SimConfig, tweak: impl FnOnce(&mut Settings)) -> Rig {
    if std::env::var("LW_TRACE").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("layerwatch=trace")
            .with_test_writer()
            .try_init();
    }
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let cfg = SimConfig {
        link: Some(dir.path().join("ttySIM")),
        ..cfg
    };
    let (sim, path) = MarlinSim::spawn(cfg, cancel.child_token()).await.expect("simulator");
    let mut settings = Settings::from_config(&PrinterConfig::default());
    settings.mode = mode;
    settings.read_timeout = Duration::from_millis(800);
    settings.command_timeout = Duration::from_secs(10);
    settings.poll = Duration::from_millis(300);
    settings.autoreport_secs = 1;
    tweak(&mut settings);
    let transport = Arc::new(SerialTransport { path, baud: 250_000 });
    let link = MarlinLink::spawn(settings, transport, HandshakeTiming::default(), cancel.child_token());
    link.wait_connected(Duration::from_secs(10))
        .await
        .expect("connected to the simulator");
    Rig { sim, link, dir, cancel }
}

fn write_print(rig: &Rig, spec: &Spec) -> (std::path::PathBuf, String) {
    let text = gcode::generate(spec);
    let path = rig.dir.path().join("print.gcode");
    std::fs::write(&path, &text).unwrap();
    (path, text)
}

fn file_commands(executed: Vec<String>) -> Vec<String> {
    let host = ["M115", "M155", "M105", "M114", "M400", "M110", "M876", "M108"];
    executed
        .into_iter()
        .filter(|c| !host.contains(&c.split_whitespace().next().unwrap_or("")))
        .collect()
}

fn pos(s: &PrinterState) -> u64 {
    s.job().and_then(|j| j.file_position).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_runs_exactly_once_through_resends_lost_oks_and_noise() {
    let cfg = SimConfig {
        resend_errors: vec![5, 40, 41, 150],
        ..SimConfig::default()
    };
    let r = rig(SerialMode::Host, cfg).await;
    let spec = Spec {
        layers: 40,
        moves_per_layer: 20,
        feedrate: 3_000,
        ..Spec::default()
    };
    let (file, text) = write_print(&r, &spec);
    let mut rx = r.link.status();
    wait_for(&mut rx, "idle", Duration::from_secs(5), |s| {
        matches!(s, PrinterState::Idle)
    })
    .await;
    r.link.print(&file).await.expect("print");
    wait_for(&mut rx, "progress", Duration::from_secs(10), |s| {
        matches!(s, PrinterState::Printing { .. }) && pos(s) > 3_000
    })
    .await;
    let mid = rx.borrow().state.job().cloned().unwrap_or_default();
    assert!(
        mid.layer.is_some_and(|l| l > 0 && l < 39) && mid.layer_count == Some(40),
        "{mid:?}"
    );
    assert!(mid.feature.is_some(), "{mid:?}");
    // The link publishes the analysis it streams by, for the daemon's layer plan.
    let published = r.link.analysis().borrow().clone().expect("the link's analysis of the file it streams");
    assert!(published.matches(&mid), "{published:?} is not of {mid:?}");
    assert_eq!((published.file.as_str(), published.size), ("print.gcode", Some(text.len() as u64)));
    assert_eq!(published.analysis.layers.len(), 40);
    r.sim.inject(Fault::DropNextOk);
    r.sim.inject(Fault::CorruptNextLine);
    r.sim
        .inject(Fault::Garbage(b"\xff\xfe\x00ok T:0\x80\nResend: 77777\n".to_vec()));
    let done = wait_for(&mut rx, "end", Duration::from_secs(30), |s| {
        matches!(s, PrinterState::Finished { .. } | PrinterState::Error { .. })
    })
    .await;
    assert!(matches!(done.state, PrinterState::Finished { .. }), "{:?}", done.state);
    gcode::assert_same_commands(&file_commands(r.sim.executed()), &gcode::expected_commands(&text));
    let c = r.link.counters();
    assert!(c.resends >= 5, "{c:?}");
    assert!(c.garbage >= 1 && c.unexpected_resends >= 1, "{c:?}");
    let job = done.state.job().cloned().unwrap_or_default();
    assert_eq!(job.progress, Some(1.0));
    assert_eq!(job.file_size, Some(text.len() as u64));
    // Layers come from the G-code analysis of the streamed file.
    assert_eq!((job.layer, job.layer_count), (Some(39), Some(40)), "{job:?}");
    assert!((job.z.unwrap_or(0.0) - 8.0).abs() < 1e-3, "{job:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heating_is_reported_and_pause_parks_within_the_machine_height() {
    // A machine only 4 mm tall: the 10 mm lift must be clamped.
    let cfg = SimConfig {
        max_z: Some(4.0),
        ..SimConfig::default()
    };
    let r = rig(SerialMode::Host, cfg).await;
    let spec = Spec {
        layers: 200,
        moves_per_layer: 20,
        bed: 40,
        hotend: 60,
        feedrate: 3_000,
        ..Spec::default()
    };
    let (file, _) = write_print(&r, &spec);
    let mut rx = r.link.status();
    let states = record_states(rx.clone());
    wait_for(&mut rx, "idle", Duration::from_secs(5), |s| {
        matches!(s, PrinterState::Idle)
    })
    .await;
    r.link.print(&file).await.expect("print");
    wait_for(&mut rx, "printing after heat-up", Duration::from_secs(20), |s| {
        matches!(s, PrinterState::Printing { .. }) && pos(s) > 4_000
    })
    .await;
    let t = rx.borrow().clone();
    assert_eq!(t.temps.hotend.map(|h| h.target), Some(60.0), "{t:?}");
    assert!(
        states.lock().unwrap().contains(&"heating".to_string()),
        "{:?}",
        states.lock().unwrap()
    );

    assert_eq!(r.link.pause().await.expect("pause"), Confirmation::Confirmed);
    let z_paused = r.sim.state().position[2];
    assert!(
        z_paused <= 4.0 + 1e-3,
        "lift clamped to the machine's max Z: {z_paused}"
    );
    let executed = r.sim.executed();
    let lift = executed
        .iter()
        .rev()
        .find(|c| c.starts_with("G1 Z") && c.ends_with("F600"))
        .cloned()
        .unwrap_or_default();
    assert_ne!(lift, "G1 Z10 F600", "the lift was clamped");

    // Cool down while paused (what actions do), then resume: it reheats and waits.
    assert_eq!(
        r.link.cool_down(false).await.expect("cool down"),
        Confirmation::Confirmed
    );
    assert_eq!(
        r.link.cool_down(false).await.expect("cool down again"),
        Confirmation::AlreadyThere
    );
    assert_eq!(r.link.resume().await.expect("resume"), Confirmation::Confirmed);
    let s = r.sim.state();
    assert_eq!(s.hotend.1, 60.0, "target restored");
    assert!(
        (s.hotend.0 - 60.0).abs() <= 1.0,
        "waited for the heater: {:?}",
        s.hotend
    );
    assert!((s.position[2] - z_paused).abs() > 0.01, "lowered back");
    assert_eq!(r.link.cancel().await.expect("cancel"), Confirmation::Confirmed);
    let s = r.sim.state();
    assert_eq!((s.hotend.1, s.bed.1), (0.0, 0.0), "heaters off after cancel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_is_an_error_and_a_hang_is_probed_then_a_reboot_reconnects() {
    let r = rig(SerialMode::Host, SimConfig::default()).await;
    let (file, text) = write_print(
        &r,
        &Spec {
            layers: 60,
            moves_per_layer: 20,
            feedrate: 3_000,
            ..Spec::default()
        },
    );
    let mut rx = r.link.status();
    let states = record_states(rx.clone());
    wait_for(&mut rx, "idle", Duration::from_secs(5), |s| {
        matches!(s, PrinterState::Idle)
    })
    .await;
    r.link.print(&file).await.expect("print");
    wait_for(&mut rx, "progress", Duration::from_secs(10), |s| pos(s) > 2_000).await;

    // A short hang: the link probes (sends the line again) and carries on; nothing runs twice.
    r.sim.inject(Fault::Silence(Duration::from_millis(1300)));
    wait_for(&mut rx, "more progress", Duration::from_secs(10), |s| pos(s) > 6_000).await;
    assert!(r.link.counters().timeouts >= 1, "{:?}", r.link.counters());
    let ran = file_commands(r.sim.executed());
    gcode::assert_same_commands(&ran, &gcode::expected_commands(&text)[..ran.len()]);

    r.sim.inject(Fault::Kill);
    let err = wait_for(&mut rx, "error", Duration::from_secs(5), |s| {
        matches!(s, PrinterState::Error { .. })
    })
    .await;
    assert!(format!("{:?}", err.state).contains("halted"), "{:?}", err.state);
    assert!(matches!(r.link.resume().await, Err(PrinterError::InvalidState { .. })));

    // Pressing reset: the firmware boots again and the link comes back to Idle.
    r.sim.inject(Fault::Reset);
    wait_for(&mut rx, "idle after reset", Duration::from_secs(15), |s| {
        matches!(s, PrinterState::Idle)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let seen = states.lock().unwrap().clone();
    assert!(
        seen.ends_with(&["error".to_string(), "disconnected".to_string(), "idle".to_string()])
            || seen.ends_with(&["error".to_string(), "idle".to_string()]),
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplug_and_replug_reconnect_at_the_same_path() {
    let r = rig(SerialMode::Host, SimConfig::default()).await;
    let mut rx = r.link.status();
    wait_for(&mut rx, "idle", Duration::from_secs(5), |s| {
        matches!(s, PrinterState::Idle)
    })
    .await;
    r.sim.unplug().await;
    wait_for(&mut rx, "disconnected", Duration::from_secs(5), |s| {
        matches!(s, PrinterState::Disconnected)
    })
    .await;
    assert!(matches!(r.link.pause().await, Err(PrinterError::NotConnected)));
    tokio::time::sleep(Duration::from_millis(700)).await;
    let path = r.sim.replug().await.expect("replugged");
    assert_eq!(path, r.dir.path().join("ttySIM"));
    wait_for(&mut rx, "idle again", Duration::from_secs(15), |s| {
        matches!(s, PrinterState::Idle)
    })
    .await;
    let c = r.link.counters();
    assert_eq!((c.connects, c.disconnects), (2, 1), "{c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firmware_requests_and_filament_change_are_followed() {
    let r = rig(SerialMode::Host, SimConfig::default()).await;
    let spec = Spec {
        layers: 80,
        moves_per_layer: 20,
        feedrate: 3_000,
        m600_at_layer: Some(3),
        ..Spec::default()
    };
    let (file, text) = write_print(&r, &spec);
    let mut rx = r.link.status();
    wait_for(&mut rx, "idle", Duration::from_secs(5), |s| {
        matches!(s, PrinterState::Idle)
    })
    .await;
    r.link.print(&file).await.expect("print");
    // M600 in the file: the firmware waits for the user; we report Paused and stay patient.
    wait_for(&mut rx, "filament change", Duration::from_secs(10), |s| {
        matches!(s, PrinterState::Paused { .. })
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(matches!(rx.borrow().state, PrinterState::Paused { .. }));
    assert_eq!(r.link.counters().timeouts, 0, "busy keep-alives extend the timeout");
    assert_eq!(
        r.link.resume().await.expect("resume from the host"),
        Confirmation::Confirmed
    );
    wait_for(&mut rx, "printing", Duration::from_secs(5), |s| {
        matches!(s, PrinterState::Printing { .. })
    })
    .await;
    assert!(
        r.sim.executed().iter().any(|c| c == "M876 S0"),
        "the prompt was answered"
    );

    // The firmware asks the host to pause (runout sensor): the link pauses and parks.
    r.sim.inject(Fault::Action("pause".into()));
    wait_for(&mut rx, "paused by the firmware", Duration::from_secs(10), |s| {
        matches!(s, PrinterState::Paused { .. })
    })
    .await;
    assert_eq!(r.link.resume().await.expect("resume"), Confirmation::Confirmed);
    r.sim.inject(Fault::Action("cancel".into()));
    wait_for(&mut rx, "cancelled by the firmware", Duration::from_secs(10), |s| {
        matches!(s, PrinterState::Cancelled { .. })
    })
    .await;
    let ran = file_commands(r.sim.executed());
    let expected = gcode::expected_commands(&text);
    let first_park = ran.iter().position(|c| c == "G1 E-2 F2400").expect("parked");
    gcode::assert_same_commands(&ran[..first_park - 1], &expected[..first_park - 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_mode_follows_an_sd_print_to_the_end() {
    let r = rig(SerialMode::Monitor, SimConfig::default()).await;
    let text = gcode::generate(&Spec {
        layers: 30,
        moves_per_layer: 20,
        feedrate: 3_000,
        ..Spec::default()
    });
    r.sim.put_sd_file("cube.gco", text.clone().into_bytes());
    let mut rx = r.link.status();
    wait_for(&mut rx, "idle", Duration::from_secs(5), |s| {
        matches!(s, PrinterState::Idle)
    })
    .await;
    r.sim.start_sd_print("cube.gco");
    let printing = wait_for(&mut rx, "printing", Duration::from_secs(10), |s| {
        matches!(s, PrinterState::Printing { .. })
    })
    .await;
    assert_eq!(printing.state.job().map(|j| j.file.as_str()), Some("cube.gco"));
    assert_eq!(r.link.pause().await.expect("pause"), Confirmation::Confirmed);
    assert!(!r.sim.state().sd_printing);
    assert_eq!(r.link.park().await.expect("park (M125)"), Confirmation::Confirmed);
    assert_eq!(r.link.park().await.expect("park again"), Confirmation::AlreadyThere);
    assert_eq!(r.link.resume().await.expect("resume"), Confirmation::Confirmed);
    let done = wait_for(&mut rx, "finished", Duration::from_secs(30), |s| {
        matches!(s, PrinterState::Finished { .. })
    })
    .await;
    assert_eq!(done.state.job().and_then(|j| j.progress), Some(1.0));
    gcode::assert_same_commands(&r.sim.sd_executed(), &gcode::expected_commands(&text));
    let sent = r.sim.executed();
    assert!(
        sent.iter().all(|c| !c.starts_with("G1")),
        "monitor mode never moves the machine itself: {sent:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_mode_publishes_the_analysis_of_the_local_copy() {
    let copies = tempfile::tempdir().unwrap();
    let text = gcode::generate(&Spec {
        layers: 12,
        moves_per_layer: 20,
        feedrate: 3_000,
        ..Spec::default()
    });
    std::fs::write(copies.path().join("cube.gcode"), &text).unwrap();
    let dir = copies.path().to_path_buf();
    let r = rig_with(SerialMode::Monitor, SimConfig::default(), move |s| s.local_gcode = Some(dir)).await;
    r.sim.put_sd_file("cube.gco", text.clone().into_bytes());
    let mut analysis = r.link.analysis();
    assert!(analysis.borrow().is_none(), "no analysis before a print");
    let mut rx = r.link.status();
    wait_for(&mut rx, "idle", Duration::from_secs(5), |s| {
        matches!(s, PrinterState::Idle)
    })
    .await;
    r.sim.start_sd_print("cube.gco");
    let published = tokio::time::timeout(Duration::from_secs(10), analysis.wait_for(|a| a.is_some()))
        .await
        .expect("the analysis of the local copy is published")
        .expect("the link is alive")
        .clone()
        .unwrap();
    let printing = wait_for(&mut rx, "printing with layers", Duration::from_secs(10), |s| {
        s.job().is_some_and(|j| j.layer_count.is_some())
    })
    .await;
    let job = printing.state.job().unwrap();
    assert!(published.matches(job), "{published:?} is not of {job:?}");
    assert_eq!((published.file.as_str(), published.size), ("cube.gco", Some(text.len() as u64)));
    assert_eq!((published.analysis.layers.len(), job.layer_count), (12, Some(12)));
}

/// The object each command of a PrusaSlicer file belongs to (from its `; printing object` labels), in order.
fn labelled_commands(text: &str) -> Vec<(String, Option<String>)> {
    let mut current = None;
    let mut out = Vec::new();
    for raw in text.lines() {
        if let Some(name) = raw.strip_prefix("; printing object ") {
            current = Some(name.trim().to_string());
        } else if raw.starts_with("; stop printing object ") {
            current = None;
        }
        let code = raw.split(';').next().unwrap_or("").trim();
        if !code.is_empty() {
            out.push((code.to_string(), current.clone()));
        }
    }
    out
}

fn is_move(c: &str) -> bool {
    matches!(c.split_whitespace().next(), Some("G0" | "G1" | "G2" | "G3"))
}

fn e_word(c: &str) -> Option<f64> {
    c.split_whitespace().find_map(|w| w.strip_prefix('E')).and_then(|v| v.parse().ok())
}

/// Issue 12: host mode cancels one object of a real two-object PrusaSlicer file mid-print.
/// None of its moves reach the printer after the cancel, every line of the other object
/// arrives in order (the first move after a skipped block possibly rebuilt as a travel),
/// E stays consistent (relative E: no catch-up move, no G92 needed) and the print finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_mode_cancels_one_object_of_a_prusaslicer_print() {
    let cfg = SimConfig { time_scale: 0.002, heat_rate: 50.0, ..SimConfig::default() };
    let r = rig(SerialMode::Host, cfg).await;
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gcode/prusa_two_objects_support.gcode");
    let text = std::fs::read_to_string(fixture).unwrap();
    let file = r.dir.path().join("two_objects.gcode");
    std::fs::write(&file, &text).unwrap();
    let (cube, tee) = ("cube10.stl id:0 copy 0", "tee.stl id:1 copy 0");
    let mut rx = r.link.status();
    wait_for(&mut rx, "idle", Duration::from_secs(5), |s| matches!(s, PrinterState::Idle)).await;

    // Nothing to cancel before a print, and monitor-only notions are refused plainly.
    let e = r.link.cancel_object(cube).await.unwrap_err();
    assert!(matches!(e, PrinterError::InvalidState { command: "cancel_object", .. }), "{e}");

    r.link.print(&file).await.expect("print");
    wait_for(&mut rx, "layer 3", Duration::from_secs(60), |s| {
        matches!(s, PrinterState::Printing { .. }) && s.job().and_then(|j| j.layer).is_some_and(|l| l >= 3)
    })
    .await;
    let e = r.link.cancel_object("sphere").await.unwrap_err().to_string();
    assert!(e.contains("no object named \"sphere\"") && e.contains(cube) && e.contains(tee), "{e}");
    assert_eq!(r.link.cancel_object("CUBE10.STL id:0 copy 0").await.expect("cancel the cube"), Confirmation::Confirmed);
    assert_eq!(r.link.cancel_object(cube).await.expect("again"), Confirmation::AlreadyThere);
    assert_eq!(r.link.cancelled_objects().await, vec![cube.to_string()]);
    let e = r.link.cancel_object(tee).await.unwrap_err().to_string();
    assert!(e.contains("last object still printing"), "{e}");

    let done = wait_for(&mut rx, "end", Duration::from_secs(120), |s| {
        matches!(s, PrinterState::Finished { .. } | PrinterState::Error { .. })
    })
    .await;
    assert!(matches!(done.state, PrinterState::Finished { .. }), "{:?}", done.state);

    let host = ["M115", "M155", "M105", "M114", "M400", "M110", "M876", "M108"];
    let executed = file_commands(r.sim.executed());
    let expected: Vec<(String, Option<String>)> = labelled_commands(&text)
        .into_iter()
        .filter(|(c, _)| !host.contains(&c.split_whitespace().next().unwrap_or("")))
        .collect();
    // Align the file with what the printer ran: identical up to the first skipped cube move; after it,
    // cube moves are never sent and everything else arrives in order.
    let (mut i, mut j) = (0, 0);
    while i < expected.len() && j < executed.len() && executed[j] == expected[i].0 {
        i += 1;
        j += 1;
    }
    let cancel_at = i;
    let first_skipped = &expected[cancel_at];
    assert!(first_skipped.1.as_deref() == Some(cube) && is_move(&first_skipped.0), "{first_skipped:?}");
    let (mut skipped, mut skipped_e, mut rebuilt, mut tee_moves) = (0, 0.0, Vec::new(), 0);
    while i < expected.len() {
        let (cmd, object) = &expected[i];
        if object.as_deref() == Some(cube) && is_move(cmd) {
            skipped += 1;
            skipped_e += e_word(cmd).filter(|e| *e > 0.0).unwrap_or(0.0);
            i += 1;
            continue;
        }
        assert!(j < executed.len(), "{cmd:?} ({object:?}) never reached the printer");
        if executed[j] == *cmd {
            tee_moves += usize::from(object.as_deref() == Some(tee) && is_move(cmd));
            i += 1;
            j += 1;
            continue;
        }
        // The first move after a skipped block: rebuilt from the file's target, never extruding more.
        let got = &executed[j];
        assert!(is_move(cmd) && is_move(got), "line {i}: expected {cmd:?}, the printer ran {got:?}");
        assert!(
            e_word(got).unwrap_or(0.0) <= e_word(cmd).unwrap_or(0.0).max(0.0) + 1e-6,
            "a rebuilt move extrudes no more than the file's: {cmd:?} → {got:?}"
        );
        rebuilt.push((cmd.clone(), got.clone()));
        i += 1;
        j += 1;
    }
    assert_eq!(j, executed.len(), "lines the file does not have: {:?}", &executed[j..]);
    assert!(skipped > 500 && skipped_e > 50.0, "the cube's moves were left out: {skipped} moves, {skipped_e:.1} mm");
    assert!(tee_moves > 2_000, "the tee printed on: {tee_moves} moves");
    assert!(rebuilt.len() <= 60, "only moves right after a skipped block are rebuilt: {rebuilt:?}");
    let added_g92 = r.sim.executed().into_iter().filter(|c| c.starts_with("G92 E") && !text.contains(c.as_str()));
    assert_eq!(added_g92.count(), 0, "relative E needs no G92");
    // No catch-up: every E the printer ran is one the file has for a single move.
    let max_file_e = expected.iter().filter_map(|(c, _)| e_word(c)).fold(0.0f64, |m, e| m.max(e.abs()));
    let max_sent_e = executed.iter().filter_map(|c| e_word(c)).fold(0.0f64, |m, e| m.max(e.abs()));
    assert!(max_sent_e <= max_file_e + 1e-6, "largest E sent {max_sent_e} vs the file's {max_file_e}");
    eprintln!(
        "cancelled at file command {cancel_at}: {skipped} cube moves ({skipped_e:.1} mm) left out, \
         {tee_moves} tee moves sent, {} rebuilt",
        rebuilt.len()
    );
}

/// Issue 12 with absolute E (`M82`) and `M486` labels (Simplify3D-style edge fixture): after each
/// skipped block of the cancelled object the host sends `G92 E<the file's E>`, so no move extrudes
/// the skipped filament at once, and the printer's E ends where the file's does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_mode_cancel_keeps_absolute_e_consistent() {
    let r = rig(SerialMode::Host, SimConfig { time_scale: 0.5, ..SimConfig::default() }).await;
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gcode/edge/m486_objects.gcode");
    let text = std::fs::read_to_string(fixture).unwrap();
    let file = r.dir.path().join("m486.gcode");
    std::fs::write(&file, &text).unwrap();
    let mut rx = r.link.status();
    wait_for(&mut rx, "idle", Duration::from_secs(5), |s| matches!(s, PrinterState::Idle)).await;
    r.link.print(&file).await.expect("print");
    // The analysis names the objects; wait for it, then cancel before the right part's first block.
    let mut analysis = r.link.analysis();
    tokio::time::timeout(Duration::from_secs(10), analysis.wait_for(Option::is_some)).await.unwrap().unwrap();
    assert_eq!(r.link.cancel_object("right_part").await.expect("cancel"), Confirmation::Confirmed);
    let done = wait_for(&mut rx, "end", Duration::from_secs(60), |s| {
        matches!(s, PrinterState::Finished { .. } | PrinterState::Error { .. })
    })
    .await;
    assert!(matches!(done.state, PrinterState::Finished { .. }), "{:?}", done.state);
    let executed = file_commands(r.sim.executed());
    let (mut e, mut total, mut biggest) = (0.0f64, 0.0f64, 0.0f64);
    for c in &executed {
        if c.starts_with("G92") {
            e = e_word(c).unwrap_or(0.0);
        } else if is_move(c)
            && let Some(v) = e_word(c)
        {
            let x = c.split_whitespace().find_map(|w| w.strip_prefix('X')).and_then(|v| v.parse::<f64>().ok());
            assert!(!(v > e && x.is_some_and(|x| x >= 119.0)), "the right part extruded: {c}");
            biggest = biggest.max(v - e);
            total += (v - e).max(0.0);
            e = v;
        }
    }
    assert!(biggest <= 0.5 + 1e-6, "largest extrusion in one move {biggest} mm (the file's is 0.5)");
    assert!((total - 6.0).abs() < 1e-6, "the left part's 3 × 2 mm, nothing else: {total}");
    let g92: Vec<&String> = executed.iter().filter(|c| c.starts_with("G92 E") && !text.contains(c.as_str())).collect();
    assert_eq!(g92, ["G92 E4", "G92 E8", "G92 E12"], "one G92 after each skipped block");
    let final_e = r.sim.state().position[3];
    assert!((f64::from(final_e) - 12.0).abs() < 1e-3, "the printer's E ends where the file's does: {final_e}");
}

/// Issue 12 in monitor mode (the printer prints from SD): with `[printer] firmware_cancel_objects`
/// the link sends `M486 P<id>` for an M486-labelled file and firmware with `CANCEL_OBJECTS` takes it.
/// (Firmware without it answers "Unknown command"; monitor mode can take an `ok` already on its way
/// for the answer to the next command, so that refusal is not reliably seen: not asserted here.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_mode_cancels_with_m486_on_firmware_that_takes_it() {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gcode/edge/m486_objects.gcode");
    let text = std::fs::read_to_string(fixture).unwrap();
    let copies = tempfile::tempdir().unwrap();
    std::fs::write(copies.path().join("m486.gcode"), &text).unwrap();
    let dir = copies.path().to_path_buf();
    let mut cfg = SimConfig { time_scale: 1.0, ..SimConfig::default() };
    cfg.caps.cancel_objects = true;
    let r = rig_with(SerialMode::Monitor, cfg, move |s| {
        s.local_gcode = Some(dir);
        s.firmware_cancel_objects = true;
    })
    .await;
    r.sim.put_sd_file("m486.gco", text.clone().into_bytes());
    let mut rx = r.link.status();
    wait_for(&mut rx, "idle", Duration::from_secs(5), |s| matches!(s, PrinterState::Idle)).await;
    r.sim.start_sd_print("m486.gco");
    let mut analysis = r.link.analysis();
    tokio::time::timeout(Duration::from_secs(10), analysis.wait_for(Option::is_some)).await.unwrap().unwrap();
    wait_for(&mut rx, "printing", Duration::from_secs(10), |s| matches!(s, PrinterState::Printing { .. })).await;
    let e = r.link.cancel_object("middle").await.unwrap_err().to_string();
    assert!(e.contains("no object named \"middle\"") && e.contains("left part"), "{e}");
    assert_eq!(r.link.cancel_object("right_part").await.expect("cancelled by the firmware"), Confirmation::Confirmed);
    // The simulator publishes what it ran a moment after answering.
    let ran = || r.sim.executed().iter().filter(|c| c.starts_with("M486")).cloned().collect::<Vec<_>>();
    for _ in 0..40 {
        if !ran().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ran(), ["M486 P1"]);
    assert_eq!(r.link.cancel_object("right_part").await.expect("again"), Confirmation::AlreadyThere);
    assert_eq!(r.link.cancelled_objects().await, vec!["right_part".to_string()]);
    let e = r.link.cancel_object("left part").await.unwrap_err().to_string();
    assert!(e.contains("last object still printing"), "{e}");
    assert_eq!(ran(), ["M486 P1"], "refusals send nothing");
}
