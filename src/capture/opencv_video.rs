//! RTSP streams and video files through OpenCV's `VideoCapture` (FFmpeg backend:
//! H.264/H.265/MJPEG in MP4, MKV, AVI, RTSP…).
//!
//! OpenCV calls block, so each open stream or file runs on its own thread that
//! sends decoded frames (BGR → `FrameImage::Rgb`) over a small bounded channel.
//! A file thread waits when the channel is full (the consumer sets the pace); an
//! RTSP thread never waits (a live stream must be drained) and counts what it
//! cannot hand over as dropped. A lost RTSP stream ends its thread; the source
//! then backs off and opens a new one. A stalled one (the session open, no
//! frames: FFmpeg's own read timeout does not always fire then) is noticed here
//! when nothing arrives for twice the camera's timeout: the source lets go of
//! that thread (it ends when its call returns) and opens a new stream; at most
//! [`MAX_STUCK_READERS`] such threads may be waiting at once. Files are paced at their recorded frame
//! times or read as fast as taken, and end with `CaptureError::Ended` unless
//! `loop_replay`.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use opencv::core::{Mat, Vector};
use opencv::prelude::*;
use opencv::videoio::{self, VideoCapture};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::common::SourceCore;
use super::reconnect::Reconnector;
use super::stats::CaptureStats;
use super::{CameraConfig, CaptureError, FrameSource, cv, http, rtsp_probe};
use crate::domain::{Frame, FrameImage, RgbImage, Timestamp};

/// Frames in flight between a reader thread and the source.
const CHANNEL: usize = 2;
/// A file that fails this many reads in a row is treated as ended.
const MAX_CONSECUTIVE_READ_ERRORS: u32 = 25;
/// RTSP reader threads given up on (stalled inside FFmpeg) that may still be waiting; no new
/// stream is opened while this many are.
pub const MAX_STUCK_READERS: usize = 3;

#[derive(Debug, Clone)]
enum Target {
    Rtsp { url: String, shown: String, timeout: Duration },
    File { path: PathBuf },
}

/// What a reader thread reports.
#[derive(Debug)]
enum Msg {
    Opened {
        fps: f64,
        frames: f64,
    },
    Frame {
        image: RgbImage,
        offset_ms: f64,
        at: Timestamp,
    },
    Bad(String),
    OpenFailed(String),
    /// RTSP: the stream stopped delivering. Files: end of file.
    End(String),
}

/// A video file or RTSP stream. See the module docs.
#[derive(Debug)]
pub struct OpenCvSource {
    core: SourceCore,
    target: Target,
    pace: bool,
    loop_replay: bool,
    rx: Option<mpsc::Receiver<Msg>>,
    reconnect: Reconnector,
    /// Files: tokio and wall-clock instants of the first frame, for pacing and timestamps.
    start: Option<(Instant, Timestamp)>,
    /// Files: time offset of the current pass (loops), and the last frame's offset in it.
    pass_offset_ms: f64,
    last_offset_ms: f64,
    frame_gap_ms: f64,
    frames_this_pass: u64,
    /// Reader threads still running, the current one included.
    readers: Arc<std::sync::atomic::AtomicUsize>,
}

