//! Recording a live camera (and, when connected, the printer's status stream)
//! into a sequence directory of format (b), with retention limits.
//!
//! One frame per interval (the capture pump samples; the recorder writes what
//! it gets), JPEG bytes as the camera sent them (RGB frames are encoded),
//! `frames/frames.csv` appended per frame, `printer.jsonl` appended per status
//! change, and `manifest.toml` written at the start, every 100 frames and at
//! the end — always atomically, so a stop at any moment (Ctrl-C, SIGTERM,
//! the camera ending) leaves a valid sequence. Limits on frames, bytes and
//! age drop the oldest frames first (in batches, rewriting the CSV once).

use std::collections::VecDeque;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::dataset::manifest::{MANIFEST_FILE, Manifest, Provenance, RecordingInfo, write_atomic};
use super::dataset::sequence::{FRAMES_DIR, PRINTER_JSONL};
use super::error::EvalError;
use crate::capture::CaptureHandle;
use crate::domain::{Frame, FrameImage, PrinterStatus, Timestamp};

/// How and how much to record.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    pub dir: PathBuf,
    pub name: String,
    pub interval: Duration,
    pub max_frames: Option<u64>,
    pub max_bytes: Option<u64>,
    pub max_age: Option<Duration>,
    /// Stop by itself after this long.
    pub max_duration: Option<Duration>,
    pub camera: String,
    pub printer: String,
    /// Copied into the sequence and named in the manifest.
    pub gcode: Option<PathBuf>,
    pub command: String,
}

/// Why recording stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Signal,
    CameraEnded,
    MaxDuration,
}

impl StopReason {
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Signal => "signal",
            StopReason::CameraEnded => "camera_ended",
            StopReason::MaxDuration => "max_duration",
        }
    }
}

/// What a recording did.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordStats {
    pub frames_written: u64,
    pub frames_dropped: u64,
    pub frames_kept: u64,
    pub bytes_kept: u64,
    pub printer_updates: u64,
    pub clock_went_back: u64,
    pub stop: StopReason,
}

struct Kept {
    file: String,
    at: i64,
    bytes: u64,
}

struct Recorder {
    opts: RecordOptions,
    manifest: Manifest,
    frames: VecDeque<Kept>,
    printer: VecDeque<(i64, String)>,
    bytes: u64,
    next_index: u64,
    stats: RecordStats,
    csv: std::fs::File,
    jsonl: std::fs::File,
}

const CSV_HEADER: &str = "file,timestamp_ms\n";

fn open_append(p: &Path) -> Result<std::fs::File, EvalError> {
    std::fs::OpenOptions::new().create(true).append(true).open(p).map_err(|e| EvalError::io(p, e))
}

