//! `layerwatch printer …` as a user runs it, against the Marlin simulator on a pty.

mod printer_support;

use std::process::Command;
use std::time::Duration;

use layerwatch::sim::marlin::{MarlinSim, SimConfig};
use printer_support::gcode::{self, Spec};
use tokio_util::sync::CancellationToken;

fn layerwatch(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_layerwatch"))
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("LAYERWATCH_CONFIG")
        .output()
        .expect("run layerwatch")
}

async fn run(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || layerwatch(&args.iter().map(String::as_str).collect::<Vec<_>>()))
        .await
        .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn print_status_and_commands_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let cfg = SimConfig {
        link: Some(dir.path().join("ttySIM")),
        ..SimConfig::default()
    };
    let (sim, path) = MarlinSim::spawn(cfg, cancel.child_token()).await.expect("simulator");
    let port = path.display().to_string();
    let text = gcode::generate(&Spec {
        layers: 6,
        moves_per_layer: 10,
        ..Spec::default()
    });
    let file = dir.path().join("cube.gcode");
    std::fs::write(&file, &text).unwrap();

    let out = run(vec![
        "printer".into(),
        "--serial".into(),
        port.clone(),
        "status".into(),
        "--json".into(),
    ])
    .await;
    assert!(out.status.success(), "{out:?}");
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON status");
    assert_eq!(status["state"]["state"], "idle", "{status}");

    let out = run(vec![
        "printer".into(),
        "--serial".into(),
        port.clone(),
        "print".into(),
        file.display().to_string(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}: {stdout} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("finished cube.gcode 100.0%"), "{stdout}");
    let ran: Vec<String> = sim
        .executed()
        .into_iter()
        .filter(|c| {
            !matches!(
                c.split_whitespace().next(),
                Some("M115" | "M155" | "M105" | "M400" | "M110" | "M27" | "M114")
            )
        })
        .collect();
    gcode::assert_same_commands(&ran, &gcode::expected_commands(&text));

    // Monitor mode from the shell: an SD print started at the printer, paused from here.
    sim.put_sd_file(
        "long.gco",
        gcode::generate(&Spec {
            layers: 400,
            moves_per_layer: 20,
            feedrate: 1_500,
            ..Spec::default()
        })
        .into_bytes(),
    );
    sim.start_sd_print("long.gco");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let monitor = |cmd: &str| {
        vec![
            "printer".into(),
            "--serial".into(),
            port.clone(),
            "--mode".into(),
            "monitor".into(),
            cmd.to_string(),
        ]
    };
    let out = run(monitor("pause")).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "pause: confirmed (paused)");
    let out = run(monitor("pause")).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "pause: nothing to do, printer already paused"
    );
    let out = run(monitor("cancel")).await;
    assert!(out.status.success(), "{out:?}");
    assert!(!sim.state().sd_printing);

    // A print that cannot complete exits non-zero; usage errors exit 2.
    let out = run(vec![
        "printer".into(),
        "--serial".into(),
        port.clone(),
        "print".into(),
        "/nonexistent.gcode".into(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = run(vec![
        "printer".into(),
        "--serial".into(),
        "/dev/nonexistent-tty".into(),
        "--connect-timeout".into(),
        "1".into(),
        "status".into(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no answer from the printer"),
        "{out:?}"
    );
    cancel.cancel();
}
