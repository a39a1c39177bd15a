//! Fuzz target: `gcode::analyze` on arbitrary bytes must not panic, must keep
//! its invariants (layers in order, ranges non-overlapping, lookups agreeing
//! with ranges, finite numbers), and must give the same result when the same
//! bytes are streamed in pieces.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../src/gcode/mod.rs"]
#[allow(dead_code, unused_imports)]
mod gcode;

fuzz_target!(|data: &[u8]| {
    let a = gcode::analyze(data);
    if let Err(errs) = a.check_invariants() {
        panic!("invariants broken: {errs:#?}");
    }
    // Streaming in pieces (size picked from the input) gives the same analysis.
    let piece = data.first().map_or(1, |b| usize::from(*b % 17) + 1);
    let mut s = gcode::Analyzer::new();
    for chunk in data.chunks(piece) {
        s.feed(chunk);
    }
    assert_eq!(s.finish(), a, "streamed in pieces of {piece}");
    // Lookups anywhere agree with the ranges they return.
    let n = data.len() as u64;
    for off in [0, 1, n / 3, n / 2, n.saturating_sub(1), n, n + 1] {
        if let Some(l) = a.layer_at_offset(off) {
            assert!(l.start_offset <= off && off < l.end_offset);
        }
        if let Some(l) = a.layer_at_or_before_offset(off) {
            assert!(l.start_offset <= off);
        }
        let _ = a.feature_at_offset(off);
    }
    for line in [0, 1, a.total_lines / 2, a.total_lines, a.total_lines + 1] {
        if let Some(l) = a.layer_at_line(line) {
            assert!(l.start_line <= line && line < l.end_line);
        }
    }
    for z in [-1.0, 0.0, 0.2, 1.0, a.max_z, f32::MAX, f32::NAN] {
        if let Some(l) = a.layer_at_z(z) {
            assert!(l.z <= z + 1.001e-3);
        }
    }
    if let Some(last) = a.layers.last() {
        let _ = a.cumulative_footprint(last.index);
    }
});
