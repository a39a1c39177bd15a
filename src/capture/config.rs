//! `[camera]` section.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Issues;

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

/// `[camera]`: where frames come from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CameraConfig {
    pub name: String,
    pub source: SourceKind,
    /// V4L2 device: an index (`"0"`) or a path (`"/dev/video0"`).
    pub device: String,
    /// Stream, snapshot or RTSP URL.
    pub url: String,
    /// Video file or image folder.
    pub path: PathBuf,
    pub width: u32,
    pub height: u32,
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
        }
    }
}

impl CameraConfig {
    pub fn validate(&self, p: &str, out: &mut Issues) {
        out.range(format!("{p}.fps"), self.fps, 1, 120);
        out.range(format!("{p}.width"), self.width, 16, 8192);
        out.range(format!("{p}.height"), self.height, 16, 8192);
        out.range(format!("{p}.interval_ms"), self.interval_ms, 50, 600_000);
        out.range(format!("{p}.queue"), self.queue, 1, 256);
        out.range(format!("{p}.timeout_ms"), self.timeout_ms, 100, 600_000);
        match self.source {
            SourceKind::Mjpeg | SourceKind::Snapshot => {
                if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
                    out.push(format!("{p}.url"), &self.url, "must be an http:// or https:// URL");
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
                if self.device.trim().is_empty() {
                    out.push(format!("{p}.device"), &self.device, "must be an index or a /dev/video path");
                }
            }
        }
    }

    pub fn resolve_paths(&mut self, base: &Path) {
        if self.path.is_relative() && !self.path.as_os_str().is_empty() {
            self.path = base.join(&self.path);
        }
    }
}
