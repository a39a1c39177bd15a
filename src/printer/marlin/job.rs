//! A print job as the link sees it: the G-code file being streamed (host mode)
//! or followed (monitor mode), where in it the printer is, and what that means
//! in layers, Z, feature and progress.
//!
//! Layer lookups go through `LayerIndex`, implemented by the G-code analyzer's
//! `Analysis`; without an index the job still reports offsets and progress.
//! The same analysis is what the link publishes as `PrinterLink::analysis`
//! ([`Job::file_analysis`]), so the daemon never parses the file again.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::modal::Modal;
use super::protocol::clean_line;
use crate::domain::PrintJob;
use crate::gcode::{Analysis, Filtered, ObjectSkipper};
use crate::printer::FileAnalysis;

/// Position → layer lookups over one analysed G-code file.
pub trait LayerIndex: Send + Sync {
    fn layer_count(&self) -> u32;
    /// The layer (index, Z) containing this byte offset.
    fn layer_at_offset(&self, offset: u64) -> Option<(u32, f32)>;
    /// The layer (index, Z) printed at this nozzle height.
    fn layer_at_z(&self, z: f32) -> Option<(u32, f32)>;
    /// The slicer's feature (`perimeter`, `infill`…) at this byte offset.
    fn feature_at_offset(&self, offset: u64) -> Option<String>;
}

impl LayerIndex for crate::gcode::Analysis {
    fn layer_count(&self) -> u32 {
        self.layers.len() as u32
    }

    fn layer_at_offset(&self, offset: u64) -> Option<(u32, f32)> {
        // During the end code the last layer is still the one on the bed.
        self.layer_at_or_before_offset(offset).map(|l| (l.index, l.z))
    }

    fn layer_at_z(&self, z: f32) -> Option<(u32, f32)> {
        crate::gcode::Analysis::layer_at_z(self, z).map(|l| (l.index, l.z))
    }

    fn feature_at_offset(&self, offset: u64) -> Option<String> {
        crate::gcode::Analysis::feature_at_offset(self, offset).map(|f| f.as_str().to_string())
    }
}

/// Analyses a file for layer lookups (blocking; run it off the async runtime).
pub fn analyze(path: &Path) -> Option<Arc<Analysis>> {
    match crate::gcode::analyze_file(path) {
        Ok(a) => Some(Arc::new(a)),
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot analyse the G-code file: no layer information");
            None
        }
    }
}

/// The file being streamed, read lazily line by line, with cancelled objects
/// left out (`gcode::ObjectSkipper` sees every raw line, comments included).
pub struct JobFile {
    reader: BufReader<File>,
    /// Offset of the next byte to read.
    offset: u64,
    buf: Vec<u8>,
    pub lines_read: u64,
    /// Cancelled objects: which moves to leave out, and the fixes after a skipped block.
    pub skipper: ObjectSkipper,
    /// Lines the skipper put in place of the last line read, still to send (with its byte range).
    pending: VecDeque<(String, u64, u64)>,
}

impl JobFile {
    pub fn open(path: &Path) -> std::io::Result<(JobFile, u64)> {
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        Ok((
            JobFile {
                reader: BufReader::with_capacity(64 * 1024, file),
                offset: 0,
                buf: Vec::new(),
                lines_read: 0,
                skipper: ObjectSkipper::new(),
                pending: VecDeque::new(),
            },
            size,
        ))
    }

    /// The next command with its byte range in the file; `None` at the end.
    ///
    /// Local-file reads are short and buffered, so this runs on the link task.
    pub fn next_command(&mut self) -> std::io::Result<Option<(String, u64, u64)>> {
        if let Some(next) = self.pending.pop_front() {
            return Ok(Some(next));
        }
        loop {
            self.buf.clear();
            let start = self.offset;
            let n = self.reader.read_until(b'\n', &mut self.buf)?;
            if n == 0 {
                return Ok(None);
            }
            self.offset += n as u64;
            self.lines_read += 1;
            let raw = self.buf.strip_suffix(b"\n").unwrap_or(&self.buf);
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            match self.skipper.filter(raw) {
                Filtered::Keep => {}
                Filtered::Skip => continue,
                Filtered::Replace(lines) => {
                    self.pending.extend(lines.into_iter().map(|l| (l, start, self.offset)));
                    match self.pending.pop_front() {
                        Some(next) => return Ok(Some(next)),
                        None => continue,
                    }
                }
            }
            if let Some(cmd) = clean_line(&self.buf) {
                return Ok(Some((cmd.into_owned(), start, self.offset)));
            }
        }
    }
}

