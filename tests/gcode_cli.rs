//! `layerwatch gcode info`: the real binary on real fixtures, text and JSON
//! (schema `layerwatch.gcode.info/1`), exit codes and error messages.

mod gcode_common;

use std::process::Command;

use gcode_common::fixture;

fn layerwatch(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_layerwatch")).args(args).output().expect("run layerwatch");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn text_summary_of_a_prusaslicer_file() {
    let f = fixture("prusa_two_objects_support.gcode");
    let (code, out, err) = layerwatch(&["gcode", "info", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for want in [
        "slicer:      PrusaSlicer 2.5.0",
        "layers:      75 (from slicer comments)",
        "z:           0.300 → 12.900 mm, layer height 0.300 mm",
        "time:        14m 02s (slicer)",
        "slicer says 903.8 mm",
        "objects:     2",
        "cube10.stl id:0 copy 0  (layers 0–64",
        "warnings:    0",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert!(!out.contains("layer        z"), "no layer table without --layers");
}

#[test]
fn json_schema_with_layers() {
    let f = fixture("cura_cube20.gcode");
    let (code, out, err) = layerwatch(&["gcode", "info", "--json", "--layers", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(v["schema"], "layerwatch.gcode.info/1");
    assert_eq!(v["slicer"]["kind"], "cura");
    assert_eq!(v["slicer"]["version"], "4.13.0");
    assert_eq!(v["layer_source"], "comments");
    assert_eq!(v["layer_count"], 67);
    assert_eq!(v["reported_layer_count"], 67);
    assert_eq!(v["time_source"], "slicer_elapsed");
    assert_eq!(v["warning_count"], 1);
    assert_eq!(v["warnings"][0]["kind"], "junk");
    assert_eq!(v["objects"][0]["name"], "cube20.stl");
    let layers = v["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 67);
    assert_eq!(layers[1]["z"], 0.6);
    assert_eq!(layers[1]["start_line"].as_u64(), layers[0]["end_line"].as_u64());
    assert!(layers[66]["features"].as_array().unwrap().iter().any(|f| f["feature"] == "solid_infill"));
    // Every documented top-level field is there.
    for key in [
        "file",
        "total_bytes",
        "total_lines",
        "first_z",
        "last_z",
        "layer_height",
        "estimated_time_s",
        "kinematic_time_s",
        "filament_mm",
        "reported_filament_mm",
        "filament_diameter_mm",
        "bbox",
        "grid",
        "features",
        "progress_source",
        "tool_changes",
        "warning_counts",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    let (_, out, _) = layerwatch(&["gcode", "info", "--json", f.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v.get("layers").is_none(), "layers only with --layers");
}

#[test]
fn nothing_printable_and_unreadable_files() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.gcode");
    std::fs::write(&empty, b"G28\nM104 S0\n").unwrap();
    let (code, out, _) = layerwatch(&["gcode", "info", empty.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("layers:      0 (from nothing extruded)"), "{out}");
    let missing = dir.path().join("missing.gcode");
    let (code, _, err) = layerwatch(&["gcode", "info", missing.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot open g-code file") && err.contains("missing.gcode"), "{err}");
}

#[test]
fn text_layer_table_for_a_file_with_warnings() {
    let f = fixture("edge/junk_binary.gcode");
    let (code, out, err) = layerwatch(&["gcode", "info", "--layers", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("warnings:    6"), "{out}");
    assert!(out.contains("line 12: binary data"), "{out}");
    // The log line is structured (field=value); telemetry may colour it, so strip escape codes.
    let err = strip_ansi(&err);
    assert!(err.contains("g-code file has problems") && err.contains("warnings=6"), "{err}");
    let rows: Vec<&str> = out.lines().skip_while(|l| !l.starts_with("layer  ")).skip(1).collect();
    assert_eq!(rows.len(), 3, "{out}");
    assert!(rows[2].trim_start().starts_with("2    0.600"), "{out}");
}
