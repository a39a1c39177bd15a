//! `layerwatch doctor` as a user runs it (the release binary): against the
//! Marlin simulator on a pty, a folder camera, and a real webhook receiver on
//! 127.0.0.1 (`--send` delivers a test message); a set-up with a missing
//! model, an unreachable printer and a dark camera fails with a fix for each.

use std::path::Path;
use std::process::Command;

use layerwatch::sim::marlin::{MarlinSim, SimConfig};
use layerwatch::sim::receivers::WebhookReceiver;
use tokio_util::sync::CancellationToken;

async fn doctor(config: &Path, extra: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_layerwatch"));
    cmd.arg("-c").arg(config).arg("doctor").args(["--timeout-s", "8"]).args(extra);
    cmd.env("RUST_LOG", "warn").env_remove("LAYERWATCH_CONFIG");
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run layerwatch")).await.unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn frames(dir: &Path, grey: u8) -> std::path::PathBuf {
    use opencv::core::{Mat, Scalar, Vector};
    use opencv::prelude::*;
    let d = dir.join(format!("frames-{grey}"));
    std::fs::create_dir_all(&d).unwrap();
    if grey > 50 {
        // Real frames of the demo print.
        for n in 0..2 {
            let name = format!("{n:06}.jpg");
            std::fs::copy(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/demo/frames").join(&name),
                d.join(&name),
            )
            .unwrap();
        }
    } else {
        let m = Mat::new_rows_cols_with_default(360, 640, opencv::core::CV_8UC3, Scalar::all(f64::from(grey))).unwrap();
        let mut buf = Vector::<u8>::new();
        opencv::imgcodecs::imencode(".jpg", &m, &mut buf, &Vector::new()).unwrap();
        std::fs::write(d.join("000000.jpg"), buf.to_vec()).unwrap();
    }
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_working_set_up_is_ready_and_the_test_message_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let (_sim, port) = MarlinSim::spawn(
        SimConfig { link: Some(dir.path().join("ttySIM")), ..SimConfig::default() },
        cancel.child_token(),
    )
    .await
    .expect("simulator");
    let receiver = WebhookReceiver::start(Some(b"whsec_doctor-0123456789")).await.unwrap();
    let config = dir.path().join("layerwatch.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[general]
name = "Doctor MK4"
data_dir = "{data}"

[camera]
name = "bench"
source = "folder"
path = "{frames}"

[printer]
kind = "marlin"

[printer.serial]
path = "{port}"
mode = "monitor"

[timelapse]
enabled = true

[printer.light]
method = "gcode"
on_gcode = ["M118 light on"]
off_gcode = ["M118 light off"]

[alerts.webhook]
url = "{hook}"
secret = "whsec_doctor-0123456789"
"#,
            data = dir.path().join("data").display(),
            frames = frames(dir.path(), 200).display(),
            port = port.display(),
            hook = receiver.url(),
        ),
    )
    .unwrap();
    let (ready, text) = doctor(&config, &[]).await;
    assert!(ready, "{text}");
    for needle in [
        "ok    config",
        "ok    model         loaded with ONNX Runtime",
        "ok    camera        \"bench\": a 448x336 frame",
        "ok    printer       marlin",
        "idle",
        "webhook: configured (add --send",
        "ok    light         gcode (M118 light on), Printing (add --send",
        "MP4s (2 frames,",
        "ok    mqtt",
        "GiB free for",
        "ready",
    ] {
        assert!(text.contains(needle), "doctor's report lacks {needle:?}:\n{text}");
    }
    assert!(receiver.deliveries().is_empty(), "nothing is sent without --send");

    let (ready, text) = doctor(&config, &["--send"]).await;
    assert!(ready, "{text}");
    assert!(text.contains("ok    alerts        webhook: test message delivered (HTTP 200"), "{text}");
    assert!(text.contains("ok    light         gcode (M118 light on): switched on and off, both confirmed"), "{text}");
    let sent = receiver.deliveries();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].signature_ok);
    assert_eq!(sent[0].json.as_ref().unwrap()["kind"], "test");
    assert!(!text.contains("whsec_doctor"), "the secret was printed:\n{text}");
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_set_up_is_not_ready_and_each_problem_says_how_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("layerwatch.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[general]
data_dir = "{data}"

[camera]
name = "shelf"
source = "folder"
path = "{frames}"

[vision]
model = "{model}"

[printer]
kind = "octoprint"

[printer.octoprint]
url = "http://127.0.0.1:9"
api_key = "0123456789ABCDEF0123456789ABCDEF"
"#,
            data = dir.path().join("data").display(),
            frames = frames(dir.path(), 5).display(),
            model = dir.path().join("missing.json").display(),
        ),
    )
    .unwrap();
    let (ready, text) = doctor(&config, &[]).await;
    assert!(!ready, "{text}");
    for needle in [
        "FAIL  config        vision.model = ",
        "missing.json",
        "FAIL  model",
        "FAIL  printer       octoprint http://127.0.0.1:9",
        "warn  alerts        no channel configured",
        "fix: ",
        "not ready: ",
    ] {
        assert!(text.contains(needle), "doctor's report lacks {needle:?}:\n{text}");
    }
    assert!(!text.contains("0123456789ABCDEF0123456789ABCDEF"), "the API key was printed:\n{text}");

    // The model fixed: the dark camera is a warning that says why, not a failure.
    let fixed = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&format!("model = \"{}\"\n", dir.path().join("missing.json").display()), "");
    std::fs::write(&config, fixed).unwrap();
    let (_, text) = doctor(&config, &[]).await;
    assert!(text.contains("warn  camera        \"shelf\": a 640x360 frame"), "{text}");
    assert!(text.contains("too dark to judge"), "{text}");
}