/// Progress of one job, whichever mode runs it.
pub struct Job {
    pub path: Option<PathBuf>,
    pub name: String,
    pub size: Option<u64>,
    pub file: Option<JobFile>,
    pub modal: Modal,
    pub index: Option<Arc<dyn LayerIndex>>,
    /// The analysis behind `index`, published to the daemon.
    analysis: Option<Arc<Analysis>>,
    /// Start offset of the line the printer is executing (last acknowledged).
    pub position: Option<u64>,
    /// Nozzle height reported by the printer (monitor mode).
    pub reported_z: Option<f32>,
    /// Progress reported by the firmware (`M73`), 0..=1.
    pub reported_progress: Option<f32>,
    started: Instant,
    paused_since: Option<Instant>,
    paused_total: Duration,
    ended: Option<Instant>,
}

impl Job {
    pub fn new(name: String, path: Option<PathBuf>, size: Option<u64>, file: Option<JobFile>, now: Instant) -> Self {
        Job {
            path,
            name,
            size,
            file,
            modal: Modal::default(),
            index: None,
            analysis: None,
            position: None,
            reported_z: None,
            reported_progress: None,
            started: now,
            paused_since: None,
            paused_total: Duration::ZERO,
            ended: None,
        }
    }

    /// Takes the analysis of this job's file: layer lookups from now on, and
    /// what the link publishes.
    pub fn set_analysis(&mut self, analysis: Arc<Analysis>) {
        self.index = Some(analysis.clone());
        self.analysis = Some(analysis);
    }

    /// The analysis of this job's file as `PrinterLink::analysis` publishes it
    /// (named and sized as the job's snapshot is, so the two match).
    pub fn file_analysis(&self) -> Option<FileAnalysis> {
        let analysis = self.analysis.clone()?;
        Some(FileAnalysis { file: self.name.clone(), size: self.size, analysis })
    }

    pub fn set_paused(&mut self, paused: bool, now: Instant) {
        match (paused, self.paused_since) {
            (true, None) => self.paused_since = Some(now),
            (false, Some(since)) => {
                self.paused_total += now.duration_since(since);
                self.paused_since = None;
            }
            _ => {}
        }
    }

    pub fn end(&mut self, now: Instant) {
        self.set_paused(false, now);
        self.ended.get_or_insert(now);
    }

    /// Time spent printing (pauses excluded).
    pub fn elapsed(&self, now: Instant) -> Duration {
        let end = self.ended.or(self.paused_since).unwrap_or(now);
        end.duration_since(self.started).saturating_sub(self.paused_total)
    }

    pub fn snapshot(&self, now: Instant) -> PrintJob {
        let z_now = self.reported_z.or(self.modal.z);
        let (layer, z) = match (&self.index, self.position) {
            (Some(ix), Some(off)) => match ix.layer_at_offset(off) {
                Some((l, z)) => (Some(l), Some(z)),
                None => (None, z_now),
            },
            (Some(ix), None) => match z_now.and_then(|z| ix.layer_at_z(z)) {
                Some((l, z)) => (Some(l), Some(z)),
                None => (None, z_now),
            },
            (None, _) => (None, z_now),
        };
        let progress = match (self.position, self.size) {
            (Some(p), Some(s)) if s > 0 => Some((p as f64 / s as f64).clamp(0.0, 1.0) as f32),
            _ => self.reported_progress,
        };
        PrintJob {
            file: self.name.clone(),
            layer,
            layer_count: self.index.as_ref().map(|ix| ix.layer_count()),
            z,
            progress,
            file_position: self.position,
            file_size: self.size,
            elapsed: Some(self.elapsed(now)),
            feature: match (&self.index, self.position) {
                (Some(ix), Some(off)) => ix.feature_at_offset(off),
                _ => None,
            },
        }
    }
}