/// Counts a reader thread while it runs.
struct Running(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl OpenCvSource {
    /// An RTSP stream; `timeout` bounds opening and each read.
    pub fn rtsp(name: &str, url: &str, timeout: Duration, reconnect_max: Duration) -> Self {
        let target = Target::Rtsp { url: url.to_string(), shown: http::redact_str(url), timeout };
        Self::new(name, target, false, false, reconnect_max)
    }

    /// A video file, paced at its frame times (`pace`) or read as fast as taken.
    pub fn video_file(name: &str, path: &Path, pace: bool, loop_replay: bool) -> Result<Self, CaptureError> {
        if !path.is_file() {
            return Err(CaptureError::Fatal {
                source_name: name.to_string(),
                message: format!("video file {} does not exist", path.display()),
            });
        }
        let target = Target::File { path: path.to_path_buf() };
        Ok(Self::new(name, target, pace, loop_replay, Duration::from_secs(1)))
    }

    pub fn from_config(cfg: &CameraConfig) -> Result<Self, CaptureError> {
        match cfg.source {
            super::SourceKind::Rtsp => Ok(Self::rtsp(
                &cfg.name,
                &cfg.url,
                Duration::from_millis(cfg.timeout_ms),
                Duration::from_millis(cfg.reconnect_max_ms),
            )),
            _ => Self::video_file(&cfg.name, &cfg.path, cfg.pace, cfg.loop_replay),
        }
    }

    fn new(name: &str, target: Target, pace: bool, loop_replay: bool, reconnect_max: Duration) -> Self {
        let core = SourceCore::new(name);
        let reconnect = Reconnector::new(core.name_arc(), core.stats(), reconnect_max);
        OpenCvSource {
            core,
            target,
            pace,
            loop_replay,
            rx: None,
            reconnect,
            start: None,
            pass_offset_ms: 0.0,
            last_offset_ms: 0.0,
            frame_gap_ms: 0.0,
            frames_this_pass: 0,
            readers: Arc::default(),
        }
    }

    /// RTSP: how long nothing may arrive before the stream counts as stalled.
    fn stall_after(&self) -> Option<Duration> {
        match &self.target {
            Target::Rtsp { timeout, .. } => Some(*timeout * 2),
            Target::File { .. } => None,
        }
    }

    fn is_file(&self) -> bool {
        matches!(self.target, Target::File { .. })
    }

    fn describe_target(&self) -> String {
        match &self.target {
            Target::Rtsp { shown, .. } => shown.clone(),
            Target::File { path } => path.display().to_string(),
        }
    }

    fn start_reader(&mut self) -> Result<(), CaptureError> {
        let (tx, rx) = mpsc::channel(CHANNEL);
        let target = self.target.clone();
        let stats = self.core.stats();
        let name = format!("capture-{}", self.core.name());
        self.readers.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let running = Running(Arc::clone(&self.readers));
        std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                let _running = running;
                let panic_tx = tx.clone();
                if let Err(p) = std::panic::catch_unwind(AssertUnwindSafe(|| read_loop(&target, &tx, &stats))) {
                    let what =
                        p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned());
                    let _ = panic_tx
                        .blocking_send(Msg::End(format!("reader thread panicked: {}", what.unwrap_or_default())));
                }
            })
            .map_err(|e| CaptureError::Fatal {
                source_name: self.core.name().to_string(),
                message: format!("cannot start a reader thread: {e}"),
            })?;
        self.rx = Some(rx);
        self.frames_this_pass = 0;
        Ok(())
    }

    /// A file pass ended: loop or end.
    fn end_of_file(&mut self) -> Result<(), CaptureError> {
        self.rx = None;
        if !self.loop_replay || self.frames_this_pass == 0 {
            return Err(CaptureError::Ended);
        }
        self.pass_offset_ms += self.last_offset_ms + self.frame_gap_ms.max(1.0);
        Ok(())
    }
}

#[async_trait]
impl FrameSource for OpenCvSource {
    fn core(&self) -> &SourceCore {
        &self.core
    }

    async fn next_frame(&mut self) -> Result<Frame, CaptureError> {
        let stall_after = self.stall_after();
        loop {
            let Some(rx) = self.rx.as_mut() else {
                if self.reconnect.is_down() {
                    self.reconnect.wait().await;
                }
                let stuck = self.readers.load(std::sync::atomic::Ordering::SeqCst);
                if stuck >= MAX_STUCK_READERS {
                    let why = format!(
                        "{stuck} earlier readers of {} are still stuck in FFmpeg; not opening another yet",
                        self.describe_target()
                    );
                    self.reconnect.failed(&why);
                    self.reconnect.wait().await;
                    continue;
                }
                self.start_reader()?;
                continue;
            };
            let msg = match stall_after {
                None => rx.recv().await,
                Some(limit) => match tokio::time::timeout(limit, rx.recv()).await {
                    Ok(msg) => msg,
                    Err(_) => {
                        self.rx = None;
                        let why = format!(
                            "stream {} stopped delivering frames (nothing for {} s)",
                            self.describe_target(),
                            limit.as_secs()
                        );
                        self.reconnect.failed(&why);
                        continue;
                    }
                },
            };
            match msg {
                Some(Msg::Opened { fps, frames }) => {
                    self.frame_gap_ms = if fps.is_finite() && fps > 0.0 { 1000.0 / fps } else { 0.0 };
                    let target = self.describe_target();
                    tracing::debug!(camera = self.core.name(), %target, fps, frames, "video opened");
                }
                Some(Msg::Frame { image, offset_ms, at }) => {
                    self.frames_this_pass += 1;
                    self.reconnect.succeeded();
                    let at = if self.is_file() {
                        self.last_offset_ms = offset_ms;
                        let total = self.pass_offset_ms + offset_ms;
                        let (t0, wall0) = *self.start.get_or_insert_with(|| (Instant::now(), at));
                        if self.pace {
                            tokio::time::sleep_until(t0 + Duration::from_secs_f64(total.max(0.0) / 1000.0)).await;
                        }
                        Timestamp(wall0.millis() + total.round() as i64)
                    } else {
                        at
                    };
                    return Ok(self.core.frame(FrameImage::Rgb(Arc::new(image)), at));
                }
                Some(Msg::Bad(why)) => self.core.bad_frame(&why, &self.describe_target()),
                Some(Msg::OpenFailed(why)) => {
                    self.rx = None;
                    if self.is_file() {
                        return Err(CaptureError::Fatal { source_name: self.core.name().to_string(), message: why });
                    }
                    self.reconnect.failed(&why);
                }
                Some(Msg::End(why)) if !self.is_file() => {
                    self.rx = None;
                    self.reconnect.failed(&why);
                }
                Some(Msg::End(_)) => self.end_of_file()?,
                None => {
                    self.rx = None;
                    let why = "video reader thread stopped unexpectedly";
                    if self.is_file() {
                        return Err(CaptureError::Fatal {
                            source_name: self.core.name().to_string(),
                            message: why.into(),
                        });
                    }
                    self.reconnect.failed(&why);
                }
            }
        }
    }
}

