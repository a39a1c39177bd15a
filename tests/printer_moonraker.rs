//! `printer::moonraker` against a real Moonraker 0.11.0 in front of the
//! Klipper stand-in (see `hosts_support::moonraker`): prints followed end to
//! end with layers from `print_stats.info` and from the file position,
//! commands confirmed by Klipper's objects, and the faults a link must
//! survive (Klippy gone mid-print, Moonraker restarted, emergency stop).
//! Each test has its own Moonraker and stand-in.

mod hosts_support;

use std::sync::Arc;
use std::time::Duration;

use layerwatch::config::Config;
use layerwatch::domain::PrinterState;
use layerwatch::printer::moonraker::MoonrakerLink;
use layerwatch::printer::{Confirmation, PrinterError, PrinterLink};
use tokio_util::sync::CancellationToken;

use hosts_support::moonraker::{Moonraker, Standin};
use hosts_support::proxy::CutProxy;
use hosts_support::{Recorder, assert_monotonic, fixture, wait_status};

const PRINT_TIMEOUT: Duration = Duration::from_secs(60);
const STATE_TIMEOUT: Duration = Duration::from_secs(20);

async fn link(m: &Moonraker) -> (Arc<MoonrakerLink>, CancellationToken) {
    let cfg = Config::from_toml_str(&m.config_toml()).expect("valid test config");
    hosts_support::init_logs();
    let cancel = CancellationToken::new();
    let link = MoonrakerLink::connect(&cfg.printer, cancel.clone())
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\n{}", m.logs()));
    (link, cancel)
}