/// Finds the local copy of an SD file: same size, preferring a name match
/// (SD names are often 8.3 upper case, so names are compared loosely).
pub fn find_local_copy(dir: &Path, sd_name: &str, size: u64) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    let stem = |s: &str| {
        let s = s.rsplit('/').next().unwrap_or(s).to_ascii_lowercase();
        let s = s.split('.').next().unwrap_or("").to_string();
        s.split('~').next().unwrap_or("").to_string()
    };
    let want = stem(sd_name);
    let mut by_size = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        if e.metadata().is_ok_and(|m| m.is_file() && m.len() == size) {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !want.is_empty() && stem(&name).starts_with(&want) {
                return Some(path);
            }
            by_size.push(path);
        }
    }
    (by_size.len() == 1).then(|| by_size.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl LayerIndex for Fixed {
        fn layer_count(&self) -> u32 {
            3
        }
        fn layer_at_offset(&self, offset: u64) -> Option<(u32, f32)> {
            Some(((offset / 100) as u32, 0.2 * ((offset / 100) as f32 + 1.0)))
        }
        fn layer_at_z(&self, z: f32) -> Option<(u32, f32)> {
            Some(((z / 0.2).round() as u32 - 1, z))
        }
        fn feature_at_offset(&self, _: u64) -> Option<String> {
            Some("perimeter".into())
        }
    }

    #[test]
    fn reads_commands_with_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.gcode");
        std::fs::write(&path, "; header\nG28\n\nG1 X1 ; move\r\nM400").unwrap();
        let (mut f, size) = JobFile::open(&path).unwrap();
        assert_eq!(size, 32);
        let mut got = Vec::new();
        while let Some(c) = f.next_command().unwrap() {
            got.push(c);
        }
        assert_eq!(
            got,
            vec![
                ("G28".to_string(), 9, 13),
                ("G1 X1".to_string(), 14, 28),
                ("M400".to_string(), 28, 32)
            ]
        );
        assert_eq!(f.lines_read, 5);
    }

    #[test]
    fn snapshot_maps_offset_to_layer_and_excludes_pauses() {
        tokio_test_clock(|t0| {
            let mut job = Job::new("a.gcode".into(), None, Some(1000), None, t0);
            job.index = Some(Arc::new(Fixed));
            job.position = Some(250);
            job.set_paused(true, t0 + Duration::from_secs(10));
            job.set_paused(false, t0 + Duration::from_secs(25));
            let s = job.snapshot(t0 + Duration::from_secs(30));
            assert_eq!(s.layer, Some(2));
            assert_eq!(s.layer_count, Some(3));
            assert_eq!(s.progress, Some(0.25));
            assert_eq!(s.elapsed, Some(Duration::from_secs(15)));
            assert_eq!(s.feature.as_deref(), Some("perimeter"));
            // Monitor mode without offsets: Z decides.
            job.position = None;
            job.reported_z = Some(0.4);
            assert_eq!(job.snapshot(t0).layer, Some(1));
        });
    }

    fn tokio_test_clock(f: impl FnOnce(Instant)) {
        f(Instant::now());
    }

    #[test]
    fn local_copy_by_size_and_loose_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("benchy_0.2mm.gcode"), vec![b'x'; 100]).unwrap();
        std::fs::write(dir.path().join("cube.gcode"), vec![b'x'; 100]).unwrap();
        std::fs::write(dir.path().join("other.gcode"), vec![b'x'; 50]).unwrap();
        let found = |name: &str, size| {
            find_local_copy(dir.path(), name, size).map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        };
        assert_eq!(found("BENCHY~1.GCO", 100).as_deref(), Some("benchy_0.2mm.gcode"));
        assert_eq!(found("cube.gcode", 100).as_deref(), Some("cube.gcode"));
        assert_eq!(
            found("whatever.gco", 50).as_deref(),
            Some("other.gcode"),
            "unique size wins"
        );
        assert_eq!(found("whatever.gco", 100), None, "ambiguous size without a name match");
        assert_eq!(found("x", 7), None);
    }
}
