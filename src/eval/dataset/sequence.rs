//! Format (b), recorded sequences: loading one sequence directory.
//!
//! ```text
//! <sequence>/manifest.toml     what it is, labels, provenance (see `manifest`)
//! <sequence>/frames/*.jpg      the frames
//! <sequence>/frames/frames.csv file,timestamp_ms[,…] (optional; else names in order at `fps`)
//! <sequence>/printer.jsonl     one domain `PrinterStatus` JSON per line (optional)
//! <sequence>/<file>.gcode      the printed file, named by `gcode` in the manifest (optional)
//! ```
//!
//! `frames.csv` may also sit in the sequence root with paths like
//! `frames/000001.jpg`. Frames stay on disk: the loader only lists them;
//! replay reads them through `capture::FolderSource`, as the daemon's folder
//! camera does. Rows that cannot be used (missing file, bad number, a clock
//! that goes backwards, a truncated JSON line) are [`Skip`]s naming file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::manifest::Manifest;
use crate::capture::folder::{FRAMES_CSV, list_images};
use crate::domain::PrinterStatus;
use crate::eval::error::{EvalError, Skip, SkipKind};
use crate::gcode::Analysis;

/// File name of the printer status stream.
pub const PRINTER_JSONL: &str = "printer.jsonl";
/// Folder of the frames.
pub const FRAMES_DIR: &str = "frames";

/// One frame of a sequence, as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameRow {
    pub path: PathBuf,
    /// As written in `frames.csv` (or the file name).
    pub file: String,
    /// Capture time, Unix epoch ms.
    pub timestamp_ms: i64,
    /// Line in `frames.csv`.
    pub line: Option<u64>,
    /// Any other `frames.csv` columns (synthetic sequences: `source`, `class`, `effects`, `repeat`).
    pub columns: BTreeMap<String, String>,
}

/// A loaded sequence: everything but the pixels.
#[derive(Debug, Clone)]
pub struct Sequence {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// The folder a `FolderSource` replays (holds `frames.csv`, or the images themselves).
    pub frames_dir: PathBuf,
    /// Usable frames in time order.
    pub frames: Vec<FrameRow>,
    /// `None` when the sequence has no `printer.jsonl`.
    pub printer: Option<Vec<PrinterStatus>>,
    pub gcode: Option<Arc<Analysis>>,
    pub skipped: Vec<Skip>,
}

impl Sequence {
    /// Time zero: `start_ms` from the manifest, else the first frame's timestamp.
    pub fn t0(&self) -> i64 {
        self.manifest.start_ms.or_else(|| self.frames.first().map(|f| f.timestamp_ms)).unwrap_or(0)
    }

    /// Absolute onset time (epoch ms), when the sequence is labelled with one.
    pub fn onset_at(&self) -> Option<i64> {
        self.manifest.label.failure.then_some(())?;
        self.manifest.label.onset_ms.map(|o| self.t0() + o)
    }

    /// Span from the first to the last frame, seconds.
    pub fn duration_s(&self) -> f64 {
        match (self.frames.first(), self.frames.last()) {
            (Some(a), Some(b)) => (b.timestamp_ms - a.timestamp_ms) as f64 / 1000.0,
            _ => 0.0,
        }
    }