impl Recorder {
    fn start(opts: RecordOptions) -> Result<Recorder, EvalError> {
        if opts.dir.join(MANIFEST_FILE).exists() {
            return Err(EvalError::invalid(
                format!("--out {}", opts.dir.display()),
                "already holds a recorded sequence (manifest.toml); choose a new folder",
            ));
        }
        let frames_dir = opts.dir.join(FRAMES_DIR);
        std::fs::create_dir_all(&frames_dir).map_err(|e| EvalError::io(&frames_dir, e))?;
        let csv_path = frames_dir.join(crate::capture::folder::FRAMES_CSV);
        std::fs::write(&csv_path, CSV_HEADER).map_err(|e| EvalError::io(&csv_path, e))?;
        let jsonl_path = opts.dir.join(PRINTER_JSONL);
        std::fs::write(&jsonl_path, "").map_err(|e| EvalError::io(&jsonl_path, e))?;
        let interval_ms = opts.interval.as_millis().max(1) as u64;
        let mut manifest = Manifest::new(&opts.name, 1000.0 / interval_ms as f64);
        manifest.camera = opts.camera.clone();
        manifest.printer = opts.printer.clone();
        if let Some(g) = &opts.gcode {
            let name = g.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "print.gcode".into());
            std::fs::copy(g, opts.dir.join(&name)).map_err(|e| EvalError::io(g, e))?;
            manifest.gcode = Some(name);
        }
        manifest.provenance = Provenance {
            created: Timestamp::now().to_rfc3339(),
            tool: format!("layerwatch {} record", env!("CARGO_PKG_VERSION")),
            command: opts.command.clone(),
            ..Default::default()
        };
        manifest.recording = Some(RecordingInfo {
            interval_ms,
            started: Timestamp::now().to_rfc3339(),
            max_frames: opts.max_frames,
            max_bytes: opts.max_bytes,
            max_age_s: opts.max_age.map(|d| d.as_secs()),
            ..Default::default()
        });
        manifest.write(&opts.dir)?;
        Ok(Recorder {
            csv: open_append(&csv_path)?,
            jsonl: open_append(&jsonl_path)?,
            opts,
            manifest,
            frames: VecDeque::new(),
            printer: VecDeque::new(),
            bytes: 0,
            next_index: 0,
            stats: RecordStats {
                frames_written: 0,
                frames_dropped: 0,
                frames_kept: 0,
                bytes_kept: 0,
                printer_updates: 0,
                clock_went_back: 0,
                stop: StopReason::Signal,
            },
        })
    }

    fn write_frame(&mut self, f: &Frame) -> Result<(), EvalError> {
        let bytes = match &f.image {
            FrameImage::Jpeg(b) => b.to_vec(),
            FrameImage::Rgb(rgb) => encode_rgb(rgb).map_err(|e| EvalError::invalid("record", e))?,
        };
        let at = f.captured_at.millis();
        if self.frames.back().is_some_and(|k| at <= k.at) {
            self.stats.clock_went_back += 1;
            tracing::warn!(frame_seq = f.seq, at, "frame timestamp is not after the previous one; recorded anyway");
        }
        if self.manifest.start_ms.is_none() {
            self.manifest.start_ms = Some(at);
        }
        let file = format!("{:08}.jpg", self.next_index);
        self.next_index += 1;
        let path = self.opts.dir.join(FRAMES_DIR).join(&file);
        std::fs::write(&path, &bytes).map_err(|e| EvalError::io(&path, e))?;
        writeln!(self.csv, "{file},{at}").map_err(|e| EvalError::io(&path, e))?;
        self.bytes += bytes.len() as u64;
        self.frames.push_back(Kept { file, at, bytes: bytes.len() as u64 });
        self.stats.frames_written += 1;
        self.enforce_retention(at)?;
        if self.stats.frames_written % 100 == 0 {
            self.write_manifest("")?;
        }
        Ok(())
    }

    fn write_status(&mut self, s: &PrinterStatus) -> Result<(), EvalError> {
        let line = serde_json::to_string(s).map_err(|e| EvalError::invalid("record", e.to_string()))?;
        let p = self.opts.dir.join(PRINTER_JSONL);
        writeln!(self.jsonl, "{line}").map_err(|e| EvalError::io(&p, e))?;
        self.printer.push_back((s.at.millis(), line));
        self.stats.printer_updates += 1;
        Ok(())
    }

    fn over(&self, newest: i64) -> bool {
        let n = self.frames.len() as u64;
        self.opts.max_frames.is_some_and(|m| n > m)
            || self.opts.max_bytes.is_some_and(|m| self.bytes > m)
            || self.opts.max_age.zip(self.frames.front()).is_some_and(|(a, f)| newest - f.at > a.as_millis() as i64)
    }

    /// Drops the oldest frames until within limits, with 5 % headroom so the
    /// CSV is not rewritten on every frame.
    fn enforce_retention(&mut self, newest: i64) -> Result<(), EvalError> {
        if !self.over(newest) {
            return Ok(());
        }
        let target_frames = self.opts.max_frames.map(|m| m - m / 20);
        let target_bytes = self.opts.max_bytes.map(|m| m - m / 20);
        let mut dropped = 0;
        while self.frames.len() > 1
            && (self.over(newest)
                || target_frames.is_some_and(|t| self.frames.len() as u64 > t)
                || target_bytes.is_some_and(|t| self.bytes > t))
        {
            let Some(k) = self.frames.pop_front() else { break };
            let p = self.opts.dir.join(FRAMES_DIR).join(&k.file);
            if let Err(e) = std::fs::remove_file(&p) {
                tracing::warn!(file = %p.display(), error = %e, "cannot delete a dropped frame");
            }
            self.bytes -= k.bytes;
            dropped += 1;
        }
        self.stats.frames_dropped += dropped;
        let oldest = self.frames.front().map_or(newest, |k| k.at);
        // Keep the last status before the oldest frame, so its state is known.
        while self.printer.len() > 1 && self.printer.get(1).is_some_and(|s| s.0 <= oldest) {
            self.printer.pop_front();
        }
        let mut csv = String::from(CSV_HEADER);
        for k in &self.frames {
            csv.push_str(&format!("{},{}\n", k.file, k.at));
        }
        let csv_path = self.opts.dir.join(FRAMES_DIR).join(crate::capture::folder::FRAMES_CSV);
        write_atomic(&csv_path, csv.as_bytes())?;
        self.csv = open_append(&csv_path)?;
        let mut jsonl = String::new();
        for (_, l) in &self.printer {
            jsonl.push_str(l);
            jsonl.push('\n');
        }
        let jsonl_path = self.opts.dir.join(PRINTER_JSONL);
        write_atomic(&jsonl_path, jsonl.as_bytes())?;
        self.jsonl = open_append(&jsonl_path)?;
        tracing::info!(dropped, kept = self.frames.len(), bytes = self.bytes, "retention: oldest frames dropped");
        self.write_manifest("")
    }

    fn write_manifest(&mut self, stop: &str) -> Result<(), EvalError> {
        if let Some(r) = &mut self.manifest.recording {
            r.frames_written = self.stats.frames_written;
            r.frames_dropped = self.stats.frames_dropped;
            r.printer_updates = self.stats.printer_updates;
            if !stop.is_empty() {
                r.stopped = Timestamp::now().to_rfc3339();
                r.stop_reason = stop.to_string();
            }
        }
        self.manifest.write(&self.opts.dir)
    }

    fn finish(mut self, stop: StopReason) -> Result<RecordStats, EvalError> {
        let _ = self.csv.flush();
        let _ = self.jsonl.flush();
        self.stats.stop = stop;
        self.stats.frames_kept = self.frames.len() as u64;
        self.stats.bytes_kept = self.bytes;
        self.write_manifest(stop.name())?;
        Ok(self.stats)
    }
}

