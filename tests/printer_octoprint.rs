//! `printer::octoprint` against a real OctoPrint 1.11.8 with its VirtualPrinter
//! (see `hosts_support::octoprint`): a print followed end to end over the push
//! socket, commands confirmed by OctoPrint's state, and the faults a link must
//! survive (wrong key, 409, push socket dropped, printer error/disconnect).
//!
//! One server per test binary; tests that drive the printer hold
//! `octoprint::PRINTER` so they run one at a time.

mod hosts_support;

use std::sync::Arc;
use std::time::Duration;

use layerwatch::config::Config;
use layerwatch::domain::PrinterState;
use layerwatch::printer::octoprint::{JobCommand, OctoPrintError, OctoPrintLink};
use layerwatch::printer::{Confirmation, PrinterError, PrinterLink};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use hosts_support::octoprint::{self, OctoPrint};
use hosts_support::proxy::CutProxy;
use hosts_support::{Recorder, assert_monotonic, fixture, wait_status};

const PRINT_TIMEOUT: Duration = Duration::from_secs(60);
const STATE_TIMEOUT: Duration = Duration::from_secs(20);

async fn link(server: &OctoPrint, url: &str) -> (Arc<OctoPrintLink>, CancellationToken) {
    let cfg = Config::from_toml_str(&server.config_toml(url, &server.api_key)).expect("valid test config");
    hosts_support::init_logs();
    let cancel = CancellationToken::new();
    let link = OctoPrintLink::connect(&cfg.printer, cancel.clone()).await.expect("connect to octoprint");
    (link, cancel)
}

/// Waits for Idle (no job running) so each test starts clean.
async fn idle(server: &OctoPrint, link: &OctoPrintLink) {
    server.connect_printer().await;
    let mut rx = link.status();
    let st = rx.borrow().state.clone();
    if matches!(st, PrinterState::Printing { .. } | PrinterState::Paused { .. } | PrinterState::Pausing { .. }) {
        link.cancel().await.expect("cancel a leftover print");
    }
    wait_status(&mut rx, STATE_TIMEOUT, "an idle printer", |s| {
        matches!(s.state, PrinterState::Idle | PrinterState::Finished { .. } | PrinterState::Cancelled { .. })
    })
    .await;
}

