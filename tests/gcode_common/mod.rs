//! Helpers shared by the `tests/gcode_*.rs` suites: fixture paths, an
//! independent line/offset oracle, and a stable text rendering of analyses
//! for golden files.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::PathBuf;

use layerwatch::gcode::{Analysis, Analyzer};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gcode").join(name)
}

pub fn read(name: &str) -> Vec<u8> {
    let p = fixture(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {} missing: {e}", p.display()))
}

/// Every fixture: (name relative to the fixture dir).
pub const ALL: &[&str] = &[
    "prusa_cube20.gcode",
    "prusa_two_objects_support.gcode",
    "prusa_vase.gcode",
    "prusa_sequential.gcode",
    "cura_cube20.gcode",
    "nocomments_prusa_cube20.gcode",
    "nocomments_prusa_vase.gcode",
    "edge/relative_e_arcs.gcode",
    "edge/junk_binary.gcode",
    "edge/crlf_no_final_newline.gcode",
    "edge/klipper_objects.gcode",
    "edge/m486_objects.gcode",
];

/// Offsets where lines start (1-based line n starts at `starts[n - 1]`),
/// computed naively: `\n`, `\r\n` and lone `\r` end a line.
pub fn line_starts(data: &[u8]) -> Vec<u64> {
    let mut starts = vec![0u64];
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'\n' => starts.push(i as u64 + 1),
            b'\r' if data.get(i + 1) == Some(&b'\n') => {
                starts.push(i as u64 + 2);
                i += 1;
            }
            b'\r' => starts.push(i as u64 + 1),
            _ => {}
        }
        i += 1;
    }
    if starts.last() == Some(&(data.len() as u64)) && !data.is_empty() {
        starts.pop();
    }
    if data.is_empty() {
        starts.clear();
    }
    starts
}

/// Offsets of lines whose text (trimmed at the end) satisfies `pred`, with their text.
pub fn lines_matching(data: &[u8], pred: impl Fn(&str) -> bool) -> Vec<(u64, u64, String)> {
    let starts = line_starts(data);
    let mut out = Vec::new();
    for (n, &s) in starts.iter().enumerate() {
        let end = starts.get(n + 1).map_or(data.len(), |&e| e as usize);
        let text = String::from_utf8_lossy(&data[s as usize..end]).trim_end().to_string();
        if pred(&text) {
            out.push((s, n as u64 + 1, text));
        }
    }
    out
}

/// Analyzes `data` in pieces of `chunk` bytes.
pub fn analyze_in_chunks(data: &[u8], chunk: usize) -> Analysis {
    let mut a = Analyzer::new();
    for c in data.chunks(chunk) {
        a.feed(c);
    }
    a.finish()
}

/// The stable text form of an analysis used by the golden files.
pub fn summary(a: &Analysis) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "slicer: {}", a.slicer.as_ref().map_or("-".to_string(), |s| s.to_string()));
    let _ = writeln!(o, "bytes: {} lines: {}", a.total_bytes, a.total_lines);
    let _ = writeln!(
        o,
        "layers: {} from {:?} (slicer says {:?}), nominal height {:?}",
        a.layers.len(),
        a.layer_source,
        a.reported_layer_count,
        a.layer_height
    );
    let _ = writeln!(
        o,
        "time: estimate {:?} s, kinematic {:.0} s, per-layer {:?}, progress {:?}",
        a.estimated_time_s.map(|t| t.round()),
        a.kinematic_time_s,
        a.time_source,
        a.progress_source
    );
    let _ = writeln!(
        o,
        "filament: {:.2} mm (slicer {:?}), diameter {}, max z {}, z-hop {:?}, tool changes {}",
        a.filament_mm, a.reported_filament_mm, a.filament_diameter_mm, a.max_z, a.z_hop_mm, a.tool_changes
    );
    if let Some(b) = a.bbox {
        let _ = writeln!(o, "bbox: {:?}..{:?}", b.min, b.max);
    }
    if let Some(g) = a.grid {
        let _ =
            writeln!(o, "grid: {}x{} cells of {} mm at ({}, {})", g.cols, g.rows, g.cell_mm, g.origin_x, g.origin_y);
    }
    for ob in &a.objects {
        let _ = writeln!(
            o,
            "object {} {:?}: {:.2} mm, layers {:?}..{:?}, bbox {:?}, center {:?}, polygon points {}, cells {}",
            ob.index,
            ob.name,
            ob.extruded_mm,
            ob.first_layer,
            ob.last_layer,
            ob.bbox.map(|b| (b.min, b.max)),
            ob.center,
            ob.polygon.as_ref().map_or(0, Vec::len),
            ob.footprint.len()
        );
    }
    let _ = writeln!(o, "warnings: {:?}", a.warning_counts);
    for w in &a.warnings {
        let _ = writeln!(o, "  {w}");
    }
    for l in &a.layers {
        let feats: Vec<String> = l.features.iter().map(|(f, e)| format!("{f}:{e:.2}")).collect();
        let _ = writeln!(
            o,
            "L{:<3} z={:<8} h={:<6.3} bytes={}..{} lines={}..{} e={:.3} area={:.1} cells={} p={:.3} t={:.1} {} {:?}",
            l.index,
            l.z,
            l.height,
            l.start_offset,
            l.end_offset,
            l.start_line,
            l.end_line,
            l.extruded_mm,
            l.area_mm2,
            l.footprint.len(),
            l.progress_at_start.unwrap_or(-1.0),
            l.time_at_start_s.unwrap_or(-1.0),
            feats.join(","),
            l.objects
        );
    }
    if let (Some(g), Some(last)) = (a.grid, a.layers.last()) {
        let _ = writeln!(o, "cumulative footprint after the last layer:");
        o.push_str(&a.cumulative_footprint(last.index).render(&g));
    }
    o
}
