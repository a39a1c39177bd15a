//! Image folders replayed as a camera: live demos, recorded sessions, and the
//! datasets `eval` runs on.
//!
//! Frames are the folder's images (`images::IMAGE_EXTENSIONS`) in natural name
//! order (`f2.jpg` before `f10.jpg`), or the rows of `frames.csv` (`file,timestamp_ms`)
//! when the folder has one: then frames carry their recorded capture times.
//! A frame's `seq` is its position in that list (plus the list length per loop),
//! so replays number frames the same way every time. Unreadable files, and
//! files over the pixel limit (checked from the header, before decoding), are
//! counted and skipped. JPEGs stay encoded; other formats are decoded to RGB
//! (`capture::image_file`, the rule `classify` and `eval` use too).

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::common::SourceCore;
use super::{CameraConfig, CaptureError, FrameSource, image_file};
use crate::domain::{Frame, FrameImage, Timestamp};
pub use crate::images::natural_cmp;

/// Name of the optional manifest with recorded capture times.
pub const FRAMES_CSV: &str = "frames.csv";

/// How a folder is replayed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FolderOptions {
    /// Wait between frames as recorded (`frames.csv`) or at `fps`; else as fast as taken.
    pub pace: bool,
    /// Frame rate for pacing and timestamps when there is no `frames.csv`.
    pub fps: f64,
    /// Start again after the last frame instead of ending.
    pub loop_replay: bool,
    /// Images with more pixels (read from the header) are skipped undecoded.
    pub max_pixels: u64,
}

impl FolderOptions {
    /// Options with the default pixel limit.
    pub fn new(pace: bool, fps: f64, loop_replay: bool) -> Self {
        FolderOptions { pace, fps, loop_replay, max_pixels: crate::images::DEFAULT_MAX_PIXELS }
    }
}

/// One frame to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderEntry {
    pub path: PathBuf,
    /// Recorded capture time, from `frames.csv`.
    pub timestamp_ms: Option<i64>,
}

/// A folder replayed as a source. See the module docs.
#[derive(Debug)]
pub struct FolderSource {
    core: SourceCore,
    entries: Vec<FolderEntry>,
    opts: FolderOptions,
    pos: usize,
    loops: u64,
    /// Wall-clock and tokio instants of the first frame, for pacing and timestamps.
    start: Option<(Instant, Timestamp)>,
}

impl FolderSource {
    /// Lists `dir` (and reads its `frames.csv`, if any) now; errors name the folder.
    pub fn open(name: &str, dir: &Path, opts: FolderOptions) -> Result<Self, CaptureError> {
        let fatal = |message: String| CaptureError::Fatal { source_name: name.to_string(), message };
        let core = SourceCore::new(name);
        let csv = dir.join(FRAMES_CSV);
        let entries = if csv.is_file() {
            let FramesCsv { entries, bad_rows } = read_frames_csv(&csv).map_err(fatal)?;
            for (line, why) in &bad_rows {
                core.stats().record_bad_frame();
                tracing::warn!(camera = name, file = %csv.display(), line, error = %why, "bad row skipped");
            }
            entries
        } else {
            list_images(dir)
                .map_err(|e| fatal(format!("cannot list folder {}: {e}", dir.display())))?
                .into_iter()
                .map(|path| FolderEntry { path, timestamp_ms: None })
                .collect()
        };
        if entries.is_empty() {
            let kinds = crate::images::IMAGE_EXTENSIONS.join(", .");
            tracing::warn!(camera = name, folder = %dir.display(), "no images (.{kinds}) in folder");
        }
        let fps = if opts.fps.is_finite() && opts.fps > 0.0 { opts.fps } else { 1.0 };
        Ok(FolderSource { core, entries, opts: FolderOptions { fps, ..opts }, pos: 0, loops: 0, start: None })
    }

    pub fn from_config(cfg: &CameraConfig) -> Result<Self, CaptureError> {
        let opts = FolderOptions {
            pace: cfg.pace,
            fps: f64::from(cfg.fps),
            loop_replay: cfg.loop_replay,
            max_pixels: cfg.max_pixels,
        };
        FolderSource::open(&cfg.name, &cfg.path, opts)
    }

    /// The frames this source replays, in order; `seq` of a frame is its index here
    /// (plus `len()` per completed loop).
    pub fn entries(&self) -> &[FolderEntry] {
        &self.entries
    }

    fn frame_ms(&self) -> f64 {
        1000.0 / self.opts.fps
    }

    /// Offset of entry `i` from the first frame, in milliseconds, ignoring loops.
    fn offset_ms(&self, i: usize) -> i64 {
        let first = self.entries.first().and_then(|e| e.timestamp_ms);
        match (first, self.entries[i].timestamp_ms) {
            (Some(f), Some(t)) => t.saturating_sub(f).max(0),
            _ => (i as f64 * self.frame_ms()).round() as i64,
        }
    }

    /// Length of one pass, for shifting time on each loop: last offset plus one frame gap.
    fn pass_ms(&self) -> i64 {
        let n = self.entries.len();
        if n == 0 {
            return 0;
        }
        let last = self.offset_ms(n - 1);
        let gap = if n >= 2 { (last / (n as i64 - 1)).max(1) } else { self.frame_ms().round() as i64 };
        last + gap
    }

