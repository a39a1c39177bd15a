//! Inputs that once broke (or could break) the analyzer: every fuzz crash is
//! kept here as a file under `tests/fixtures/gcode/regressions/`, and
//! hand-picked adversarial inputs are listed inline. Each must analyze
//! without panicking, keep the invariants and stream identically.

mod gcode_common;

use gcode_common::{analyze_in_chunks, fixture};
use layerwatch::gcode;

fn check(name: &str, data: &[u8]) {
    let a = gcode::analyze(data);
    if let Err(errs) = a.check_invariants() {
        panic!("{name}: {errs:#?}");
    }
    for chunk in [1, 3, 64] {
        assert_eq!(analyze_in_chunks(data, chunk), a, "{name}: chunks of {chunk}");
    }
}

#[test]
fn adversarial_inputs() {
    let cases: &[(&str, &[u8])] = &[
        ("huge exponents", b"G1 X1e308 Y-1e308 Z1e-400 E1e309\nG1 Z0.2 E1\nG1 X1e5 E2\n"),
        ("arc with a huge radius", b"G1 Z0.2\nG1 X0 Y0\nG2 X1 Y0 R1e300 E1\nG3 X0 Y0 I1e-300 J0 E2\n"),
        ("arc to itself with no offsets", b"G1 Z0.2\nG2 X0 Y0 E1\nG3 I0 J0 E2\n"),
        ("m486 with absurd counts", b"M486 T1e12\nM486 S1e15 A\"x\"\nM486 S-1e30\nG1 Z0.2\nG1 X1 E1\n"),
        ("klipper with broken brackets", b"EXCLUDE_OBJECT_DEFINE NAME=a POLYGON=[[[[1,2]\nEXCLUDE_OBJECT_START NAME=\nEXCLUDE_OBJECT_START\n"),
        ("markers only", b";LAYER_CHANGE\n;Z:1e30\n;HEIGHT:-5\n;LAYER:99999999999999999999\n;LAYER_CHANGE\n"),
        ("z going up and down", b"M83\nG1 Z5\nG1 X1 E1\nG1 Z0.1\nG1 X2 E1\nG1 Z5\nG1 X3 E1\nG1 Z5.0001\nG1 X4 E1\n"),
        ("vase spiral straight to the sky", b"M83\nG1 Z0.2\nG1 X1 E1\nG1 X2 Z90000 E1\nG1 X3 Z0.1 E1\n"),
        ("relative moves that overflow", b"G91\nG1 X99999\nG1 X99999\nG1 X99999 E1\nG1 Z0.2 X1 E1\n"),
        ("inch units with large values", b"G20\nG1 Z0.01\nG1 X3000 E1\nG1 X4000 E2\n"),
        ("nul bytes everywhere", b"\0G1\0 Z0.2\0\nG1 X1\0 E1\n\0\0\0\n"),
        ("lone carriage returns", b"G1 Z0.2\rG1 X1 E1\rG1 X2 E2\r"),
        ("only a carriage return", b"\r"),
        ("type names galore", b";TYPE:a\n;TYPE:b\n;TYPE:\xff\xfe\n;TYPE:\n; FEATURE: \n"),
        ("time and filament nonsense", b"; estimated printing time (normal mode) = 99999999999d\n;TIME:-5\n;TIME_ELAPSED:nan\n; filament used [mm] = inf\n"),
    ];
    for (name, data) in cases {
        check(name, data);
    }
}

#[test]
fn many_distinct_features_and_objects_stay_bounded() {
    let mut p = String::from("M83\nG1 Z0.2\n");
    for i in 0..2000 {
        p.push_str(&format!(";TYPE:kind {i}\nM486 S{i}\nG1 X{} E0.1\n", i % 50));
    }
    let a = gcode::analyze(p.as_bytes());
    a.check_invariants().unwrap();
    assert!(a.objects.len() <= 1024);
    assert_eq!(a.warning_counts.get("too_many_objects"), Some(&1));
    let distinct: std::collections::HashSet<String> =
        a.layers[0].features.iter().map(|f| f.0.as_str().to_string()).collect();
    assert!(distinct.len() <= 257, "{}", distinct.len());
}

#[test]
fn every_fuzz_crash_input() {
    let dir = fixture("regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "bin") {
            check(&path.display().to_string(), &std::fs::read(&path).unwrap());
            n += 1;
        }
    }
    eprintln!("{n} fuzz regression inputs");
}
