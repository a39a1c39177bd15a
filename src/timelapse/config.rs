//! `[timelapse]` section: whether each print gets a time-lapse, how it is
//! encoded, and how many are kept.

use serde::{Deserialize, Serialize};

use crate::config_issues::Issues;

/// Which program writes the MP4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EncoderChoice {
    /// `ffmpeg` (H.264, plays in every browser) when it is on `PATH`, else OpenCV.
    Auto,
    /// OpenCV's `VideoWriter` (H.264 `avc1` where the OpenCV build can, else MPEG-4 part 2 `mp4v`).
    Opencv,
    /// The `ffmpeg` program on `PATH` (H.264 with libx264).
    Ffmpeg,
}

/// `[timelapse]`: one frame per layer change, an MP4 when the print ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimelapseConfig {
    pub enabled: bool,
    /// Frames per second of the video (one frame is one layer).
    pub fps: u32,
    /// At most this many frames per print, spread evenly over the print: past it,
    /// every second frame is dropped and only every second layer kept from then on,
    /// so disk use stays bounded whatever the G-code claims.
    pub max_frames: u32,
    pub encoder: EncoderChoice,
    /// Keep at most this many time-lapses (0: no limit). The newest is always kept.
    pub keep_count: u32,
    /// Keep at most this many mebibytes of time-lapses (0: no limit).
    pub keep_mb: u32,
    /// Delete time-lapses older than this many days (0: never).
    pub keep_days: u32,
}

impl Default for TimelapseConfig {
    fn default() -> Self {
        TimelapseConfig {
            enabled: false,
            fps: 15,
            max_frames: 600,
            encoder: EncoderChoice::Auto,
            keep_count: 50,
            keep_mb: 2_000,
            keep_days: 90,
        }
    }
}

impl TimelapseConfig {
    pub fn validate(&self, p: &str, out: &mut Issues) {
        out.range(format!("{p}.fps"), self.fps, 1, 60);
        out.range(format!("{p}.max_frames"), self.max_frames, 2, 100_000);
        out.range(format!("{p}.keep_count"), self.keep_count, 0, 1_000_000);
        out.range(format!("{p}.keep_mb"), self.keep_mb, 0, 10_000_000);
        out.range(format!("{p}.keep_days"), self.keep_days, 0, 36_500);
    }

    /// The retention limits, in the units `retention` works in.
    pub fn limits(&self) -> super::Limits {
        super::Limits {
            max_count: self.keep_count,
            max_bytes: u64::from(self.keep_mb) * 1024 * 1024,
            max_age_ms: i64::from(self.keep_days) * 86_400_000,
        }
    }
}