fn encode_rgb(rgb: &crate::domain::RgbImage) -> Result<Vec<u8>, String> {
    use opencv::core::{Mat, Vector};
    use opencv::prelude::*;
    let flat = Mat::from_slice(&rgb.data).map_err(|e| e.to_string())?;
    let m = flat.reshape(3, rgb.height as i32).map_err(|e| e.to_string())?;
    let mut bgr = Mat::default();
    opencv::imgproc::cvt_color(&m, &mut bgr, opencv::imgproc::COLOR_RGB2BGR, 0).map_err(|e| e.to_string())?;
    let mut buf = Vector::<u8>::new();
    let params = Vector::<i32>::from_slice(&[opencv::imgcodecs::IMWRITE_JPEG_QUALITY, 85]);
    opencv::imgcodecs::imencode(".jpg", &bgr, &mut buf, &params).map_err(|e| e.to_string())?;
    Ok(buf.as_slice().to_vec())
}

/// Records until `cancel` fires, the camera ends, or `max_duration` passes.
/// `printer` is the printer link's status stream, when one is connected.
pub async fn record(
    frames: &CaptureHandle,
    mut printer: Option<watch::Receiver<PrinterStatus>>,
    opts: RecordOptions,
    cancel: CancellationToken,
) -> Result<RecordStats, EvalError> {
    let mut rec = Recorder::start(opts.clone())?;
    if let Some(p) = &mut printer {
        let s = p.borrow_and_update().clone();
        rec.write_status(&s)?;
    }
    let deadline = opts.max_duration.map(|d| tokio::time::Instant::now() + d);
    let sleep_until = async move {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep_until);
    let stop = loop {
        let printer_changed = async {
            match &mut printer {
                Some(p) => p.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => break StopReason::Signal,
            _ = &mut sleep_until => break StopReason::MaxDuration,
            alive = printer_changed => {
                match (alive, &mut printer) {
                    (true, Some(p)) => {
                        let s = p.borrow_and_update().clone();
                        rec.write_status(&s)?;
                    }
                    _ => {
                        tracing::warn!("printer status stream closed; recording the camera only");
                        printer = None;
                    }
                }
            }
            f = frames.next() => match f {
                Some(f) => rec.write_frame(&f)?,
                None => break if cancel.is_cancelled() { StopReason::Signal } else { StopReason::CameraEnded },
            },
        }
    };
    rec.finish(stop)
}