fn expected_layers(file: &str) -> u32 {
    let bytes = std::fs::read(fixture(file)).expect("fixture");
    layerwatch::gcode::analyze(&bytes).layers.len() as u32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_a_print_to_the_end_with_layers_from_the_file() {
    let server = octoprint::shared().await;
    let _one = octoprint::PRINTER.lock().await;
    let (link, cancel) = link(server, &server.url).await;
    idle(server, &link).await;
    let rec = Recorder::start(link.status());

    server.upload_and_print(&fixture("gcode/cube_marlin.gcode"), "follow.gcode").await;
    let mut rx = link.status();
    let done = wait_status(
        &mut rx,
        PRINT_TIMEOUT,
        "the print to finish",
        |s| matches!(&s.state, PrinterState::Finished { job } if job.file == "follow.gcode"),
    )
    .await;

    tokio::time::sleep(Duration::from_millis(200)).await; // let the recorder drain the channel
    let layer_count = expected_layers("gcode/cube_marlin.gcode");
    assert!(layer_count >= 5, "fixture should have several layers, analyzer found {layer_count}");
    let PrinterState::Finished { job } = &done.state else { unreachable!() };
    assert_eq!(job.layer_count, Some(layer_count), "layer count from the downloaded file");
    assert_eq!(job.layer, Some(layer_count - 1), "ends on the last layer");
    assert_eq!(job.progress, Some(1.0));
    assert_eq!(job.file_size, Some(std::fs::metadata(fixture("gcode/cube_marlin.gcode")).unwrap().len()));

    let layers = rec.layers();
    assert_monotonic("layer", &layers);
    let distinct: std::collections::BTreeSet<u32> = layers.iter().copied().collect();
    assert!(distinct.len() >= 3, "expected to watch several layers go by, saw {distinct:?}");
    let names = rec.state_names();
    assert!(names.contains(&"printing"), "states seen: {names:?}");
    assert_eq!(names.last(), Some(&"finished"), "states seen: {names:?}");
    let zs: Vec<f32> = rec.all().iter().filter_map(|s| s.state.job().and_then(|j| j.z)).collect();
    assert!(zs.iter().any(|z| *z > 1.0), "z should rise during the print: {zs:?}");
    let stats = link.stats();
    assert!(stats.socket_connects >= 1 && stats.files_analysed >= 1, "{stats:?}");
    let a = link.analysis().borrow().clone().expect("the link hands over its analysis of the file");
    assert!(a.file == "follow.gcode" && a.matches(job), "{a:?} vs {job:?}");
    assert_eq!(a.analysis.layers.len() as u32, layer_count);
    assert!(done.temps.hotend.is_some() && done.temps.bed.is_some(), "temperatures reported: {:?}", done.temps);
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_park_resume_cancel_are_confirmed_and_idempotent() {
    let server = octoprint::shared().await;
    let _one = octoprint::PRINTER.lock().await;
    // Through a counting proxy, to prove that idempotent commands send nothing.
    let proxy = CutProxy::start(server.url.trim_start_matches("http://").parse().expect("addr")).await;
    let (link, cancel) = link(server, &proxy.url).await;
    idle(server, &link).await;
    let (j0, c0) = (proxy.requests("POST /api/job "), proxy.requests("POST /api/printer/command "));
    let job_posts = || proxy.requests("POST /api/job ") - j0;
    let commands = || proxy.requests("POST /api/printer/command ") - c0;

    server.upload_and_print(&fixture("gcode/cube_marlin.gcode"), "pause.gcode").await;
    let mut rx = link.status();
    wait_status(&mut rx, PRINT_TIMEOUT, "layer 1", |s| {
        s.state.is_printing() && s.state.job().is_some_and(|j| j.file == "pause.gcode" && j.layer >= Some(1))
    })
    .await;

    assert_eq!(link.pause().await.expect("pause"), Confirmation::Confirmed);
    let paused = rx.borrow().clone();
    assert!(matches!(paused.state, PrinterState::Paused { .. }), "{paused:?}");
    let pos = paused.state.job().and_then(|j| j.file_position).expect("position while paused");
    assert_eq!(job_posts(), 1, "one pause request");
    assert_eq!(link.pause().await.expect("pause again"), Confirmation::AlreadyThere);
    assert_eq!(job_posts(), 1, "pause while paused sent nothing");

    assert_eq!(link.park().await.expect("park"), Confirmation::Confirmed);
    assert_eq!(commands(), 1, "one park request");
    assert_eq!(link.park().await.expect("park again"), Confirmation::AlreadyThere);
    assert_eq!(commands(), 1, "park while parked sent nothing");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let still = rx.borrow().clone();
    assert_eq!(still.state.job().and_then(|j| j.file_position), Some(pos), "no progress while paused");

    assert_eq!(link.resume().await.expect("resume"), Confirmation::Confirmed);
    assert_eq!((job_posts(), commands()), (2, 2), "unpark, then resume");
    assert_eq!(link.resume().await.expect("resume again"), Confirmation::AlreadyThere);
    assert_eq!(job_posts(), 2, "resume while printing sent nothing");
    wait_status(&mut rx, STATE_TIMEOUT, "progress after resuming", |s| {
        s.state.is_printing() && s.state.job().and_then(|j| j.file_position) > Some(pos)
    })
    .await;

    assert_eq!(link.cancel().await.expect("cancel"), Confirmation::Confirmed);
    let cancelled =
        wait_status(&mut rx, STATE_TIMEOUT, "cancelled", |s| matches!(s.state, PrinterState::Cancelled { .. })).await;
    assert_eq!(cancelled.state.job().map(|j| j.file.as_str()), Some("pause.gcode"));
    assert_eq!(link.cancel().await.expect("cancel again"), Confirmation::AlreadyThere);
    assert_eq!(job_posts(), 3, "cancel once, not twice");
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_in_the_wrong_state_are_refused_and_409_is_a_state() {
    let server = octoprint::shared().await;
    let _one = octoprint::PRINTER.lock().await;
    let (link, cancel) = link(server, &server.url).await;
    idle(server, &link).await;

    for (what, r) in [("pause", link.pause().await), ("resume", link.resume().await), ("park", link.park().await)] {
        match r {
            Err(PrinterError::InvalidState { command, .. }) => assert_eq!(command, what),
            other => panic!("{what} while idle: {other:?}"),
        }
    }
    assert_eq!(link.cancel().await.expect("cancel while idle"), Confirmation::AlreadyThere);

    // The same request sent anyway: OctoPrint answers 409, which the API names.
    match link.api().job_command(JobCommand::Pause).await {
        Err(OctoPrintError::Conflict { message, .. }) => assert!(message.contains("cannot be performed"), "{message}"),
        other => panic!("raw pause while idle: {other:?}"),
    }

    assert_eq!(link.set_temperatures(None, Some(45.0)).await.expect("bed target"), Confirmation::Confirmed);
    assert_eq!(rx_target(&link), Some(45.0));
    assert_eq!(link.set_temperatures(None, Some(45.0)).await.expect("same again"), Confirmation::AlreadyThere);
    assert_eq!(link.cool_down(true).await.expect("cool down"), Confirmation::Confirmed);
    assert!(matches!(link.set_temperatures(Some(999.0), None).await, Err(PrinterError::Rejected { .. })));
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_gcode_reaches_the_printer_and_smuggled_lines_are_refused() {
    let server = octoprint::shared().await;
    let _one = octoprint::PRINTER.lock().await;
    let (link, cancel) = link(server, &server.url).await;
    idle(server, &link).await;
    // The light's lines go through OctoPrint's command API; a heater target makes them visible.
    let lines = vec!["M355 S1 P255".to_string(), "M140 S41".to_string()];
    assert_eq!(link.run_gcode("light", &lines).await.expect("run gcode"), Confirmation::Confirmed);
    let mut rx = link.status();
    wait_status(&mut rx, STATE_TIMEOUT, "bed target 41 from the user's lines", |s| {
        s.temps.bed.is_some_and(|b| b.target == 41.0)
    })
    .await;
    for bad in [vec![], vec!["M355 S1\nM112".to_string()], vec!["x".repeat(200)]] {
        match link.run_gcode("light", &bad).await {
            Err(PrinterError::Rejected { command: "light", .. }) => {}
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    assert_eq!(link.cool_down(true).await.expect("cool down"), Confirmation::Confirmed);
    cancel.cancel();
}

fn rx_target(link: &OctoPrintLink) -> Option<f32> {
    link.status().borrow().temps.bed.map(|b| b.target)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_api_key_or_a_dead_server_is_a_clear_error() {
    let server = octoprint::shared().await;
    let cfg = Config::from_toml_str(&server.config_toml(&server.url, "not-the-key")).unwrap();
    let err = match OctoPrintLink::connect(&cfg.printer, CancellationToken::new()).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("connected with a wrong api key"),
    };
    assert!(err.contains("refused the api key (http 403)") && err.contains("/api/version"), "{err}");
    assert!(!err.contains("not-the-key"), "the key must not appear in errors: {err}");

    let dead = format!("http://127.0.0.1:{}", hosts_support::free_port());
    let cfg = Config::from_toml_str(&server.config_toml(&dead, &server.api_key)).unwrap();
    let err = match OctoPrintLink::connect(&cfg.printer, CancellationToken::new()).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("connected to a closed port"),
    };
    assert!(err.contains("cannot reach octoprint") && err.to_lowercase().contains("refused"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_push_socket_falls_back_to_polling_and_reconnects() {
    let server = octoprint::shared().await;
    let _one = octoprint::PRINTER.lock().await;
    let target = server.url.trim_start_matches("http://").parse().expect("socket addr");
    let proxy = CutProxy::start(target).await;
    let (link, cancel) = link(server, &proxy.url).await;
    idle(server, &link).await;
    let mut rx = link.status();
    wait_status(&mut rx, STATE_TIMEOUT, "push socket up", |_| link.stats().socket_connects >= 1).await;

    server.upload_and_print(&fixture("gcode/cube_marlin.gcode"), "drop.gcode").await;
    let before = wait_status(&mut rx, PRINT_TIMEOUT, "printing with layers", |s| {
        s.state.is_printing() && s.state.job().is_some_and(|j| j.file == "drop.gcode" && j.layer.is_some())
    })
    .await;
    let pos0 = before.state.job().and_then(|j| j.file_position);

    proxy.block_websockets(true);
    proxy.cut();
    let polls0 = link.stats().polls;
    // Progress keeps coming while the socket is refused: REST polling.
    let during = wait_status(&mut rx, STATE_TIMEOUT, "progress while the socket is down", |s| {
        s.state.job().and_then(|j| j.file_position) > pos0 && link.stats().polls > polls0 + 1
    })
    .await;
    assert!(proxy.refused_upgrades.load(std::sync::atomic::Ordering::SeqCst) >= 1, "the link retried the socket");
    assert!(link.stats().socket_drops >= 1, "{:?}", link.stats());
    assert!(during.state.job().and_then(|j| j.layer).is_some(), "layers still mapped while polling: {during:?}");

    proxy.block_websockets(false);
    let connects = link.stats().socket_connects;
    wait_status(&mut rx, STATE_TIMEOUT, "push socket back", |_| link.stats().socket_connects > connects).await;
    link.cancel().await.expect("cancel");
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printer_errors_and_disconnects_are_states_not_failures() {
    let server = octoprint::shared().await;
    let _one = octoprint::PRINTER.lock().await;
    let (link, cancel) = link(server, &server.url).await;
    idle(server, &link).await;
    let mut rx = link.status();

    // Serial link closed by the user: disconnected, and commands say so.
    assert_eq!(server.post("api/connection", json!({"command": "disconnect"})).await, 204);
    wait_status(&mut rx, STATE_TIMEOUT, "disconnected", |s| s.state == PrinterState::Disconnected).await;
    assert!(matches!(link.pause().await, Err(PrinterError::NotConnected)));
    server.connect_printer().await;
    wait_status(&mut rx, STATE_TIMEOUT, "idle again", |s| s.state == PrinterState::Idle).await;

    // The firmware reports a fatal error (VirtualPrinter's heater failure).
    let code = server.post("api/printer/command", json!({"commands": ["!!DEBUG:trigger_fatal_error_marlin"]})).await;
    assert_eq!(code, 204);
    let failed =
        wait_status(&mut rx, STATE_TIMEOUT, "error state", |s| matches!(s.state, PrinterState::Error { .. })).await;
    let PrinterState::Error { message } = &failed.state else { unreachable!() };
    assert!(message.starts_with("octoprint: "), "{message}");
    assert!(link.stats().printer_disconnects >= 1, "{:?}", link.stats());
    server.connect_printer().await;
    wait_status(&mut rx, STATE_TIMEOUT, "recovered", |s| s.state == PrinterState::Idle).await;
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_started_link_waits_for_octoprint_in_the_background() {
    let server = octoprint::shared().await;
    let dead = format!("http://127.0.0.1:{}", hosts_support::free_port());
    let cfg = Config::from_toml_str(&server.config_toml(&dead, &server.api_key)).unwrap();
    let cancel = CancellationToken::new();
    let link = OctoPrintLink::start(&cfg.printer, cancel.clone()).expect("start needs no server");
    hosts_support::eventually(STATE_TIMEOUT, "failed polls", async || (link.stats().poll_failures >= 2).then_some(()))
        .await;
    assert_eq!(link.status().borrow().state, PrinterState::Disconnected);
    cancel.cancel();

    let cfg = Config::from_toml_str(&server.config_toml(&server.url, &server.api_key)).unwrap();
    let cancel = CancellationToken::new();
    let link = OctoPrintLink::start(&cfg.printer, cancel.clone()).expect("start");
    let mut rx = link.status();
    wait_status(&mut rx, STATE_TIMEOUT, "a connected printer", |s| s.state != PrinterState::Disconnected).await;
    cancel.cancel();
}

/// Runs `layerwatch printer --octoprint URL --api-key KEY <command>`; whether it succeeded, and what it printed.
async fn cli(url: &str, key: &str, command: &'static str) -> (bool, String) {
    let (url, key) = (url.to_string(), key.to_string());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_layerwatch"))
            .args(["printer", "--octoprint", &url, "--api-key", &key, command])
            .output()
            .expect("run layerwatch")
    })
    .await
    .expect("cli");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Issue 13 item 7: every one-shot `layerwatch printer pause|resume|cancel` downloaded and analysed the whole
/// printing file first. Through a counting proxy: the real binary pauses and resumes a real print, and asks for
/// no file (neither its description nor its bytes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_cli_commands_pause_and_resume_without_downloading_the_file() {
    let server = octoprint::shared().await;
    let _one = octoprint::PRINTER.lock().await;
    let proxy = CutProxy::start(server.url.trim_start_matches("http://").parse().expect("addr")).await;
    let (link, cancel) = link(server, &server.url).await;
    idle(server, &link).await;
    server.upload_and_print(&fixture("gcode/cube_marlin.gcode"), "oneshot.gcode").await;
    let mut rx = link.status();
    wait_status(&mut rx, PRINT_TIMEOUT, "printing", |s| s.state.is_printing()).await;
    let files = || proxy.requests("GET /api/files/") + proxy.requests("GET /downloads/");

    let (ok, text) = cli(&proxy.url, &server.api_key, "pause").await;
    assert!(ok && text.contains("pause: confirmed"), "{text}\n{}", server.log_tail(20));
    wait_status(&mut rx, STATE_TIMEOUT, "paused", |s| matches!(s.state, PrinterState::Paused { .. })).await;
    assert!(proxy.requests("POST /api/job ") >= 1, "the pause went through the proxy");
    assert_eq!(files(), 0, "a one-shot pause reads no file");

    let (ok, text) = cli(&proxy.url, &server.api_key, "resume").await;
    assert!(ok && text.contains("resume: confirmed"), "{text}");
    assert_eq!(files(), 0, "a one-shot resume reads no file");
    // The control: `printer status` still reads the file (for the layer it shows), and the proxy sees that.
    let (ok, text) = cli(&proxy.url, &server.api_key, "status").await;
    assert!(ok && text.starts_with("printing oneshot.gcode"), "{text}");
    assert!(files() >= 1, "the proxy counts file requests");
    link.cancel().await.expect("cancel the print");
    cancel.cancel();
}

/// Issue 12 through OctoPrint: without `[printer] firmware_cancel_objects` a per-object cancel is a
/// plain "not supported" refusal; with it, an object of an M486-labelled file is cancelled with
/// `M486 P<id>` through OctoPrint's command API (one request; the second cancel sends nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_object_sends_m486_only_when_the_firmware_takes_it() {
    let server = octoprint::shared().await;
    let _one = octoprint::PRINTER.lock().await;
    // The cube with M486 labels: even layers are object 0, odd layers object 1.
    let mut labelled = String::from("M486 T2\n");
    let mut layer = 0;
    for l in std::fs::read_to_string(fixture("gcode/cube_marlin.gcode")).unwrap().lines() {
        labelled.push_str(l);
        labelled.push('\n');
        if l.starts_with(";LAYER_CHANGE") {
            labelled.push_str(&format!("M486 S{}\n", layer % 2));
            layer += 1;
        }
    }
    let file = tempfile::Builder::new().suffix(".gcode").tempfile().unwrap();
    std::fs::write(file.path(), &labelled).unwrap();

    let (plain, plain_cancel) = link(server, &server.url).await;
    idle(server, &plain).await;
    let proxy = CutProxy::start(server.url.trim_start_matches("http://").parse().expect("addr")).await;
    let toml = server
        .config_toml(&proxy.url, &server.api_key)
        .replace("[printer]\n", "[printer]\nfirmware_cancel_objects = true\n");
    let cfg = Config::from_toml_str(&toml).expect("valid test config");
    let cancel = CancellationToken::new();
    let link = OctoPrintLink::connect(&cfg.printer, cancel.clone()).await.expect("connect");

    server.upload_and_print(file.path(), "m486.gcode").await;
    let mut rx = link.status();
    wait_status(&mut rx, PRINT_TIMEOUT, "layer 1", |s| {
        s.state.is_printing() && s.state.job().is_some_and(|j| j.file == "m486.gcode" && j.layer >= Some(1))
    })
    .await;
    let e = plain.cancel_object("object 1").await.unwrap_err().to_string();
    assert!(e.contains("not supported by this printer") && e.contains("firmware_cancel_objects"), "{e}");

    let mut analysis = link.analysis();
    tokio::time::timeout(STATE_TIMEOUT, analysis.wait_for(Option::is_some)).await.expect("analysis").expect("alive");
    let c0 = proxy.requests("POST /api/printer/command ");
    let e = link.cancel_object("object 7").await.unwrap_err().to_string();
    assert!(e.contains("no object named \"object 7\""), "{e}");
    assert_eq!(link.cancel_object("object 1").await.expect("M486 P1"), Confirmation::Confirmed);
    assert_eq!(link.cancel_object("OBJECT 1").await.expect("again"), Confirmation::AlreadyThere);
    assert_eq!(proxy.requests("POST /api/printer/command ") - c0, 1, "one M486 P1, nothing for the rest");
    assert_eq!(link.cancelled_objects().await, vec!["object 1".to_string()]);
    let e = link.cancel_object("object 0").await.unwrap_err().to_string();
    assert!(e.contains("last object still printing"), "{e}");
    link.cancel().await.expect("cancel the print");
    cancel.cancel();
    plain_cancel.cancel();
}