    async fn load(path: &Path, max_pixels: u64) -> Result<FrameImage, String> {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || image_file::load(&path, max_pixels))
            .await
            .map_err(|e| format!("decoder thread failed: {e}"))?
            .map_err(|e| e.to_string())
    }
}

#[async_trait]
impl FrameSource for FolderSource {
    fn core(&self) -> &SourceCore {
        &self.core
    }

    async fn next_frame(&mut self) -> Result<Frame, CaptureError> {
        loop {
            if self.pos >= self.entries.len() {
                if !self.opts.loop_replay || self.entries.is_empty() {
                    return Err(CaptureError::Ended);
                }
                self.pos = 0;
                self.loops += 1;
            }
            let i = self.pos;
            self.pos += 1;
            let offset = self.offset_ms(i) + self.loops as i64 * self.pass_ms();
            let (t0, wall0) = *self.start.get_or_insert_with(|| (Instant::now(), Timestamp::now()));
            if self.opts.pace {
                tokio::time::sleep_until(t0 + Duration::from_millis(offset as u64)).await;
            }
            let path = self.entries[i].path.clone();
            match Self::load(&path, self.opts.max_pixels).await {
                Ok(image) => {
                    let at = match (self.entries.first().and_then(|e| e.timestamp_ms), self.entries[i].timestamp_ms) {
                        (Some(_), Some(t)) => Timestamp(t + self.loops as i64 * self.pass_ms()),
                        _ => Timestamp(wall0.millis() + offset),
                    };
                    let seq = self.loops * self.entries.len() as u64 + i as u64;
                    return Ok(self.core.frame_at_seq(seq, image, at));
                }
                Err(why) => self.core.bad_frame(&why, &path.display()),
            }
        }
    }
}

/// The images directly in `dir` (no sub-folders, `images::IMAGE_EXTENSIONS`), in natural name order.
pub fn list_images(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    Ok(crate::images::walk(dir, 0)?.images())
}

/// What `frames.csv` holds: the frames, and the rows that were skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramesCsv {
    pub entries: Vec<FolderEntry>,
    /// `(line, why)` of each row that was skipped.
    pub bad_rows: Vec<(u64, String)>,
}

/// Reads `frames.csv`: `file,timestamp_ms` rows (a header row is optional; extra
/// columns and `#` comment lines are ignored).
pub fn read_frames_csv(path: &Path) -> Result<FramesCsv, String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let (mut file_col, mut ts_col) = (0, 1);
    let mut entries = vec![];
    let mut bad = vec![];
    for (i, rec) in rdr.records().enumerate() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                bad.push((line, format!("unreadable row: {e}")));
                continue;
            }
        };
        let line = rec.position().map(|p| p.line()).unwrap_or(i as u64 + 1);
        if rec.get(0).is_some_and(|f| f.starts_with('#')) || rec.iter().all(str::is_empty) {
            continue;
        }
        if i == 0 && rec.iter().any(|f| f.eq_ignore_ascii_case("timestamp_ms")) {
            file_col = rec.iter().position(|f| f.eq_ignore_ascii_case("file")).unwrap_or(0);
            ts_col = rec.iter().position(|f| f.eq_ignore_ascii_case("timestamp_ms")).unwrap_or(1);
            continue;
        }
        let (Some(file), Some(ts)) = (rec.get(file_col), rec.get(ts_col)) else {
            bad.push((line, format!("expected `file,timestamp_ms`, got {} field(s)", rec.len())));
            continue;
        };
        if file.is_empty() {
            bad.push((line, "empty file name".into()));
            continue;
        }
        match ts.parse::<i64>() {
            Ok(t) => entries.push(FolderEntry { path: dir.join(file), timestamp_ms: Some(t) }),
            Err(_) => bad.push((line, format!("timestamp_ms {ts:?} is not an integer number of milliseconds"))),
        }
    }
    Ok(FramesCsv { entries, bad_rows: bad })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_csv_rows_and_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(FRAMES_CSV);
        std::fs::write(&p, "timestamp_ms,file,label\n1000,a.jpg,ok\n# comment\nsoon,b.jpg,x\n1200\n1300,c.jpg\n")
            .unwrap();
        let FramesCsv { entries, bad_rows: bad } = read_frames_csv(&p).unwrap();
        let got: Vec<_> = entries.iter().map(|e| (e.path.file_name().unwrap().to_owned(), e.timestamp_ms)).collect();
        assert_eq!(got, [("a.jpg".into(), Some(1000)), ("c.jpg".into(), Some(1300))]);
        assert_eq!(
            bad,
            [
                (4, r#"timestamp_ms "soon" is not an integer number of milliseconds"#.to_string()),
                (5, "expected `file,timestamp_ms`, got 1 field(s)".to_string())
            ]
        );
    }

    #[test]
    fn missing_folder_is_fatal_and_names_it() {
        let opts = FolderOptions::new(false, 5.0, false);
        let e = FolderSource::open("cam", Path::new("/nonexistent/frames"), opts).unwrap_err();
        assert!(e.to_string().starts_with("cam: cannot list folder /nonexistent/frames:"), "{e}");
    }
}