#[test]
fn version_names_the_build_the_model_and_onnx_runtime() {
    let out = Command::new(env!("CARGO_BIN_EXE_layerwatch")).arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or_default();
    assert!(first.starts_with(&format!("layerwatch {} (commit ", env!("CARGO_PKG_VERSION"))), "{text}");
    assert!(first.contains("rustc 1.") && first.contains("release build"), "{text}");
    assert!(text.contains("\nmodel: ") && text.contains("(built in, sha256 "), "{text}");
    assert!(text.contains("\nONNX Runtime: API 31 or newer") && text.contains("; library: "), "{text}");
    // `-V` stays one line.
    let short = Command::new(env!("CARGO_BIN_EXE_layerwatch")).arg("-V").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&short.stdout).trim(), format!("layerwatch {}", env!("CARGO_PKG_VERSION")));
}

/// A camera file for a `width`×`height` camera looking down at a 60×60 mm area of the bed.
fn camera_file(dir: &Path, name: &str, width: u32, height: u32) -> std::path::PathBuf {
    use layerwatch::geometry::{BedArea, Camera, CameraFile};
    let cam = Camera::look_at(width, height, [125.0, -5.0, 60.0], [125.0, 105.0, 0.0], 60.0);
    let bed = BedArea { size_mm: [60.0, 60.0], origin_mm: [95.0, 75.0] };
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, CameraFile::new(&cam, bed, None).to_toml_string().unwrap()).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calibrated_camera_says_whether_the_print_area_is_in_view_lit_and_the_right_size() {
    let dir = tempfile::tempdir().unwrap();
    let write = |frames: &Path, geometry: &Path| {
        let config = dir.path().join("layerwatch.toml");
        std::fs::write(
            &config,
            format!(
                "[general]\ndata_dir = \"{}\"\n\n[camera]\nname = \"shelf\"\nsource = \"folder\"\npath = \"{}\"\ngeometry = \"{}\"\n",
                dir.path().join("data").display(),
                frames.display(),
                geometry.display()
            ),
        )
        .unwrap();
        config
    };
    // The demo's real frames (448x336) with a camera file of that size: the area is in view.
    let demo = frames(dir.path(), 200);
    let (_, text) = doctor(&write(&demo, &camera_file(dir.path(), "demo", 448, 336)), &[]).await;
    let line = text.lines().find(|l| l.contains("print area")).unwrap_or_else(|| panic!("no print-area line:\n{text}"));
    assert!(line.starts_with("ok    print area") && line.contains("% of the frame"), "{text}");
    // The same frames against a file calibrated at another size: a failure that says both sizes.
    let (ready, text) = doctor(&write(&demo, &camera_file(dir.path(), "small", 320, 240)), &[]).await;
    assert!(!ready, "{text}");
    assert!(text.contains("FAIL  print area") && text.contains("calibrated for 320x240"), "{text}");
    assert!(text.contains("448x336"), "the frame's own size is named:\n{text}");
    // A dark camera of the calibrated size: the print area is too dark to judge.
    let dark = frames(dir.path(), 5);
    let (_, text) = doctor(&write(&dark, &camera_file(dir.path(), "dark", 640, 360)), &[]).await;
    let line = text.lines().find(|l| l.contains("print area")).unwrap_or_else(|| panic!("no print-area line:\n{text}"));
    assert!(line.starts_with("warn  print area") && line.contains("too dark to judge"), "{text}");
}