/// The body of a reader thread: open, then read until the end, an error or until
/// the source is dropped (the channel closes).
fn read_loop(target: &Target, tx: &mpsc::Sender<Msg>, stats: &CaptureStats) {
    let (cap, is_file, what) = match target {
        Target::File { path } => (VideoCapture::from_file(path, videoio::CAP_ANY), true, path.display().to_string()),
        Target::Rtsp { url, shown, timeout } => {
            let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
            let params = Vector::<i32>::from_slice(&[
                videoio::CAP_PROP_OPEN_TIMEOUT_MSEC,
                ms,
                videoio::CAP_PROP_READ_TIMEOUT_MSEC,
                ms,
            ]);
            (VideoCapture::from_file_with_params(url, videoio::CAP_FFMPEG, &params), false, shown.clone())
        }
    };
    let mut cap = match cap {
        Ok(c) if c.is_opened().unwrap_or(false) => c,
        Ok(_) => {
            let why = match target {
                Target::File { .. } => format!("cannot open video file {what}: unsupported format or corrupt file"),
                Target::Rtsp { url, timeout, .. } => match rtsp_probe::why_not(url, *timeout) {
                    Some(why) => format!("cannot open stream {what}: {why}"),
                    None => format!(
                        "cannot open stream {what}: the camera answers but sent no video it could decode within {} ms \
                         (a slow stream may need a longer camera.timeout_ms)",
                        timeout.as_millis()
                    ),
                },
            };
            let _ = tx.blocking_send(Msg::OpenFailed(why));
            return;
        }
        Err(e) => {
            let _ = tx.blocking_send(Msg::OpenFailed(format!("cannot open {what}: {}", http::redact_str(&e.to_string()))));
            return;
        }
    };
    let fps = cap.get(videoio::CAP_PROP_FPS).unwrap_or(0.0);
    let frames = cap.get(videoio::CAP_PROP_FRAME_COUNT).unwrap_or(0.0);
    if tx.blocking_send(Msg::Opened { fps, frames }).is_err() {
        return;
    }
    let frame_ms = if fps.is_finite() && fps > 0.0 { 1000.0 / fps } else { 0.0 };
    let mut index: u64 = 0;
    let mut last_pos = f64::NEG_INFINITY;
    let mut errors = 0;
    let mut mat = Mat::default();
    loop {
        if tx.is_closed() {
            return;
        }
        match cap.read(&mut mat) {
            Ok(true) if !mat.empty() => {
                errors = 0;
                let at = Timestamp::now();
                let pos = cap.get(videoio::CAP_PROP_POS_MSEC).unwrap_or(f64::NAN);
                // Recorded time when the container has it (variable frame rate), else index / fps.
                let offset_ms = if pos.is_finite() && pos >= 0.0 && (index == 0 || pos > last_pos) {
                    pos
                } else {
                    index as f64 * frame_ms
                };
                last_pos = offset_ms;
                index += 1;
                let msg = match cv::mat_to_rgb(&mat) {
                    Ok(image) => Msg::Frame { image, offset_ms, at },
                    Err(why) => Msg::Bad(why),
                };
                if is_file {
                    if tx.blocking_send(msg).is_err() {
                        return;
                    }
                } else if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(msg) {
                    stats.record_dropped(1);
                }
            }
            Ok(_) => {
                let why = if is_file {
                    "end of file".to_string()
                } else {
                    format!("stream {what} stopped delivering frames")
                };
                let _ = tx.blocking_send(Msg::End(why));
                return;
            }
            Err(e) => {
                errors += 1;
                if errors >= MAX_CONSECUTIVE_READ_ERRORS || !is_file {
                    let _ = tx.blocking_send(Msg::End(format!("read failed: {e}")));
                    return;
                }
                if tx.blocking_send(Msg::Bad(format!("read failed: {e}"))).is_err() {
                    return;
                }
            }
        }
    }
}
