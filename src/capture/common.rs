//! What every source shares: its name, its counters, the per-source frame
//! sequence, the pixel limit checked from a frame's header, and rate-limited
//! logging of bad frames. `FrameSource::core` hands it out, so `name` and
//! `stats` are written once, in the trait.

use std::fmt::Display;
use std::sync::Arc;
use std::time::Instant;

use super::reconnect::LOUD_EVERY;
use super::stats::CaptureStats;
use crate::domain::{Frame, FrameImage, Timestamp};
use crate::net::LogLimiter;

/// Name, counters and sequence numbering of one source.
#[derive(Debug)]
pub struct SourceCore {
    name: Arc<str>,
    stats: Arc<CaptureStats>,
    next_seq: u64,
    bad_log: LogLimiter,
    max_pixels: u64,
}

impl SourceCore {
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        SourceCore {
            name: name.into(),
            stats: Arc::new(CaptureStats::new()),
            next_seq: 0,
            bad_log: LogLimiter::new(LOUD_EVERY),
            max_pixels: crate::images::DEFAULT_MAX_PIXELS,
        }
    }

    /// Frames with more pixels than this are bad frames (`camera.max_pixels`).
    pub fn set_max_pixels(&mut self, max_pixels: u64) {
        self.max_pixels = max_pixels;
    }

    /// [`frame`](Self::frame) after checking the size: a JPEG's from its header
    /// (nothing is decoded), an RGB image's own. Over `max_pixels` or without a
    /// readable header it is counted as a bad frame from `at` instead.
    pub fn checked_frame(&mut self, image: FrameImage, captured_at: Timestamp, at: &dyn Display) -> Option<Frame> {
        let checked = match &image {
            FrameImage::Jpeg(b) => crate::images::check_header(b, self.max_pixels).map(|_| ()).map_err(|e| e.to_string()),
            FrameImage::Rgb(i) if u64::from(i.width) * u64::from(i.height) > self.max_pixels => Err(format!(
                "{}x{} frame is over the limit of {} pixels (camera.max_pixels)",
                i.width, i.height, self.max_pixels
            )),
            FrameImage::Rgb(_) => Ok(()),
        };
        match checked {
            Ok(()) => Some(self.frame(image, captured_at)),
            Err(why) => {
                self.bad_frame(&why, at);
                None
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn name_arc(&self) -> Arc<str> {
        self.name.clone()
    }

    pub fn stats(&self) -> Arc<CaptureStats> {
        self.stats.clone()
    }

    /// Makes the next frame of this source, numbering it.
    pub fn frame(&mut self, image: FrameImage, captured_at: Timestamp) -> Frame {
        let seq = self.next_seq;
        self.next_seq += 1;
        Frame { seq, captured_at, source: self.name.clone(), image }
    }

    /// Makes a frame with an explicit sequence number (replays that number by file
    /// position); later frames continue after it.
    pub fn frame_at_seq(&mut self, seq: u64, image: FrameImage, captured_at: Timestamp) -> Frame {
        self.next_seq = seq.saturating_add(1);
        Frame { seq, captured_at, source: self.name.clone(), image }
    }

    /// Counts a bad frame, makes it the last error, and logs it: the first at warn
    /// level, then at most one warning a minute with the number of bad frames in between.
    pub fn bad_frame(&mut self, reason: &dyn Display, at: &dyn Display) {
        self.stats.record_bad_frame();
        self.stats.record_error(format!("bad frame from {at}: {reason}"));
        let total = self.stats.bad_frames();
        let camera = &*self.name;
        match self.bad_log.check(Instant::now()) {
            Some(suppressed) => {
                tracing::warn!(camera, reason = %reason, at = %at, total, suppressed, "bad frame skipped")
            }
            None => tracing::debug!(camera, reason = %reason, at = %at, total, "bad frame skipped"),
        }
    }
}