    /// Loads `dir`. Errors only when the directory is not a usable sequence
    /// (no or bad manifest, no frames at all); everything else is a skip.
    pub fn load(dir: &Path) -> Result<Sequence, EvalError> {
        let manifest = Manifest::read(dir)?;
        let mut skipped = vec![];
        let (frames_dir, csv) = locate_frames(dir)?;
        let mut frames = match &csv {
            Some(csv) => read_frames(csv, &frames_dir, &mut skipped)?,
            None => {
                let start = manifest.start_ms.unwrap_or(0);
                let step = 1000.0 / manifest.fps;
                list_images(&frames_dir)
                    .map_err(|e| EvalError::io(&frames_dir, e))?
                    .into_iter()
                    .enumerate()
                    .map(|(i, path)| FrameRow {
                        file: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                        path,
                        timestamp_ms: start + (i as f64 * step).round() as i64,
                        line: None,
                        columns: BTreeMap::new(),
                    })
                    .collect()
            }
        };
        if frames.is_empty() {
            return Err(EvalError::dataset(dir, "sequence has no usable frames"));
        }
        frames.shrink_to_fit();
        let printer_path = dir.join(PRINTER_JSONL);
        let printer = if printer_path.is_file() {
            let text = std::fs::read_to_string(&printer_path).map_err(|e| EvalError::io(&printer_path, e))?;
            Some(parse_printer_jsonl(&text, &printer_path, &mut skipped))
        } else {
            None
        };
        let gcode = match &manifest.gcode {
            Some(g) => {
                let p = dir.join(g);
                match crate::gcode::analyze_file(&p) {
                    Ok(a) => Some(Arc::new(a)),
                    Err(e) => {
                        let why =
                            format!("g-code file named in the manifest cannot be used ({e}); replayed without it");
                        skipped.push(Skip::new(
                            SkipKind::MissingFile,
                            &dir.join(super::manifest::MANIFEST_FILE),
                            None,
                            why,
                        ));
                        None
                    }
                }
            }
            None => None,
        };
        for s in &skipped {
            s.log();
        }
        Ok(Sequence { dir: dir.to_path_buf(), manifest, frames_dir, frames, printer, gcode, skipped })
    }
}

/// Where the frames and their `frames.csv` are: `(folder to replay, csv if any)`.
fn locate_frames(dir: &Path) -> Result<(PathBuf, Option<PathBuf>), EvalError> {
    let sub = dir.join(FRAMES_DIR);
    if sub.join(FRAMES_CSV).is_file() {
        return Ok((sub.clone(), Some(sub.join(FRAMES_CSV))));
    }
    if dir.join(FRAMES_CSV).is_file() {
        return Ok((dir.to_path_buf(), Some(dir.join(FRAMES_CSV))));
    }
    if sub.is_dir() {
        return Ok((sub, None));
    }
    Err(EvalError::dataset(dir, "sequence has no frames/ folder and no frames.csv"))
}

/// Reads `frames.csv` (header optional: `file,timestamp_ms` by default), checking
/// that files exist and time moves forward.
pub fn read_frames(csv: &Path, base: &Path, skipped: &mut Vec<Skip>) -> Result<Vec<FrameRow>, EvalError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(csv)
        .map_err(|e| EvalError::format(csv, None, format!("cannot read: {e}")))?;
    let mut headers: Option<Vec<String>> = None;
    let (mut file_col, mut ts_col) = (0, 1);
    let mut out: Vec<FrameRow> = vec![];
    for (i, rec) in rdr.records().enumerate() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line());
                skipped.push(Skip::new(SkipKind::BadRow, csv, line, format!("unreadable row: {e}")));
                continue;
            }
        };
        let line = rec.position().map(|p| p.line()).unwrap_or(i as u64 + 1);
        if rec.get(0).is_some_and(|f| f.starts_with('#')) || rec.iter().all(str::is_empty) {
            continue;
        }
        if i == 0 && rec.iter().any(|f| f.eq_ignore_ascii_case("timestamp_ms")) {
            let h: Vec<String> = rec.iter().map(|f| f.to_ascii_lowercase()).collect();
            file_col = h.iter().position(|f| f == "file").unwrap_or(0);
            ts_col = h.iter().position(|f| f == "timestamp_ms").unwrap_or(1);
            headers = Some(h);
            continue;
        }
        let (Some(file), Some(ts)) = (rec.get(file_col), rec.get(ts_col)) else {
            let why = format!("expected `file,timestamp_ms`, got {} field(s)", rec.len());
            skipped.push(Skip::new(SkipKind::BadRow, csv, Some(line), why));
            continue;
        };
        let Ok(t) = ts.parse::<i64>() else {
            let why = format!("timestamp_ms {ts:?} is not an integer number of milliseconds");
            skipped.push(Skip::new(SkipKind::BadRow, csv, Some(line), why));
            continue;
        };
        if file.is_empty() {
            skipped.push(Skip::new(SkipKind::BadRow, csv, Some(line), "empty file name"));
            continue;
        }
        if let Some(prev) = out.last()
            && t <= prev.timestamp_ms
        {
            let why = format!(
                "clock went backwards: {file} at {t} ms is not after {} at {} ms (line {})",
                prev.file,
                prev.timestamp_ms,
                prev.line.unwrap_or(0)
            );
            skipped.push(Skip::new(SkipKind::ClockBackwards, csv, Some(line), why));
            continue;
        }
        let path = base.join(file);
        if !path.is_file() {
            skipped.push(Skip::new(SkipKind::MissingFile, csv, Some(line), format!("frame {file} does not exist")));
            continue;
        }
        let columns = match &headers {
            Some(h) => h
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != file_col && *j != ts_col)
                .map(|(j, name)| (name.clone(), rec.get(j).unwrap_or("").to_string()))
                .collect(),
            None => BTreeMap::new(),
        };
        out.push(FrameRow { path, file: file.to_string(), timestamp_ms: t, line: Some(line), columns });
    }
    Ok(out)
}

