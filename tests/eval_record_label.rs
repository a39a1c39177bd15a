//! `layerwatch record` and `layerwatch label` as a user runs them: recording a
//! folder camera together with the Marlin simulator on a pseudo-terminal
//! (monitor mode, an SD print running), stopping on SIGTERM with a valid
//! manifest, retention limits, and labelling the result afterwards; the
//! recording must load as a sequence (format b) that `eval` accepts.

mod eval_support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use eval_support::{bin, gcode, samples};
use layerwatch::domain::PrinterState;
use layerwatch::eval::dataset::manifest::Manifest;
use layerwatch::eval::dataset::sequence::Sequence;
use layerwatch::sim::marlin::{MarlinSim, SimConfig};
use tokio_util::sync::CancellationToken;

fn config(dir: &Path, printer: Option<&Path>) -> std::path::PathBuf {
    let mut t = format!(
        "[camera]\nsource = \"folder\"\npath = \"{}\"\npace = true\nfps = 10\nloop_replay = true\n",
        samples().join("images/autozmj2n").display()
    );
    if let Some(p) = printer {
        t.push_str(&format!(
            "\n[printer]\nkind = \"marlin\"\n\n[printer.serial]\npath = \"{}\"\nmode = \"monitor\"\npoll_ms = 200\n",
            p.display()
        ));
    }
    let p = dir.join("layerwatch.toml");
    std::fs::write(&p, t).unwrap();
    p
}

fn layerwatch(args: &[&str]) -> Output {
    bin().args(args).env("RUST_LOG", "warn").env_remove("LAYERWATCH_CONFIG").output().expect("run layerwatch")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n{}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_camera_and_printer_until_sigterm_then_labelling() {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let sim_cfg = SimConfig { link: Some(dir.path().join("ttySIM")), ..SimConfig::default() };
    let (sim, port) = MarlinSim::spawn(sim_cfg, cancel.child_token()).await.expect("simulator");
    let spec = gcode::Spec { layers: 400, moves_per_layer: 20, feedrate: 1_500, ..gcode::Spec::default() };
    sim.put_sd_file("long.gco", gcode::generate(&spec).into_bytes());
    sim.start_sd_print("long.gco");
    let cfg = config(dir.path(), Some(&port));
    let seq = dir.path().join("rec");

    let child = bin()
        .args(["-c", &cfg.display().to_string(), "record", "--interval", "200ms", "--max-frames", "8", "--out"])
        .arg(&seq)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start layerwatch record");
    let pid = child.id() as libc::pid_t;
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    // SAFETY: `pid` is the child started above and not yet reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    cancel.cancel();
    assert!(out.status.success(), "{}", text(&out));

    let m = Manifest::read(&seq).expect("a valid manifest after SIGTERM");
    let rec = m.recording.as_ref().expect("[recording]");
    assert_eq!(rec.stop_reason, "signal");
    assert!(!rec.stopped.is_empty());
    assert!(!m.synthetic);
    assert!(rec.frames_written > 8, "{rec:?}");
    assert_eq!(rec.frames_written - rec.frames_dropped, 8, "retention keeps the newest 8: {rec:?}");
    assert!(rec.printer_updates > 0, "{rec:?}");
    let s = Sequence::load(&seq).expect("the recording is a loadable sequence");
    assert!(s.skipped.is_empty(), "{:?}", s.skipped);
    assert_eq!(s.frames.len(), 8);
    assert_eq!(std::fs::read_dir(seq.join("frames")).unwrap().count(), 9, "8 frames and frames.csv on disk");
    assert!(s.frames.windows(2).all(|w| w[0].timestamp_ms < w[1].timestamp_ms));
    let printer = s.printer.as_ref().expect("printer.jsonl");
    assert!(
        printer.iter().any(|p| matches!(p.state, PrinterState::Printing { .. })),
        "the SD print was recorded: {:?}",
        printer.iter().map(|p| p.state.name()).collect::<Vec<_>>()
    );

    // Labels afterwards: onset by frame number, kind, note; --show prints them.
    let seq_s = seq.display().to_string();
    let o = layerwatch(&["label", &seq_s, "--onset", "frame:3", "--kind", "spaghetti", "--note", "came loose"]);
    assert!(o.status.success(), "{}", text(&o));
    let m = Manifest::read(&seq).unwrap();
    assert!(m.label.failure);
    assert_eq!(m.label.kind.as_deref(), Some("spaghetti"));
    assert_eq!(m.label.notes, "came loose");
    let t0 = m.start_ms.unwrap_or(s.frames[0].timestamp_ms);
    assert_eq!(m.label.onset_ms, Some(s.frames[3].timestamp_ms - t0), "frame:3 is the fourth listed frame");
    let o = layerwatch(&["label", &seq_s, "--show"]);
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && shown.contains("spaghetti") && shown.contains("came loose"), "{}", text(&o));
    // Bad labels are refused by value and change nothing.
    let before = std::fs::read(seq.join("manifest.toml")).unwrap();
    let o = layerwatch(&["label", &seq_s, "--onset", "frame:99"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("frame:99"), "{}", text(&o));
    let o = layerwatch(&["label", &seq_s, "--onset", "soon"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(std::fs::read(seq.join("manifest.toml")).unwrap(), before, "a refused label leaves the file alone");
    // Normal again.
    let o = layerwatch(&["label", &seq_s, "--normal"]);
    assert!(o.status.success(), "{}", text(&o));
    let m = Manifest::read(&seq).unwrap();
    assert!(!m.label.failure && m.label.onset_ms.is_none() && m.label.kind.is_none());
}

#[test]
fn camera_only_recording_stops_at_its_duration_with_a_byte_budget() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), None);
    let seq = dir.path().join("cam");
    let o = layerwatch(&[
        "-c",
        &cfg.display().to_string(),
        "record",
        "--interval",
        "100ms",
        "--duration",
        "2s",
        "--max-bytes",
        "60K",
        "--out",
        &seq.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let m = Manifest::read(&seq).unwrap();
    let rec = m.recording.as_ref().unwrap();
    assert_eq!(rec.stop_reason, "max_duration");
    assert_eq!(m.printer, "none recorded");
    assert!(rec.frames_dropped > 0, "the byte budget should have dropped frames: {rec:?}");
    let bytes: u64 = std::fs::read_dir(seq.join("frames"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().extension().is_some_and(|x| x == "jpg"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(bytes <= 60 * 1024, "frames on disk {bytes} exceed the 60 KiB budget");
    let s = Sequence::load(&seq).expect("loads");
    assert!(!s.frames.is_empty() && s.skipped.is_empty(), "{:?}", s.skipped);
    assert!(s.printer.as_ref().is_none_or(|p| p.is_empty()));
}

#[test]
fn recording_refuses_an_existing_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), None);
    let seq = dir.path().join("cam");
    std::fs::create_dir_all(&seq).unwrap();
    std::fs::write(seq.join("manifest.toml"), "format = 1\nname = \"x\"\nfps = 1.0\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_layerwatch"))
        .args(["-c", &cfg.display().to_string(), "record", "--duration", "1s", "--out", &seq.display().to_string()])
        .output()
        .unwrap();
    assert!(!o.status.success(), "overwrote a recorded sequence: {}", text(&o));
    assert_eq!(std::fs::read_to_string(seq.join("manifest.toml")).unwrap(), "format = 1\nname = \"x\"\nfps = 1.0\n");
}
