//! `layerwatch demo` as a user runs it (the real binary, as a child process,
//! from a folder with nothing in it): it exits 0, and its timeline shows the
//! failure appearing, then the printer paused, then a signed alert received.
//! Prints the demo's wall time and its summary line.

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn the_demo_pauses_after_the_onset_and_delivers_the_alert() {
    let cwd = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_layerwatch"))
        .arg("demo")
        .current_dir(cwd.path())
        .env_remove("RUST_LOG")
        .env_remove("LAYERWATCH_CONFIG")
        .output()
        .expect("run layerwatch demo");
    let wall = t.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed ({:?}):\n{stdout}\n--- stderr ---\n{stderr}", out.status);
    assert!(wall < Duration::from_secs(90), "the demo took {wall:?}");

    let lines: Vec<&str> = stdout.lines().collect();
    let find = |needle: &str| lines.iter().position(|l| l.contains(needle));
    let onset = find(">>> the failure appears on the camera").unwrap_or_else(|| panic!("no onset:\n{stdout}"));
    let paused = find("printer: paused").unwrap_or_else(|| panic!("no pause:\n{stdout}"));
    assert!(onset < paused, "the pause comes after the onset:\n{stdout}");
    // Frames before the onset were judged ok (no false alarm).
    assert!(
        lines[..onset].iter().all(|l| !l.contains("FAILURE")),
        "a failure verdict before the failure appeared:\n{stdout}"
    );
    assert!(lines[onset..paused].iter().any(|l| l.contains("FAILURE")), "a failure verdict led to the pause");
    assert!(lines.iter().any(|l| l.contains("action: pause confirmed")), "the pause was confirmed:\n{stdout}");
    let received = lines[paused..].iter().any(|l| {
        l.contains("received: webhook: incident failure") && l.contains("signature ok") && l.contains("HTTP 200")
    });
    assert!(received, "the signed webhook was received after the pause:\n{stdout}");
    let summary = lines.iter().find(|l| l.starts_with("summary:")).expect("a summary line");
    assert!(summary.contains("-> paused at") && !summary.contains("NOT"), "{summary}");
    assert!(stdout.contains("alert delivered"), "{stdout}");
    println!("e2e demo: wall time {:.1} s; {summary}", wall.as_secs_f64());
}