/// Parses `printer.jsonl`: bad lines and statuses older than the previous one are skips.
pub fn parse_printer_jsonl(text: &str, path: &Path, skipped: &mut Vec<Skip>) -> Vec<PrinterStatus> {
    let mut out: Vec<PrinterStatus> = vec![];
    for (i, line) in text.lines().enumerate() {
        let n = i as u64 + 1;
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        match serde_json::from_str::<PrinterStatus>(l) {
            Ok(s) => {
                if let Some(prev) = out.last()
                    && s.at < prev.at
                {
                    let why = format!(
                        "clock went backwards: status at {} ms is before {} ms",
                        s.at.millis(),
                        prev.at.millis()
                    );
                    skipped.push(Skip::new(SkipKind::ClockBackwards, path, Some(n), why));
                    continue;
                }
                out.push(s);
            }
            Err(e) => {
                let shown: String = l.chars().take(60).collect();
                let why = format!("not a printer status: {e} (line starts {shown:?})");
                skipped.push(Skip::new(SkipKind::BadJson, path, Some(n), why));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printer_lines_bad_json_and_backwards_clock_are_skips() {
        let good = |t: i64| format!(r#"{{"state":{{"state":"idle"}},"temps":{{"hotend":null,"bed":null}},"at":{t}}}"#);
        let text = format!("{}\n{}\n{{\"state\":{{\"sta\n{}\n\n{}\n", good(1000), good(3000), good(2000), good(4000));
        let mut skips = vec![];
        let got = parse_printer_jsonl(&text, Path::new("p.jsonl"), &mut skips);
        assert_eq!(got.iter().map(|s| s.at.millis()).collect::<Vec<_>>(), [1000, 3000, 4000]);
        let s: Vec<String> = skips.iter().map(ToString::to_string).collect();
        assert_eq!(s.len(), 2, "{s:?}");
        assert!(s[0].starts_with("p.jsonl:3: not a printer status: EOF while parsing"), "{}", s[0]);
        assert_eq!(s[1], "p.jsonl:4: clock went backwards: status at 2000 ms is before 3000 ms (clock_backwards)");
    }

    #[test]
    fn frames_csv_skips_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["a.jpg", "b.jpg", "c.jpg"] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        let csv = dir.path().join("frames.csv");
        std::fs::write(
            &csv,
            "file,timestamp_ms,source\na.jpg,1000,s1\nb.jpg,900,s2\nzz.jpg,1100,s\nc.jpg,x\nc.jpg,1200,s3\n",
        )
        .unwrap();
        let mut skips = vec![];
        let rows = read_frames(&csv, dir.path(), &mut skips).unwrap();
        assert_eq!(
            rows.iter().map(|r| (r.file.as_str(), r.timestamp_ms)).collect::<Vec<_>>(),
            [("a.jpg", 1000), ("c.jpg", 1200)]
        );
        assert_eq!(rows[1].columns.get("source").map(String::as_str), Some("s3"));
        let kinds: Vec<_> = skips.iter().map(|s| (s.kind, s.line)).collect();
        assert_eq!(
            kinds,
            [(SkipKind::ClockBackwards, Some(3)), (SkipKind::MissingFile, Some(4)), (SkipKind::BadRow, Some(5))]
        );
    }
}
