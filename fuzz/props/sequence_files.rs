//! A recorded sequence's files: `manifest.toml`, `frames.csv` and `printer.jsonl` (`eval`, `label`, `record`).
//!
//! Properties: no input panics; every skipped row or line is counted once with its line number inside the file;
//! frames come out with strictly increasing timestamps and printer statuses never go back in time; an accepted
//! manifest written back is accepted again and reads the same.

use std::path::Path;

use crate::eval::dataset::Manifest;
use crate::eval::dataset::sequence::{parse_printer_jsonl, read_frames};

/// The input is split on the first two `\x00` bytes into the three files.
pub fn check(data: &[u8]) {
    let mut parts = data.splitn(3, |b| *b == 0);
    let manifest = crate::fuzz_props::text(parts.next().unwrap_or_default());
    let frames = parts.next().unwrap_or_default();
    let printer = crate::fuzz_props::text(parts.next().unwrap_or_default());

    if let Ok(m) = Manifest::parse(&manifest, Path::new("manifest.toml")) {
        let again = m.to_toml().expect("an accepted manifest serializes");
        let back = Manifest::parse(&again, Path::new("manifest.toml")).expect("a written manifest is accepted again");
        assert_eq!(format!("{back:?}"), format!("{m:?}"), "a manifest written back reads differently");
    }

    let lines = printer.lines().count() as u64;
    let mut skipped = vec![];
    let statuses = parse_printer_jsonl(&printer, Path::new("printer.jsonl"), &mut skipped);
    assert!(statuses.windows(2).all(|w| w[0].at <= w[1].at), "printer statuses went back in time");
    assert!(statuses.len() + skipped.len() <= lines as usize, "more statuses and skips than lines");
    assert!(skipped.iter().all(|s| s.line.is_some_and(|l| l >= 1 && l <= lines)), "{skipped:?}");

    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("frames.csv");
    std::fs::write(&csv, frames).expect("write frames.csv");
    std::fs::write(dir.path().join("a.jpg"), b"x").expect("write a frame");
    let mut skipped = vec![];
    let rows = read_frames(&csv, dir.path(), &mut skipped).expect("frames.csv is readable");
    assert!(rows.windows(2).all(|w| w[0].timestamp_ms < w[1].timestamp_ms), "frame times must increase");
    let csv_lines = frames.split(|b| *b == b'\n').count() as u64;
    assert!(rows.iter().all(|r| r.path.is_file() && r.line.is_some_and(|l| l >= 1 && l <= csv_lines)));
    assert!(skipped.iter().all(|s| s.line.is_none_or(|l| l >= 1 && l <= csv_lines)), "{skipped:?}");
}
