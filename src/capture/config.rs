//! `[camera]` section: where frames come from and how the capture stage paces them.
//!
//! Owns the typed config of the capture stage and its semantic checks; every
//! issue names the key path and the offending value.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config_issues::Issues;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// V4L2/UVC camera through nokhwa (`device` = index or `/dev/videoN`).
    V4l2,
    /// MJPEG-over-HTTP stream (`url`), as served by mjpg-streamer, ustreamer, crowsnest.
    #[default]
    Mjpeg,
    /// A URL that returns one JPEG per request (`url`), polled every `interval_ms`.
    Snapshot,
    /// RTSP stream (`url`) through OpenCV.
    Rtsp,
    /// Video file (`path`) through OpenCV.
    Video,
    /// Folder of images (`path`), replayed in name order.
    Folder,
}

/// Pixel format asked of a V4L2 camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum V4l2Format {
    /// MJPEG when the camera offers it (frames stay encoded), else YUYV.
    #[default]
    Auto,
    /// MJPEG only.
    Mjpeg,
    /// YUYV only (converted to RGB); for cameras whose MJPEG output is broken.
    Yuyv,
}

/// `[camera]`: where frames come from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CameraConfig {
    pub name: String,
    pub source: SourceKind,
    /// V4L2 device: an index (`"0"`) or a path (`"/dev/video0"`, `/dev/v4l/by-id/…`).
    pub device: String,
    /// Stream, snapshot or RTSP URL. `http://user:password@host/…` sends HTTP Basic auth.
    pub url: String,
    /// Video file or image folder.
    pub path: PathBuf,
    pub width: u32,
    pub height: u32,
    /// Frame rate asked of a V4L2 camera; pacing of a folder replay without `frames.csv`.
    pub fps: u32,
    /// How often a frame is handed to the classifier, in milliseconds.
    pub interval_ms: u64,
    /// Frames buffered between capture and vision; the oldest is dropped when full.
    pub queue: usize,
    /// Give up on a silent connection after this long and reconnect.
    pub timeout_ms: u64,
    /// Upper bound of the reconnect backoff.
    pub reconnect_max_ms: u64,
    /// Replay sources start again at the end instead of ending.
    pub loop_replay: bool,
    /// Replay sources (video files, folders) wait between frames as recorded (`true`), or
    /// hand frames over as fast as they are taken (`false`, for offline evaluation).
    pub pace: bool,
    /// Largest accepted frame in bytes; bigger parts are skipped and counted, so junk
    /// cannot eat memory.
    pub max_frame_bytes: usize,
    /// Pixel format asked of a V4L2 camera.
    pub v4l2_format: V4l2Format,
    /// Largest accepted frame in pixels, read from the image header before decoding:
    /// bigger frames (and image files) are skipped and counted, so one cannot exhaust memory.
    pub max_pixels: u64,
    /// This camera's calibration file (`cameras/<printer>.toml`, relative to the config file;
    /// `layerwatch calibrate solve` writes it): with it the daemon runs the geometry checks
    /// (`[decision.geometry]`) and draws the expected print on the dashboard and alert snapshots.
    pub geometry: Option<PathBuf>,
}

impl Default for CameraConfig {
    fn default() -> Self {
        CameraConfig {
            name: "camera".into(),
            source: SourceKind::Mjpeg,
            device: "0".into(),
            url: "http://127.0.0.1:8080/?action=stream".into(),
            path: PathBuf::new(),
            width: 1280,
            height: 720,
            fps: 15,
            interval_ms: 2000,
            queue: 4,
            timeout_ms: 10_000,
            reconnect_max_ms: 30_000,
            loop_replay: false,
            pace: true,
            max_frame_bytes: 16 * 1024 * 1024,
            v4l2_format: V4l2Format::Auto,
            max_pixels: crate::images::DEFAULT_MAX_PIXELS,
            geometry: None,
        }
    }
}

impl CameraConfig {
    pub fn validate(&self, p: &str, out: &mut Issues) {
        if self.name.trim().is_empty() {
            out.push(format!("{p}.name"), &self.name, "must not be empty");
        }
        out.range(format!("{p}.fps"), self.fps, 1, 120);
        out.range(format!("{p}.width"), self.width, 16, 8192);
        out.range(format!("{p}.height"), self.height, 16, 8192);
        out.range(format!("{p}.interval_ms"), self.interval_ms, 50, 600_000);
        out.range(format!("{p}.queue"), self.queue, 1, 256);
        out.range(format!("{p}.timeout_ms"), self.timeout_ms, 100, 600_000);
        out.range(format!("{p}.reconnect_max_ms"), self.reconnect_max_ms, 100, 3_600_000);
        out.range(format!("{p}.max_frame_bytes"), self.max_frame_bytes, 64 * 1024, 256 * 1024 * 1024);
        out.range(format!("{p}.max_pixels"), self.max_pixels, 64 * 64, crate::images::DEFAULT_MAX_PIXELS);
        if let Some(g) = &self.geometry
            && g.as_os_str().is_empty()
        {
            out.push(format!("{p}.geometry"), g, "must name a camera file (cameras/<printer>.toml) or be left out");
        }
        match self.source {
            SourceKind::Mjpeg | SourceKind::Snapshot => {
                if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
                    out.push(format!("{p}.url"), &self.url, "must be an http:// or https:// URL");
                } else if let Err(e) = reqwest::Url::parse(&self.url) {
                    out.push(format!("{p}.url"), &self.url, format!("is not a valid URL: {e}"));
                }
            }
            SourceKind::Rtsp => {
                if !(self.url.starts_with("rtsp://") || self.url.starts_with("rtsps://")) {
                    out.push(format!("{p}.url"), &self.url, "must be an rtsp:// URL");
                }
            }
            SourceKind::Video | SourceKind::Folder => {
                if self.path.as_os_str().is_empty() {
                    out.push(format!("{p}.path"), &self.path, "is required for this source");
                }
            }
            SourceKind::V4l2 => {
                if parse_device(&self.device).is_err() {
                    out.push(format!("{p}.device"), &self.device, "must be an index or a /dev/video path");
                }
            }
        }
    }

    pub fn resolve_paths(&mut self, base: &Path) {
        if self.path.is_relative() && !self.path.as_os_str().is_empty() {
            self.path = base.join(&self.path);
        }
        if let Some(g) = &mut self.geometry
            && g.is_relative()
            && !g.as_os_str().is_empty()
        {
            *g = base.join(&*g);
        }
    }
}

/// `camera.device` as written: an index or a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceRef {
    Index(u32),
    Path(PathBuf),
}

/// Parses `camera.device`: `"0"`, `"/dev/video0"`, `"/dev/v4l/by-id/…"`.
pub fn parse_device(s: &str) -> Result<DeviceRef, String> {
    let s = s.trim();
    if let Ok(i) = s.parse::<u32>() {
        Ok(DeviceRef::Index(i))
    } else if s.starts_with('/') {
        Ok(DeviceRef::Path(PathBuf::from(s)))
    } else {
        Err(format!("{s:?} is neither a device index nor a /dev path"))
    }
}
