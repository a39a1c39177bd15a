//! Host mode against the real peer: OctoPrint's VirtualPrinter behind a pty.

mod printer_support;

use std::sync::Arc;
use std::time::Duration;

use layerwatch::domain::PrinterState;
use layerwatch::printer::marlin::{HandshakeTiming, MarlinLink, SerialTransport, Settings};
use layerwatch::printer::{PrinterConfig, SerialMode};
use printer_support::gcode::{self, Spec};
use printer_support::vp::VirtualPrinter;
use printer_support::wait_for;
use tokio_util::sync::CancellationToken;

fn host_link(vp: &VirtualPrinter, cancel: &CancellationToken) -> Arc<MarlinLink> {
    let mut settings = Settings::from_config(&PrinterConfig::default());
    settings.mode = SerialMode::Host;
    settings.read_timeout = Duration::from_secs(2);
    settings.command_timeout = Duration::from_secs(20);
    let transport = Arc::new(SerialTransport {
        path: vp.link.clone(),
        baud: 115_200,
    });
    MarlinLink::spawn(settings, transport, HandshakeTiming::default(), cancel.child_token())
}

/// Commands layerwatch adds itself, which the file never contains.
fn without_host_commands(executed: Vec<String>) -> Vec<String> {
    let host = ["M115", "M155", "M105", "M114", "M400", "M110"];
    executed
        .into_iter()
        .filter(|c| !host.contains(&c.split_whitespace().next().unwrap_or("")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_through_injected_resends_without_losing_or_repeating_a_line() {
    // Default error injection (lines 100-115), every line must carry a checksum,
    // two extruders (T:/T0:/T1: temperature reports).
    let vp = VirtualPrinter::start(&[("forceChecksum", "true"), ("numExtruders", "2")]);
    let text = gcode::generate(&Spec {
        layers: 12,
        moves_per_layer: 20,
        ..Spec::default()
    });
    let file = vp.dir.path().join("print.gcode");
    std::fs::write(&file, &text).unwrap();
    let cancel = CancellationToken::new();
    let link = host_link(&vp, &cancel);
    link.wait_connected(Duration::from_secs(20)).await.expect("connected");
    let mut rx = layerwatch::printer::PrinterLink::status(&*link);
    wait_for(&mut rx, "idle", Duration::from_secs(10), |s| {
        matches!(s, PrinterState::Idle)
    })
    .await;
    link.print(&file).await.expect("print accepted");
    let done = wait_for(&mut rx, "finished", Duration::from_secs(60), |s| {
        matches!(s, PrinterState::Finished { .. } | PrinterState::Error { .. })
    })
    .await;
    assert!(matches!(done.state, PrinterState::Finished { .. }), "{:?}", done.state);
    let executed = without_host_commands(vp.executed());
    let mut expected = gcode::expected_commands(&text);
    // VirtualPrinter's `105:resend_with_timeout` asks for line 105 again, then
    // swallows the resent copy while recording 105 as received (its lastN = 105),
    // so it answers a later copy with `Resend: 106`. A real firmware with that
    // counter has run line 105; the simulator never does. Any host loses that
    // one line inside the simulator, so expect exactly it to be missing, and
    // check that we did send it more than once.
    let (swallowed, copies) = gcode::numbered_line(&vp.received(), 105).expect("line 105 was sent");
    assert!(
        copies >= 2,
        "line 105 was sent again after the injected resend ({copies} copies)"
    );
    let at = expected
        .iter()
        .position(|c| *c == swallowed)
        .expect("line 105 is a file line");
    expected.remove(at);
    let c = link.counters();
    gcode::assert_same_commands(&executed, &expected);
    assert!(
        done.temps.hotend.is_some() && done.temps.bed.is_some(),
        "{:?}",
        done.temps
    );
    // 100: resend, 105: resend + swallowed copy, 110: missing line number (no resend,
    // recovered through `wait`), 115: checksum mismatch.
    assert!(c.resends >= 3, "the injected errors were exercised: {c:?}");
    assert!(c.transmission_errors >= 4, "{c:?}");
    assert_eq!(c.unexpected_resends, 0, "{c:?}");
    cancel.cancel();
}

fn job_position(s: &PrinterState) -> u64 {
    s.job().and_then(|j| j.file_position).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_cancel_mid_print_are_confirmed_and_idempotent() {
    use layerwatch::printer::{Confirmation, PrinterError, PrinterLink};
    // No injected errors: this test is about the command sequences.
    let vp = VirtualPrinter::start(&[("simulated_errors", "[]")]);
    let text = gcode::generate(&Spec {
        layers: 40,
        moves_per_layer: 25,
        feedrate: 6_000,
        ..Spec::default()
    });
    let file = vp.dir.path().join("print.gcode");
    std::fs::write(&file, &text).unwrap();
    let cancel = CancellationToken::new();
    let link = host_link(&vp, &cancel);
    link.wait_connected(Duration::from_secs(20)).await.expect("connected");
    let mut rx = link.status();
    wait_for(&mut rx, "idle", Duration::from_secs(10), |s| {
        matches!(s, PrinterState::Idle)
    })
    .await;
    link.print(&file).await.expect("print accepted");
    wait_for(&mut rx, "some progress", Duration::from_secs(20), |s| {
        job_position(s) > 2_000
    })
    .await;

    assert_eq!(link.pause().await.expect("pause"), Confirmation::Confirmed);
    let paused = rx.borrow().clone();
    assert!(
        matches!(paused.state, PrinterState::Paused { .. }),
        "{:?}",
        paused.state
    );
    let at_pause = vp.executed().len();
    assert_eq!(link.pause().await.expect("second pause"), Confirmation::AlreadyThere);
    assert_eq!(
        link.park().await.expect("park while parked"),
        Confirmation::AlreadyThere
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        vp.executed().len(),
        at_pause,
        "nothing is sent while paused, nothing twice"
    );
    assert_eq!(
        job_position(&rx.borrow().state),
        job_position(&paused.state),
        "the stream is held"
    );

    assert_eq!(link.resume().await.expect("resume"), Confirmation::Confirmed);
    assert!(matches!(
        rx.borrow().state,
        PrinterState::Printing { .. } | PrinterState::Heating { .. }
    ));
    assert_eq!(link.resume().await.expect("second resume"), Confirmation::AlreadyThere);
    let resumed_at = job_position(&rx.borrow().state);
    wait_for(&mut rx, "progress after resume", Duration::from_secs(20), |s| {
        job_position(s) > resumed_at + 500
    })
    .await;

    assert_eq!(link.cancel().await.expect("cancel"), Confirmation::Confirmed);
    assert!(
        matches!(rx.borrow().state, PrinterState::Cancelled { .. }),
        "{:?}",
        rx.borrow().state
    );
    assert_eq!(link.cancel().await.expect("second cancel"), Confirmation::AlreadyThere);
    assert!(matches!(
        link.pause().await,
        Err(PrinterError::InvalidState { command: "pause", .. })
    ));

    // What the firmware ran: the file up to the cancel, with our three sequences at the right places.
    let mut executed = vp.executed();
    executed.retain(|c| !matches!(c.as_str(), "M115" | "M155 S2" | "M105"));
    let pause_seq = ["M400", "M114", "M83", "G1 E-2 F2400", "G91", "G1 Z10 F600", "G90"];
    let resume_seq = [
        "G91",
        "G1 Z-10 F600",
        "G90",
        "G1 X* F3000",
        "M83",
        "G1 E2 F2400",
        "M106 S255",
        "G90",
        "M82",
        "G1 F6000",
    ];
    let cancel_seq = [
        "M104 S0",
        "M140 S0",
        "M107",
        "M83",
        "G1 E-2 F2400",
        "G91",
        "G1 Z10 F600",
        "G90",
    ];
    let p = gcode::take_run(&mut executed, &pause_seq).expect("pause sequence ran");
    let r = gcode::take_run(&mut executed, &resume_seq).expect("resume sequence ran");
    assert_eq!(p, r, "resume follows the pause directly: nothing ran in between");
    let c = gcode::take_run(&mut executed, &cancel_seq).expect("cancel sequence ran");
    assert_eq!(c, executed.len(), "nothing from the file after the cancel");
    let expected = gcode::expected_commands(&text);
    assert!(executed.len() < expected.len(), "cancelled before the end");
    gcode::assert_same_commands(&executed, &expected[..executed.len()]);
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emergency_stop_on_the_printer_gives_a_clean_error_state() {
    use layerwatch::printer::{PrinterError, PrinterLink};
    let mut vp = VirtualPrinter::start(&[("simulated_errors", "[]")]);
    let text = gcode::generate(&Spec {
        layers: 40,
        moves_per_layer: 25,
        feedrate: 6_000,
        ..Spec::default()
    });
    let file = vp.dir.path().join("print.gcode");
    std::fs::write(&file, &text).unwrap();
    let cancel = CancellationToken::new();
    let link = host_link(&vp, &cancel);
    link.wait_connected(Duration::from_secs(20)).await.expect("connected");
    let mut rx = link.status();
    wait_for(&mut rx, "idle", Duration::from_secs(10), |s| {
        matches!(s, PrinterState::Idle)
    })
    .await;
    link.print(&file).await.expect("print accepted");
    wait_for(&mut rx, "some progress", Duration::from_secs(20), |s| {
        job_position(s) > 1_000
    })
    .await;
    vp.control("kill");
    let err = wait_for(&mut rx, "error", Duration::from_secs(10), |s| {
        matches!(s, PrinterState::Error { .. })
    })
    .await;
    let PrinterState::Error { message } = &err.state else {
        unreachable!()
    };
    assert!(message.contains("KILLED") || message.contains("halted"), "{message}");
    assert!(link.counters().fatal_errors >= 1);
    // The halted firmware answers nothing: the state stays a clean Error, no flapping.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        matches!(rx.borrow().state, PrinterState::Error { .. }),
        "{:?}",
        rx.borrow().state
    );
    assert!(matches!(link.pause().await, Err(PrinterError::InvalidState { .. })));
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boot_junk_garbled_lines_and_a_stray_resend_are_counted_and_survived() {
    // Boot loader noise before the banner (which itself carries a junk byte).
    let mut vp = VirtualPrinter::start_with(&[("simulated_errors", "[]")], Some("fffe00c3280aff"));
    let text = gcode::generate(&Spec {
        layers: 30,
        moves_per_layer: 20,
        feedrate: 12_000,
        ..Spec::default()
    });
    let file = vp.dir.path().join("print.gcode");
    std::fs::write(&file, &text).unwrap();
    let cancel = CancellationToken::new();
    let link = host_link(&vp, &cancel);
    link.wait_connected(Duration::from_secs(20))
        .await
        .expect("connected through the boot noise");
    let mut rx = layerwatch::printer::PrinterLink::status(&*link);
    wait_for(&mut rx, "idle", Duration::from_secs(10), |s| {
        matches!(s, PrinterState::Idle)
    })
    .await;
    assert!(link.counters().garbage >= 1, "boot junk counted: {:?}", link.counters());
    link.print(&file).await.expect("print accepted");
    wait_for(&mut rx, "some progress", Duration::from_secs(20), |s| {
        job_position(s) > 2_000
    })
    .await;
    // Noise on the line: undecodable bytes, a mangled ok, a resend nobody asked for.
    vp.control("garble ff00fe80810a6fff6b0a");
    vp.control(&format!("garble {}", hex("Resend: 99999\n")));
    // A line the firmware receives corrupted (checksum mismatch → real resend).
    vp.control("corrupt_next");
    let done = wait_for(&mut rx, "finished", Duration::from_secs(60), |s| {
        matches!(s, PrinterState::Finished { .. } | PrinterState::Error { .. })
    })
    .await;
    assert!(matches!(done.state, PrinterState::Finished { .. }), "{:?}", done.state);
    let c = link.counters();
    assert!(c.garbage >= 3, "{c:?}");
    assert_eq!(c.unexpected_resends, 1, "the stray resend was ignored: {c:?}");
    assert!(
        c.resends >= 2 && c.transmission_errors >= 1,
        "the corrupted line was resent: {c:?}"
    );
    gcode::assert_same_commands(&without_host_commands(vp.executed()), &gcode::expected_commands(&text));
    cancel.cancel();
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplug_mid_print_is_an_error_and_replug_reconnects() {
    let mut vp = VirtualPrinter::start(&[("simulated_errors", "[]")]);
    let text = gcode::generate(&Spec {
        layers: 40,
        moves_per_layer: 25,
        feedrate: 6_000,
        ..Spec::default()
    });
    let file = vp.dir.path().join("print.gcode");
    std::fs::write(&file, &text).unwrap();
    let cancel = CancellationToken::new();
    let link = host_link(&vp, &cancel);
    link.wait_connected(Duration::from_secs(20)).await.expect("connected");
    let mut rx = layerwatch::printer::PrinterLink::status(&*link);
    let states = printer_support::record_states(rx.clone());
    wait_for(&mut rx, "idle", Duration::from_secs(10), |s| {
        matches!(s, PrinterState::Idle)
    })
    .await;
    link.print(&file).await.expect("print accepted");
    wait_for(&mut rx, "some progress", Duration::from_secs(20), |s| {
        job_position(s) > 1_000
    })
    .await;
    vp.control("unplug");
    let lost = wait_for(&mut rx, "error", Duration::from_secs(10), |s| {
        matches!(s, PrinterState::Error { .. })
    })
    .await;
    let PrinterState::Error { message } = &lost.state else {
        unreachable!()
    };
    assert!(message.contains("connection lost"), "{message}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    vp.control("replug");
    wait_for(&mut rx, "idle after replug", Duration::from_secs(30), |s| {
        matches!(s, PrinterState::Idle)
    })
    .await;
    let c = link.counters();
    assert_eq!((c.connects, c.disconnects), (2, 1), "{c:?}");
    // The reconnected printer works: a short print completes.
    let small = vp.dir.path().join("small.gcode");
    std::fs::write(
        &small,
        gcode::generate(&Spec {
            layers: 2,
            moves_per_layer: 5,
            ..Spec::default()
        }),
    )
    .unwrap();
    link.print(&small).await.expect("print after replug");
    wait_for(&mut rx, "finished", Duration::from_secs(20), |s| {
        matches!(s, PrinterState::Finished { .. })
    })
    .await;
    let seen = states.lock().unwrap().clone();
    assert!(seen.windows(2).any(|w| w == ["printing", "error"]), "{seen:?}");
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filament_change_holds_until_resumed_from_the_host() {
    use layerwatch::printer::{Confirmation, PrinterLink};
    // sendBusy: VirtualPrinter's M600 only ever answers when it sends busy keep-alives.
    // It answers host prompts (M876) without advertising PROMPT_SUPPORT: advertise it.
    let caps = r#"{"PROMPT_SUPPORT": true, "HOST_ACTION_COMMANDS": true}"#;
    let vp = VirtualPrinter::start(&[
        ("simulated_errors", "[]"),
        ("sendBusy", "true"),
        ("busyInterval", "0.5"),
        ("capabilities", caps),
    ]);
    let text = gcode::generate(&Spec {
        layers: 4,
        moves_per_layer: 10,
        m600_at_layer: Some(2),
        ..Spec::default()
    });
    let file = vp.dir.path().join("print.gcode");
    std::fs::write(&file, &text).unwrap();
    let cancel = CancellationToken::new();
    let link = host_link(&vp, &cancel);
    link.wait_connected(Duration::from_secs(20)).await.expect("connected");
    let mut rx = link.status();
    wait_for(&mut rx, "idle", Duration::from_secs(10), |s| {
        matches!(s, PrinterState::Idle)
    })
    .await;
    link.print(&file).await.expect("print accepted");
    wait_for(&mut rx, "paused by M600", Duration::from_secs(20), |s| {
        matches!(s, PrinterState::Paused { .. })
    })
    .await;
    // Longer than the read timeout: busy keep-alives keep the link patient.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        matches!(rx.borrow().state, PrinterState::Paused { .. }),
        "{:?}",
        rx.borrow().state
    );
    assert_eq!(link.counters().timeouts, 0);
    assert_eq!(link.pause().await.unwrap(), Confirmation::AlreadyThere);
    assert_eq!(
        link.resume().await.expect("resume answers the prompt"),
        Confirmation::Confirmed
    );
    wait_for(&mut rx, "finished", Duration::from_secs(20), |s| {
        matches!(s, PrinterState::Finished { .. })
    })
    .await;
    let executed = without_host_commands(vp.executed());
    let mut expected = gcode::expected_commands(&text);
    expected.retain(|c| c != "M600");
    let mut executed_no_prompt: Vec<String> = executed.into_iter().filter(|c| c != "M600" && c != "M108").collect();
    executed_no_prompt.retain(|c| !c.starts_with("M876"));
    gcode::assert_same_commands(&executed_no_prompt, &expected);
    cancel.cancel();
}