fn analyzer_layers(file: &str) -> u32 {
    layerwatch::gcode::analyze(&std::fs::read(fixture(file)).expect("fixture")).layers.len() as u32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_a_print_with_layers_from_print_stats() {
    // Slow heaters (100 °C/s) so the heat-up is long enough to be seen.
    let m = Moonraker::start(Standin { heat_rate: 100.0, ..Standin::default() }).await;
    eprintln!("moonraker + stand-in ready in {:.1} s", m.startup.as_secs_f64());
    let (link, cancel) = link(&m).await;
    let mut rx = link.status();
    assert_eq!(rx.borrow().state, PrinterState::Idle);
    let rec = Recorder::start(link.status());

    m.upload_and_print(&fixture("gcode/cube_klipper.gcode"), "cube_klipper.gcode").await;
    let done = wait_status(&mut rx, PRINT_TIMEOUT, "the print to complete", |s| {
        matches!(s.state, PrinterState::Finished { .. })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let PrinterState::Finished { job } = &done.state else { unreachable!() };
    assert_eq!(job.file, "cube_klipper.gcode");
    assert_eq!(job.layer_count, Some(10), "TOTAL_LAYER from the file");
    assert_eq!(job.layer, Some(9), "CURRENT_LAYER=10 is our 0-based 9");
    assert_eq!(job.progress, Some(1.0));
    assert!(job.elapsed.is_some_and(|e| e > Duration::ZERO));
    let layers = rec.layers();
    assert_monotonic("layer", &layers);
    assert!(layers.iter().collect::<std::collections::BTreeSet<_>>().len() >= 5, "saw layers {layers:?}");
    let names = rec.state_names();
    assert_eq!(names.first(), Some(&"idle"), "{names:?}");
    assert!(names.contains(&"heating"), "heat-up before the first layer is Heating: {names:?}");
    let heat = names.iter().position(|n| *n == "heating").unwrap();
    let print = names.iter().position(|n| *n == "printing").expect("printing seen");
    assert!(heat < print, "heating comes first: {names:?}");
    assert_eq!(names.last(), Some(&"finished"), "{names:?}");
    // Layers come from the file's SET_PRINT_STATS_INFO, but the file is still analysed for the plan.
    let mut analysis = link.analysis();
    let a = tokio::time::timeout(STATE_TIMEOUT, analysis.wait_for(Option::is_some))
        .await
        .expect("the printing file's analysis within the timeout")
        .expect("link alive")
        .clone()
        .expect("some");
    assert_eq!(link.stats().files_analysed, 1, "{:?}", link.stats());
    assert_eq!((a.file.as_str(), a.size), ("cube_klipper.gcode", job.file_size));
    assert_eq!(a.analysis.layers.len() as u32, analyzer_layers("gcode/cube_klipper.gcode"));
    let h = done.temps.hotend.expect("hotend temperature");
    assert_eq!(h.target, 0.0, "end g-code turns the hotend off");
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_a_print_with_layers_mapped_from_the_file_position() {
    let m = Moonraker::start(Standin::default()).await;
    let (link, cancel) = link(&m).await;
    let mut rx = link.status();
    let rec = Recorder::start(link.status());
    let mut analysis = link.analysis();
    assert!(analysis.borrow().is_none(), "no analysis before a print");

    m.upload_and_print(&fixture("gcode/cube_marlin.gcode"), "sub dir/cube marlin.gcode").await;
    let a = tokio::time::timeout(PRINT_TIMEOUT, analysis.wait_for(Option::is_some))
        .await
        .expect("the analysis within the timeout")
        .expect("link alive")
        .clone()
        .expect("some");
    let printing = rx.borrow().state.job().cloned().expect("a job once the file is analysed");
    assert_eq!(a.file, "sub dir/cube marlin.gcode");
    assert!(a.matches(&printing), "the analysis is of the printing file: {a:?} vs {printing:?}");
    let done = wait_status(&mut rx, PRINT_TIMEOUT, "the print to complete", |s| {
        matches!(s.state, PrinterState::Finished { .. })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let expected = analyzer_layers("gcode/cube_marlin.gcode");
    let PrinterState::Finished { job } = &done.state else { unreachable!() };
    assert_eq!(job.file, "sub dir/cube marlin.gcode");
    assert_eq!(job.layer_count, Some(expected), "layers from the downloaded file");
    assert_eq!(job.layer, Some(expected - 1));
    let layers = rec.layers();
    assert_monotonic("layer", &layers);
    assert!(layers.iter().collect::<std::collections::BTreeSet<_>>().len() >= 3, "saw layers {layers:?}");
    let features: Vec<String> =
        rec.all().iter().filter_map(|s| s.state.job().and_then(|j| j.feature.clone())).collect();
    assert!(!features.is_empty(), "features mapped from the file");
    assert_eq!(link.stats().files_analysed, 1, "{:?}", link.stats());
    assert_eq!(a.analysis.layers.len() as u32, expected);

    // A print of another file drops the old analysis and brings the new one.
    m.upload_and_print(&fixture("gcode/cube_klipper.gcode"), "cube_klipper.gcode").await;
    let b = tokio::time::timeout(
        PRINT_TIMEOUT,
        analysis.wait_for(|a| a.as_ref().is_some_and(|a| a.file == "cube_klipper.gcode")),
    )
    .await
    .expect("the second file's analysis within the timeout")
    .expect("link alive")
    .clone()
    .expect("some");
    assert_eq!(b.analysis.layers.len() as u32, analyzer_layers("gcode/cube_klipper.gcode"));
    assert_eq!(link.stats().files_analysed, 2, "{:?}", link.stats());
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_park_resume_cancel_and_temperatures_are_confirmed() {
    let m = Moonraker::start(Standin { speed: 5.0, ..Standin::default() }).await;
    let (link, cancel) = link(&m).await;
    let mut rx = link.status();

    for (what, r) in [("pause", link.pause().await), ("resume", link.resume().await), ("park", link.park().await)] {
        assert!(
            matches!(r, Err(PrinterError::InvalidState { command, .. }) if command == what),
            "{what} while idle: {r:?}"
        );
    }
    assert_eq!(link.cancel().await.unwrap(), Confirmation::AlreadyThere);

    m.upload_and_print(&fixture("gcode/cube_klipper.gcode"), "pause.gcode").await;
    wait_status(&mut rx, PRINT_TIMEOUT, "layer 2", |s| {
        s.state.is_printing() && s.state.job().and_then(|j| j.layer) >= Some(1)
    })
    .await;

    assert_eq!(link.pause().await.expect("pause"), Confirmation::Confirmed);
    assert_eq!(link.pause().await.expect("pause again"), Confirmation::AlreadyThere);
    assert_eq!(m.standin_requests("pause_resume/pause"), 1, "pause while paused sent nothing");
    let paused = rx.borrow().clone();
    let z0 = paused.state.job().and_then(|j| j.z).expect("z while paused");
    assert_eq!(link.park().await.expect("park"), Confirmation::Confirmed);
    let z1 = rx.borrow().state.job().and_then(|j| j.z).unwrap();
    assert!((z1 - z0 - 10.0).abs() < 0.01, "lifted by park.lift_mm: {z0} → {z1}");
    let scripts = m.standin_requests("gcode/script");
    assert_eq!(link.park().await.expect("park again"), Confirmation::AlreadyThere);
    assert_eq!(m.standin_requests("gcode/script"), scripts, "park while parked sent nothing");

    assert_eq!(link.resume().await.expect("resume"), Confirmation::Confirmed);
    let z2 = wait_status(&mut rx, STATE_TIMEOUT, "z back down", |s| {
        s.state.job().and_then(|j| j.z).is_some_and(|z| z < z0 + 1.0)
    })
    .await;
    assert!(z2.state.is_printing(), "{z2:?}");
    assert_eq!(link.resume().await.expect("resume again"), Confirmation::AlreadyThere);
    assert_eq!(m.standin_requests("pause_resume/resume"), 1, "resume while printing sent nothing");

    assert_eq!(link.set_temperatures(Some(215.0), None).await.expect("hotend"), Confirmation::Confirmed);
    assert_eq!(rx.borrow().temps.hotend.map(|h| h.target), Some(215.0));
    assert_eq!(link.set_temperatures(Some(215.0), None).await.expect("same"), Confirmation::AlreadyThere);

    assert_eq!(link.cancel().await.expect("cancel"), Confirmation::Confirmed);
    assert!(matches!(rx.borrow().state, PrinterState::Cancelled { .. }), "{:?}", rx.borrow().state);
    assert_eq!(link.cancel().await.expect("cancel again"), Confirmation::AlreadyThere);
    assert_eq!(m.standin_requests("pause_resume/cancel"), 1, "cancel once, not twice");

    // Klipper's own refusal comes back in its words: no extrusion with a cold hotend.
    assert_eq!(link.cool_down(true).await.expect("cool down"), Confirmation::Confirmed);
    wait_status(&mut rx, STATE_TIMEOUT, "a cold hotend", |s| s.temps.hotend.is_some_and(|h| h.actual < 150.0)).await;
    let err = link.gcode("G1 E-5 F1000").await.expect_err("cold extrusion must be refused");
    assert!(err.to_string().contains("Extrude below minimum temp"), "{err}");
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn klippy_going_away_mid_print_is_an_error_with_context_then_recovers() {
    let mut m = Moonraker::start(Standin::default()).await;
    let (link, cancel) = link(&m).await;
    let mut rx = link.status();

    m.upload_and_print(&fixture("gcode/cube_klipper.gcode"), "lost.gcode").await;
    wait_status(&mut rx, PRINT_TIMEOUT, "layer 2", |s| {
        s.state.is_printing() && s.state.job().and_then(|j| j.layer) >= Some(1)
    })
    .await;
    m.kill_standin();

    let lost = wait_status(&mut rx, STATE_TIMEOUT, "an error naming the job", |s| {
        matches!(s.state, PrinterState::Error { .. })
    })
    .await;
    let PrinterState::Error { message } = &lost.state else { unreachable!() };
    assert!(message.starts_with("klippy disconnected during lost.gcode (layer "), "{message}");
    assert!(matches!(link.pause().await, Err(PrinterError::InvalidState { .. })), "no commands to a vanished printer");
    assert_eq!(link.stats().printer_disconnects, 1);

    m.start_standin().await;
    let back = wait_status(&mut rx, STATE_TIMEOUT, "klippy back and idle", |s| s.state == PrinterState::Idle).await;
    assert!(back.temps.hotend.is_some());
    assert_eq!(link.stats().socket_drops, 0, "moonraker itself stayed up");
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moonraker_restart_reconnects_the_websocket_and_the_print_goes_on() {
    let mut m = Moonraker::start(Standin { speed: 5.0, ..Standin::default() }).await;
    let (link, cancel) = link(&m).await;
    let mut rx = link.status();

    m.upload_and_print(&fixture("gcode/cube_klipper.gcode"), "restart.gcode").await;
    let before = wait_status(&mut rx, PRINT_TIMEOUT, "layer 2", |s| {
        s.state.is_printing() && s.state.job().and_then(|j| j.layer) >= Some(1)
    })
    .await;
    let layer0 = before.state.job().and_then(|j| j.layer);

    m.kill_moonraker();
    wait_status(&mut rx, STATE_TIMEOUT, "disconnected", |s| s.state == PrinterState::Disconnected).await;
    assert!(matches!(link.pause().await, Err(PrinterError::NotConnected)));
    m.start_moonraker();
    let after = wait_status(&mut rx, Duration::from_secs(60), "printing again", |s| s.state.is_printing()).await;
    assert!(after.state.job().and_then(|j| j.layer) >= layer0, "the print went on: {after:?}");
    let stats = link.stats();
    assert_eq!(stats.socket_drops, 1, "{stats:?}");
    assert!(stats.socket_connects >= 2 && stats.connect_failures >= 1, "{stats:?}");
    link.cancel().await.expect("cancel after reconnect");
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_stop_is_an_error_until_the_firmware_restarts() {
    let m = Moonraker::start(Standin::default()).await;
    let (link, cancel) = link(&m).await;
    let mut rx = link.status();

    link.gcode("M112").await.expect("M112 accepted");
    let down = wait_status(&mut rx, STATE_TIMEOUT, "shutdown", |s| matches!(s.state, PrinterState::Error { .. })).await;
    assert_eq!(down.state, PrinterState::Error { message: "klipper: Shutdown due to M112 command".into() });
    let refused = link.set_temperatures(Some(200.0), None).await;
    assert!(
        matches!(refused, Err(PrinterError::InvalidState { command: "set_temperatures", state: "error" })),
        "{refused:?}"
    );

    // FIRMWARE_RESTART drops Moonraker's klippy connection; the answer may never come.
    let _ = link.gcode("FIRMWARE_RESTART").await;
    wait_status(&mut rx, STATE_TIMEOUT, "idle after the restart", |s| s.state == PrinterState::Idle).await;
    assert!(link.stats().printer_disconnects >= 1);
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_moonraker_is_a_clear_error() {
    let url = format!("http://127.0.0.1:{}", hosts_support::free_port());
    let cfg =
        Config::from_toml_str(&format!("[printer]\nkind = \"moonraker\"\n[printer.moonraker]\nurl = \"{url}\"\n"))
            .unwrap();
    let err = match MoonrakerLink::connect(&cfg.printer, CancellationToken::new()).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("connected to a closed port"),
    };
    assert!(err.starts_with(&format!("printer link: cannot reach moonraker at {url}/")), "{err}");
    assert!(err.to_lowercase().contains("refused"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_is_sent_when_moonraker_requires_one() {
    let mut m = Moonraker::start(Standin::default()).await;
    let key = m.require_api_key().await;
    hosts_support::init_logs();
    let connect = |toml: String| async move {
        let cfg = Config::from_toml_str(&toml).expect("config");
        MoonrakerLink::connect(&cfg.printer, CancellationToken::new()).await
    };
    let wrong = "0123456789abcdef0123456789abcdef";
    let cases = [
        ("no key", None, "requires an api key (set printer.moonraker.api_key or MOONRAKER_API_KEY)", "Unauthorized"),
        ("a wrong key", Some(wrong), "refused the api key", "Invalid API Key"),
    ];
    for (what, k, ours, theirs) in cases {
        let err = match connect(m.config_toml_with_key(k)).await {
            Err(e) => e.to_string(),
            Ok(_) => panic!("connected with {what}"),
        };
        assert!(err.starts_with("connect rejected: moonraker at "), "{what}: {err}");
        assert!(err.contains(ours) && err.contains(theirs), "{what}: {err}");
        assert!(!err.contains(wrong), "the key must not appear in errors: {err}");
    }
    let link = connect(m.config_toml_with_key(Some(&key))).await.unwrap_or_else(|e| panic!("{e}\n{}", m.logs()));
    let mut rx = link.status();
    wait_status(&mut rx, STATE_TIMEOUT, "idle", |s| s.state == PrinterState::Idle).await;
    assert_eq!(link.set_temperatures(None, Some(50.0)).await.expect("authorised command"), Confirmation::Confirmed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_started_before_moonraker_follows_it_once_it_is_up() {
    let mut m = Moonraker::start(Standin::default()).await;
    m.kill_moonraker();
    hosts_support::init_logs();
    let cfg = Config::from_toml_str(&m.config_toml()).expect("config");
    let cancel = CancellationToken::new();
    let link = MoonrakerLink::start(&cfg.printer, cancel.clone()).expect("start needs no server");
    let mut rx = link.status();
    hosts_support::eventually(STATE_TIMEOUT, "failed connection attempts", async || {
        (link.stats().connect_failures >= 2).then_some(())
    })
    .await;
    assert_eq!(rx.borrow().state, PrinterState::Disconnected);
    m.start_moonraker();
    wait_status(&mut rx, Duration::from_secs(60), "idle once moonraker is up", |s| s.state == PrinterState::Idle).await;
    cancel.cancel();
}

/// Runs `layerwatch printer --moonraker URL <command>`; whether it succeeded, and what it printed.
async fn cli(url: &str, command: &'static str) -> (bool, String) {
    let url = url.to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_layerwatch"))
            .args(["printer", "--moonraker", &url, command])
            .output()
            .expect("run layerwatch")
    })
    .await
    .expect("cli");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Issue 13 item 7: every one-shot `layerwatch printer pause|resume|cancel` downloaded and analysed the whole
/// printing file first. Through a counting proxy: the real binary pauses and resumes a real print, and fetches no file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_cli_commands_pause_and_resume_without_downloading_the_file() {
    let m = Moonraker::start(Standin { speed: 2.0, ..Standin::default() }).await;
    let proxy = CutProxy::start(format!("127.0.0.1:{}", m.port).parse().expect("addr")).await;
    let (link, cancel) = link(&m).await;
    let mut rx = link.status();
    m.upload_and_print(&fixture("gcode/cube_klipper.gcode"), "oneshot.gcode").await;
    wait_status(&mut rx, PRINT_TIMEOUT, "printing", |s| s.state.is_printing()).await;

    let (ok, text) = cli(&proxy.url, "pause").await;
    assert!(ok && text.contains("pause: confirmed"), "{text}\n{}", m.logs());
    assert!(!text.contains("connected again"), "the first connection is not a reconnection: {text}");
    wait_status(&mut rx, STATE_TIMEOUT, "paused", |s| matches!(s.state, PrinterState::Paused { .. })).await;
    assert_eq!(proxy.requests("GET /server/files/"), 0, "a one-shot pause downloads nothing");

    let (ok, text) = cli(&proxy.url, "resume").await;
    assert!(ok && text.contains("resume: confirmed"), "{text}");
    assert_eq!(proxy.requests("GET /server/files/"), 0, "a one-shot resume downloads nothing");
    // The control: `printer status` still reads the file (for the layer it shows), and the proxy sees that download.
    let (ok, text) = cli(&proxy.url, "status").await;
    assert!(ok && text.starts_with("printing oneshot.gcode"), "{text}");
    assert!(proxy.requests("GET /server/files/gcodes/oneshot.gcode") >= 1, "the proxy counts downloads");
    let _ = link.cancel().await;
    cancel.cancel();
}

/// Issue 12: per-object cancel through Moonraker. `EXCLUDE_OBJECT NAME=…` goes through the
/// G-code script API and is confirmed by Klipper's `exclude_object.excluded_objects` (the
/// stand-in implements Klipper's module); the excluded object prints no more while the
/// other finishes. Klipper itself excludes any name, so an unknown one is refused by the
/// link against Klipper's `objects`, with the names there are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancels_one_object_with_exclude_object() {
    let m = Moonraker::start(Standin { speed: 0.3, ..Standin::default() }).await;
    let (link, cancel) = link(&m).await;
    let mut rx = link.status();
    let e = link.cancel_object("left_cube").await.unwrap_err();
    assert!(matches!(e, PrinterError::InvalidState { command: "cancel_object", .. }), "nothing prints yet: {e}");

    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gcode/edge/klipper_objects.gcode");
    m.upload_and_print(&file, "two_cubes.gcode").await;
    wait_status(&mut rx, STATE_TIMEOUT, "printing", |s| matches!(s.state, PrinterState::Printing { .. })).await;

    let scripts_before = m.standin_requests("gcode/script");
    let e = link.cancel_object("middle_cube").await.unwrap_err().to_string();
    assert!(
        e.contains("no object named \"middle_cube\"") && e.contains("LEFT_CUBE") && e.contains("RIGHT_CUBE"),
        "{e}\n{}",
        m.logs()
    );
    // The command line: list the objects, then cancel one (confirmed by Klipper's status).
    let cli = |args: Vec<String>| async move {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_layerwatch")).args(&args).output().expect("run layerwatch")
        })
        .await
        .expect("join")
    };
    let base = vec!["printer".to_string(), "--moonraker".into(), m.url.clone()];
    let out = cli([base.clone(), vec!["cancel-object".into(), "right_cube".into()]].concat()).await;
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stdout.contains("cancel-object: confirmed"), "{stdout}\n{stderr}\n{}", m.logs());
    let out = cli([base.clone(), vec!["objects".into()]].concat()).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("cancelled  RIGHT_CUBE") || stdout.contains("cancelled  right_cube"), "{stdout}");
    let out = cli([base, vec!["cancel-object".into(), "nope".into()]].concat()).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no object named \"nope\""), "{out:?}");
    assert_eq!(link.cancelled_objects().await, vec!["RIGHT_CUBE".to_string()]);
    assert_eq!(link.cancel_object("Right_Cube").await.expect("again"), Confirmation::AlreadyThere);
    let e = link.cancel_object("left_cube").await.unwrap_err().to_string();
    assert!(e.contains("last object still printing"), "{e}");
    assert_eq!(
        m.standin_requests("gcode/script") - scripts_before,
        1,
        "one EXCLUDE_OBJECT sent, nothing for the refusals"
    );

    let done = wait_status(&mut rx, 2 * PRINT_TIMEOUT, "the print to complete", |s| {
        matches!(s.state, PrinterState::Finished { .. })
    })
    .await;
    assert!(matches!(done.state, PrinterState::Finished { .. }));
    let q: serde_json::Value = hosts_support::http_client()
        .get(format!("{}/printer/objects/query?print_stats&exclude_object", m.url))
        .send()
        .await
        .expect("query")
        .json()
        .await
        .expect("json");
    let st = &q["result"]["status"];
    assert_eq!(st["exclude_object"]["excluded_objects"], serde_json::json!(["RIGHT_CUBE"]), "{q}");
    assert_eq!(st["exclude_object"]["objects"].as_array().map(Vec::len), Some(2), "{q}");
    // Each cube deposits 8.1 mm over three layers: the right one stopped at most one block in.
    let used = st["print_stats"]["filament_used"].as_f64().expect("filament_used");
    assert!((8.0..=10.9).contains(&used), "filament used {used} mm: only the left cube printed\n{}", m.logs());
    let objects = layerwatch::printer::objects::list(link.as_ref()).await;
    assert_eq!(objects.objects.len(), 2, "{objects:?}");
    cancel.cancel();
}
