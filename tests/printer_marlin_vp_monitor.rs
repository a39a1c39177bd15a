//! Monitor mode against the real peer: OctoPrint's VirtualPrinter prints from its
//! SD card; layerwatch follows it and pauses, resumes and cancels it.

mod printer_support;

use std::sync::Arc;
use std::time::Duration;

use layerwatch::domain::PrinterState;
use layerwatch::printer::marlin::{HandshakeTiming, MarlinLink, SerialTransport, Settings};
use layerwatch::printer::{Confirmation, PrinterConfig, PrinterError, PrinterLink, SerialMode};
use printer_support::gcode::{self, Spec};
use printer_support::vp::VirtualPrinter;
use printer_support::wait_for;
use tokio_util::sync::CancellationToken;

fn monitor_link(
    vp: &VirtualPrinter,
    cancel: &CancellationToken,
    gcode_dir: Option<std::path::PathBuf>,
) -> Arc<MarlinLink> {
    let mut settings = Settings::from_config(&PrinterConfig::default());
    settings.mode = SerialMode::Monitor;
    settings.read_timeout = Duration::from_secs(3);
    settings.command_timeout = Duration::from_secs(15);
    settings.poll = Duration::from_millis(500);
    settings.autoreport_secs = 1;
    settings.local_gcode = gcode_dir;
    let transport = Arc::new(SerialTransport {
        path: vp.link.clone(),
        baud: 115_200,
    });
    MarlinLink::spawn(settings, transport, HandshakeTiming::default(), cancel.child_token())
}

fn sd_position(s: &PrinterState) -> u64 {
    s.job().and_then(|j| j.file_position).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_an_sd_print_and_pauses_resumes_and_cancels_it() {
    let mut vp = VirtualPrinter::start(&[("simulated_errors", "[]")]);
    let text = gcode::generate(&Spec {
        layers: 60,
        moves_per_layer: 25,
        feedrate: 3_000,
        ..Spec::default()
    });
    let local = vp.dir.path().join("local");
    std::fs::create_dir(&local).unwrap();
    let file = local.join("print.gcode");
    std::fs::write(&file, &text).unwrap();
    vp.control(&format!("sd print.gcode {}", file.display()));
    let cancel = CancellationToken::new();
    let link = monitor_link(&vp, &cancel, Some(local.clone()));
    link.wait_connected(Duration::from_secs(20)).await.expect("connected");
    let mut rx = link.status();
    wait_for(&mut rx, "idle", Duration::from_secs(10), |s| {
        matches!(s, PrinterState::Idle)
    })
    .await;
    assert!(
        matches!(link.pause().await, Err(PrinterError::InvalidState { .. })),
        "nothing to pause yet"
    );

    // Someone starts the print at the printer.
    vp.control("debug start_sd print.gcode");
    let printing = wait_for(&mut rx, "printing", Duration::from_secs(15), |s| {
        matches!(s, PrinterState::Printing { .. }) && sd_position(s) > 0
    })
    .await;
    let job = printing.state.job().cloned().unwrap_or_default();
    assert_eq!(job.file, "print.gcode");
    assert_eq!(job.file_size, Some(text.len() as u64));
    // The local copy in gcode_dir (matched by size and name) gives layers.
    let printing = wait_for(&mut rx, "layer info", Duration::from_secs(5), |s| {
        s.job().is_some_and(|j| j.layer_count.is_some())
    })
    .await;
    assert_eq!(printing.state.job().and_then(|j| j.layer_count), Some(60));

    assert_eq!(link.pause().await.expect("pause"), Confirmation::Confirmed);
    let paused = rx.borrow().clone();
    assert!(
        matches!(paused.state, PrinterState::Paused { .. }),
        "{:?}",
        paused.state
    );
    assert_eq!(link.pause().await.expect("pause again"), Confirmation::AlreadyThere);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        sd_position(&rx.borrow().state),
        sd_position(&paused.state),
        "the SD print stands still"
    );

    assert_eq!(link.resume().await.expect("resume"), Confirmation::Confirmed);
    assert_eq!(link.resume().await.expect("resume again"), Confirmation::AlreadyThere);
    let at = sd_position(&rx.borrow().state);
    wait_for(&mut rx, "progress after resume", Duration::from_secs(15), |s| {
        sd_position(s) > at
    })
    .await;

    assert_eq!(link.cancel().await.expect("cancel"), Confirmation::Confirmed);
    assert!(
        matches!(rx.borrow().state, PrinterState::Cancelled { .. }),
        "{:?}",
        rx.borrow().state
    );
    assert_eq!(link.cancel().await.expect("cancel again"), Confirmation::AlreadyThere);

    // Minimal traffic: only unnumbered status queries and our three commands.
    let sent = vp.received();
    assert!(
        sent.iter().all(|l| !l.starts_with('N')),
        "monitor mode never numbers lines: {sent:?}"
    );
    for cmd in ["M25", "M24", "M524"] {
        assert_eq!(
            sent.iter().filter(|l| l.trim() == cmd).count(),
            1,
            "{cmd} sent exactly once: {sent:?}"
        );
    }
    cancel.cancel();
}

