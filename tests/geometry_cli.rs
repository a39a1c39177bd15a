//! Issue 12 end to end through the real binary: `calibrate solve` on points
//! seen by a known camera (and refusing poor ones), then `dataset render` of
//! the demo's G-code through that camera over a background made here, with
//! each injectable failure, a normal print and a lamp switch, and `eval` on
//! the renders reporting the geometry findings (the classifier runs too, on
//! ONNX Runtime from `scripts/setup.sh`).

mod eval_support;

use std::path::{Path, PathBuf};

use eval_support::{bin, repo, require_ort};
use layerwatch::geometry::{BedArea, Camera, CameraFile, PointRow, PointsFile};

fn camera() -> Camera {
    Camera::look_at(320, 240, [125.0, -5.0, 38.0], [125.0, 105.0, 5.0], 50.0)
}

fn write_camera(dir: &Path) -> PathBuf {
    let bed = BedArea { size_mm: [60.0, 60.0], origin_mm: [95.0, 75.0] };
    let p = dir.join("cam.toml");
    std::fs::write(&p, CameraFile::new(&camera(), bed, None).to_toml_string().unwrap()).unwrap();
    p
}

/// A textured 320×240 picture (PPM): a bright wall above a darker bed, with stripes.
fn write_background(dir: &Path) -> PathBuf {
    let (w, h) = (320usize, 240usize);
    let mut data = format!("P6\n{w} {h}\n255\n").into_bytes();
    for y in 0..h {
        for x in 0..w {
            let base = if y < 150 { 190 } else { 90 };
            let stripe = if (x / 12 + y / 40) % 2 == 0 { 12 } else { 0 };
            let v = (base + stripe) as u8;
            data.extend([v, v.saturating_add(5), v.saturating_sub(10)]);
        }
    }
    let p = dir.join("bg.ppm");
    std::fs::write(&p, data).unwrap();
    p
}

fn run(cmd: &mut std::process::Command) -> (i32, String, String) {
    let out = cmd.output().expect("run layerwatch");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn calibrate_solve_recovers_the_camera_and_refuses_a_poor_fit() {
    let dir = tempfile::tempdir().unwrap();
    let cam = camera();
    let mut bed_points = vec![[95.0, 75.0, 0.0], [155.0, 75.0, 0.0], [155.0, 135.0, 0.0], [95.0, 135.0, 0.0]];
    for z in [10.0, 30.0] {
        bed_points.extend([[110.0, 95.0, z], [140.0, 115.0, z]]);
    }
    let mut s = 7u64;
    let mut jitter = || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
        ((s >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 0.6
    };
    let rows: Vec<PointRow> = bed_points
        .iter()
        .map(|&b| {
            let q = cam.project(b).unwrap();
            PointRow { bed_mm: b, px: [q[0] + jitter(), q[1] + jitter()], note: String::new() }
        })
        .collect();
    let good = dir.path().join("points.toml");
    std::fs::write(&good, PointsFile { point: rows.clone() }.to_toml_string().unwrap()).unwrap();
    let out = dir.path().join("cameras/test.toml");
    let (code, stdout, stderr) = run(bin()
        .args(["calibrate", "solve", "--points"])
        .arg(&good)
        .args(["--frame-size", "320x240", "--out"])
        .arg(&out));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("fit: 8/8 points, RMS 0.") && stdout.contains("mm on the bed"), "{stdout}");
    let file = CameraFile::parse(&std::fs::read_to_string(&out).unwrap(), "test.toml").unwrap();
    let solved = file.camera();
    for p in [[125.0, 105.0, 0.0], [100.0, 130.0, 20.0]] {
        let (a, b) = (solved.project(p).unwrap(), cam.project(p).unwrap());
        assert!((a[0] - b[0]).hypot(a[1] - b[1]) < 1.5, "{p:?}: {a:?} vs {b:?}");
    }
    assert!(file.fit.as_ref().is_some_and(|f| f.rms_px < 1.0 && f.points == 8), "{:?}", file.fit);
    // One click 40 px off spoils a plain fit: refused, nothing written.
    let mut bad = rows;
    bad[5].px[0] += 40.0;
    let badp = dir.path().join("bad.toml");
    std::fs::write(&badp, PointsFile { point: bad }.to_toml_string().unwrap()).unwrap();
    let out2 = dir.path().join("cameras/bad.toml");
    let (code, stdout, stderr) = run(bin()
        .args(["calibrate", "solve", "--points"])
        .arg(&badp)
        .args(["--frame-size", "320x240", "--out"])
        .arg(&out2));
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stderr.contains("refused: the fit is poor"), "{stderr}");
    assert!(!out2.exists());
}

#[test]
fn renders_with_injected_failures_are_caught_by_the_geometry_checks_in_eval() {
    require_ort();
    let dir = tempfile::tempdir().unwrap();
    let cam = write_camera(dir.path());
    let bg = write_background(dir.path());
    let gcode = repo().join("datasets/demo/print.gcode");
    let seqs = dir.path().join("seqs");
    let cases: [(&str, &[&str]); 5] = [
        ("normal", &[]),
        ("lamp", &["--lamp-change-at", "0.5"]),
        ("removed", &["--failure", "part-removed"]),
        ("stopped", &["--failure", "growth-stopped"]),
        ("shifted", &["--failure", "layer-shift"]),
    ];
    for (name, extra) in cases {
        let (code, stdout, stderr) = run(bin()
            .args(["dataset", "render", "--gcode"])
            .arg(&gcode)
            .arg("--camera")
            .arg(&cam)
            .arg("--background")
            .arg(&bg)
            .arg("--out")
            .arg(seqs.join(name))
            .args(["--name", name, "--frames", "50", "--seed", "3", "--park-at-layer-change"])
            .args(extra));
        assert_eq!(code, 0, "{name}: {stdout}\n{stderr}");
    }
    let m = std::fs::read_to_string(seqs.join("shifted/manifest.toml")).unwrap();
    assert!(m.contains("camera_pose = \"camera.toml\"") && m.contains("kind = \"layer_shift\""), "{m}");
    let report = dir.path().join("eval");
    let (code, stdout, stderr) = run(bin().arg("eval").arg(&seqs).arg("--out").arg(&report));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).unwrap()).unwrap();
    let g = &r["runs"][0]["sequences"]["geometry"];
    let outcome =
        |name: &str| g["outcomes"].as_array().unwrap().iter().find(|o| o["sequence"] == name).unwrap().clone();
    for name in ["normal", "lamp"] {
        let o = outcome(name);
        assert_eq!(o["false_findings"], 0, "{name}: {o:#}");
        assert!(o["judged"].as_u64().unwrap() >= 20, "{name}: {o:#}");
    }
    // Layers to detection: a removed part shows at once; a shift only once the moved layers fill the
    // checked band (`growth_layers`) and `persist_layers` agree.
    for (name, kind, max_layers) in [("removed", "missing_material", 3), ("shifted", "silhouette_offset", 10)] {
        let o = outcome(name);
        assert_eq!(o["detected"], true, "{name}: {o:#}");
        assert_eq!(o["detected_as"], kind, "{name}: {o:#}");
        assert!(o["ttd_layers"].as_i64().unwrap() <= max_layers, "{name}: {o:#}");
        assert_eq!(o["false_findings"], 0, "{name}: {o:#}");
    }
    let o = outcome("stopped");
    assert_eq!(o["detected"], true, "{o:#}");
    assert_eq!(o["detected_as"], "growth_stopped", "{o:#}");
    assert_eq!(g["false_findings"], 0, "{g:#}");
}
