//! Every G-code fixture (real PrusaSlicer/CuraEngine output and hand-made
//! edge cases): golden summaries, structural invariants, offsets and line
//! numbers checked against a naive independent scan, and identical results
//! whether a file is read whole, streamed in odd pieces or from disk.

mod gcode_common;

use expect_test::expect_file;
use gcode_common::{ALL, analyze_in_chunks, fixture, line_starts, read, summary};
use layerwatch::gcode;

#[test]
fn golden_summaries() {
    for name in ALL {
        let a = gcode::analyze(&read(name));
        let golden = format!("fixtures/gcode/expected/{}.txt", name.replace('/', "__"));
        expect_file![golden].assert_eq(&summary(&a));
    }
}

#[test]
fn invariants_hold_on_every_fixture() {
    for name in ALL {
        let a = gcode::analyze(&read(name));
        if let Err(errs) = a.check_invariants() {
            panic!("{name}: {errs:#?}");
        }
        assert!(!a.layers.is_empty(), "{name}: no layers");
    }
}

#[test]
fn offsets_and_lines_agree_with_a_naive_scan() {
    for name in ALL {
        let data = read(name);
        let a = gcode::analyze(&data);
        let starts = line_starts(&data);
        assert_eq!(a.total_lines, starts.len() as u64, "{name}: line count");
        assert_eq!(a.total_bytes, data.len() as u64, "{name}: byte count");
        for l in &a.layers {
            assert_eq!(starts[(l.start_line - 1) as usize], l.start_offset, "{name}: L{} start", l.index);
            let end = starts.get((l.end_line - 1) as usize).copied().unwrap_or(data.len() as u64);
            assert_eq!(end, l.end_offset, "{name}: L{} end", l.index);
        }
        for w in &a.warnings {
            if w.line > 0 && w.line <= starts.len() as u64 && w.kind.name() != "no_final_newline" {
                assert_eq!(starts[(w.line - 1) as usize], w.offset, "{name}: warning {w}");
            }
        }
    }
}

#[test]
fn streaming_in_any_pieces_and_from_disk_gives_the_same_analysis() {
    for name in ALL {
        let data = read(name);
        let whole = gcode::analyze(&data);
        for chunk in [1usize, 7, 4096, 65_537] {
            if chunk == 1 && data.len() > 50_000 {
                continue; // byte-by-byte on the largest files only slows the suite down
            }
            assert_eq!(analyze_in_chunks(&data, chunk), whole, "{name}: chunks of {chunk}");
        }
        let from_disk = gcode::analyze_file(&fixture(name)).unwrap();
        assert_eq!(from_disk, whole, "{name}: analyze_file");
    }
}

#[test]
fn io_errors_name_the_path() {
    let missing = fixture("no/such/file.gcode");
    let err = gcode::analyze_file(&missing).unwrap_err().to_string();
    assert!(err.contains("no/such/file.gcode") && err.starts_with("cannot open g-code file"), "{err}");
    let dir = fixture("edge");
    let err = gcode::analyze_file(&dir).unwrap_err().to_string();
    assert!(err.contains("edge") && err.contains("g-code file"), "{err}");
}