/// Found by the soak (issue 13, item 10): after the printer was unplugged for longer than the
/// link's probes allow, every reconnection was dropped at once ("stopped answering", forever),
/// and the print the reset printer had lost was shown as paused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printer_replugged_after_a_long_unplug_stays_connected_and_its_lost_print_is_not_paused() {
    let mut vp = VirtualPrinter::start(&[("simulated_errors", "[]")]);
    let text = gcode::generate(&Spec {
        layers: 200,
        moves_per_layer: 25,
        feedrate: 3_000,
        ..Spec::default()
    });
    let local = vp.dir.path().join("local");
    std::fs::create_dir(&local).unwrap();
    let file = local.join("print.gcode");
    std::fs::write(&file, &text).unwrap();
    vp.control(&format!("sd print.gcode {}", file.display()));
    let cancel = CancellationToken::new();
    let link = monitor_link(&vp, &cancel, Some(local.clone()));
    link.wait_connected(Duration::from_secs(20)).await.expect("connected");
    let mut rx = link.status();
    vp.control("debug start_sd print.gcode");
    wait_for(&mut rx, "printing", Duration::from_secs(15), |s| {
        matches!(s, PrinterState::Printing { .. }) && sd_position(s) > 0
    })
    .await;

    // Gone for longer than read_timeout (3 s) × (max_probes + 1).
    tokio::task::block_in_place(|| vp.control("unplug"));
    wait_for(&mut rx, "disconnected", Duration::from_secs(15), |s| {
        matches!(s, PrinterState::Disconnected)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    tokio::task::block_in_place(|| vp.control("replug"));

    // The printer booted: idle, not "paused", and it stays connected well past the probe limit.
    let back = wait_for(&mut rx, "the replugged printer", Duration::from_secs(20), |s| {
        !matches!(s, PrinterState::Disconnected)
    })
    .await;
    assert!(matches!(back.state, PrinterState::Idle), "{:?}", back.state);
    let mut seen = Vec::new();
    let until = std::time::Instant::now() + Duration::from_secs(12);
    while std::time::Instant::now() < until {
        seen.push(rx.borrow().state.name());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen.iter().all(|s| *s == "idle"), "the link dropped the printer again: {seen:?}");

    // And a new print is followed.
    vp.control("debug start_sd print.gcode");
    wait_for(&mut rx, "printing again", Duration::from_secs(15), |s| {
        matches!(s, PrinterState::Printing { .. }) && sd_position(s) > 0
    })
    .await;
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_gcode_is_confirmed_by_the_printers_ok_in_monitor_mode() {
    let vp = VirtualPrinter::start(&[("simulated_errors", "[]")]);
    let cancel = CancellationToken::new();
    let link = monitor_link(&vp, &cancel, None);
    link.wait_connected(Duration::from_secs(20)).await.expect("connected");
    for lines in [["M355 S1 P255"], ["M355 S0"]] {
        let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        assert_eq!(link.run_gcode("light", &lines).await.expect("run gcode"), Confirmation::Confirmed);
        let executed = vp.executed();
        assert!(executed.contains(&lines[0]), "{lines:?} ran: {executed:?}");
    }
    assert!(matches!(link.run_gcode("light", &[]).await, Err(PrinterError::Rejected { command: "light", .. })));
    cancel.cancel();
}
