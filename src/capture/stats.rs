//! Live counters of one capture pipeline, shared through an `Arc` between the
//! source (bad frames, reconnects, last error), the pump (frames, drops, fps)
//! and readers (dashboard, metrics, health checks).
//!
//! Everything is an atomic except the last error's text, which sits behind a
//! `std` mutex that is only held to copy a string, never across an `.await`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU32, AtomicU64, Ordering};

use serde::Serialize;

use crate::domain::Timestamp;

/// What the capture stage is doing right now: a closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureState {
    /// Opening the source for the first time.
    Starting,
    /// Frames are arriving.
    Streaming,
    /// The connection was lost (or never came up) and the source is retrying with backoff.
    Reconnecting,
    /// A finite source (file, folder) has no more frames.
    Ended,
    /// The source cannot work (bad device, bad URL); see `last_error`.
    Failed,
    /// Shut down by its cancellation token.
    Stopped,
}

impl CaptureState {
    fn to_u8(self) -> u8 {
        match self {
            CaptureState::Starting => 0,
            CaptureState::Streaming => 1,
            CaptureState::Reconnecting => 2,
            CaptureState::Ended => 3,
            CaptureState::Failed => 4,
            CaptureState::Stopped => 5,
        }
    }

    fn from_u8(v: u8) -> CaptureState {
        match v {
            1 => CaptureState::Streaming,
            2 => CaptureState::Reconnecting,
            3 => CaptureState::Ended,
            4 => CaptureState::Failed,
            5 => CaptureState::Stopped,
            _ => CaptureState::Starting,
        }
    }
}

/// The most recent fault, with when it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastError {
    pub at: Timestamp,
    pub message: String,
}

/// Counters of one capture pipeline. Cheap to update from any thread.
#[derive(Debug)]
pub struct CaptureStats {
    frames: AtomicU64,
    dropped: AtomicU64,
    bad_frames: AtomicU64,
    reconnects: AtomicU64,
    resyncs: AtomicU64,
    junk_bytes: AtomicU64,
    fps_milli: AtomicU32,
    last_frame_ms: AtomicI64,
    state: AtomicU8,
    last_error: Mutex<Option<LastError>>,
}

impl Default for CaptureStats {
    fn default() -> Self {
        CaptureStats::new()
    }
}

/// A point-in-time copy of [`CaptureStats`], for the API, metrics and tests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsSnapshot {
    pub state: CaptureState,
    pub frames: u64,
    pub dropped: u64,
    pub bad_frames: u64,
    pub reconnects: u64,
    pub resyncs: u64,
    pub junk_bytes: u64,
    pub fps: f32,
    pub last_frame_at: Option<Timestamp>,
    pub last_error: Option<LastError>,
}

impl CaptureStats {
    pub fn new() -> Self {
        CaptureStats {
            frames: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            bad_frames: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            resyncs: AtomicU64::new(0),
            junk_bytes: AtomicU64::new(0),
            fps_milli: AtomicU32::new(0),
            last_frame_ms: AtomicI64::new(i64::MIN),
            state: AtomicU8::new(CaptureState::Starting.to_u8()),
            last_error: Mutex::new(None),
        }
    }

    /// Frames the source delivered (good frames only).
    pub fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }

    /// Frames thrown away because the queue to the consumer was full (oldest first),
    /// or because a live source's reader thread could not hand them over.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Parts or files that were not a usable frame (truncated, not JPEG, too large, unreadable).
    pub fn bad_frames(&self) -> u64 {
        self.bad_frames.load(Ordering::Relaxed)
    }

    /// Connection attempts made after the first one.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    /// Parts whose declared length was wrong and which were re-framed on the next boundary.
    pub fn resyncs(&self) -> u64 {
        self.resyncs.load(Ordering::Relaxed)
    }

    /// Bytes of garbage skipped between parts of a stream.
    pub fn junk_bytes(&self) -> u64 {
        self.junk_bytes.load(Ordering::Relaxed)
    }

    /// Frames per second the source delivered over the last measuring window; 0 when
    /// no frame came for more than two seconds.
    pub fn fps(&self) -> f32 {
        let last = self.last_frame_ms.load(Ordering::Relaxed);
        if last == i64::MIN || Timestamp::now().millis().saturating_sub(last) > 2_000 {
            return 0.0;
        }
        self.fps_milli.load(Ordering::Relaxed) as f32 / 1000.0
    }

    pub fn state(&self) -> CaptureState {
        CaptureState::from_u8(self.state.load(Ordering::Relaxed))
    }

    pub fn last_error(&self) -> Option<LastError> {
        match self.last_error.lock() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn last_frame_at(&self) -> Option<Timestamp> {
        let v = self.last_frame_ms.load(Ordering::Relaxed);
        (v != i64::MIN).then_some(Timestamp(v))
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            state: self.state(),
            frames: self.frames(),
            dropped: self.dropped(),
            bad_frames: self.bad_frames(),
            reconnects: self.reconnects(),
            resyncs: self.resyncs(),
            junk_bytes: self.junk_bytes(),
            fps: self.fps(),
            last_frame_at: self.last_frame_at(),
            last_error: self.last_error(),
        }
    }

    pub fn record_frame(&self, at: Timestamp) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        self.last_frame_ms.store(at.millis(), Ordering::Relaxed);
    }

    pub fn record_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }

    pub fn record_bad_frame(&self) {
        self.bad_frames.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_resync(&self) {
        self.resyncs.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_junk(&self, bytes: u64) {
        self.junk_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn set_fps(&self, fps: f32) {
        let milli = (fps.max(0.0) * 1000.0).round().min(u32::MAX as f32) as u32;
        self.fps_milli.store(milli, Ordering::Relaxed);
    }

    pub fn set_state(&self, state: CaptureState) {
        self.state.store(state.to_u8(), Ordering::Relaxed);
    }

    pub fn record_error(&self, message: impl Into<String>) {
        let e = LastError { at: Timestamp::now(), message: message.into() };
        match self.last_error.lock() {
            Ok(mut g) => *g = Some(e),
            Err(poisoned) => *poisoned.into_inner() = Some(e),
        }
    }
}

/// Measures frames per second over windows of about one second.
#[derive(Debug)]
pub(crate) struct FpsMeter {
    window_start: Option<std::time::Instant>,
    count: u32,
}

impl FpsMeter {
    pub(crate) fn new() -> Self {
        FpsMeter { window_start: None, count: 0 }
    }

    /// Counts one frame at `now`; returns the rate when a window closes.
    pub(crate) fn tick(&mut self, now: std::time::Instant) -> Option<f32> {
        let Some(start) = self.window_start else {
            self.window_start = Some(now);
            self.count = 0;
            return None;
        };
        self.count += 1;
        let elapsed = now.saturating_duration_since(start).as_secs_f32();
        if elapsed >= 1.0 {
            let fps = self.count as f32 / elapsed;
            self.window_start = Some(now);
            self.count = 0;
            Some(fps)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn state_round_trips_through_the_atomic() {
        let s = CaptureStats::new();
        for st in [
            CaptureState::Starting,
            CaptureState::Streaming,
            CaptureState::Reconnecting,
            CaptureState::Ended,
            CaptureState::Failed,
            CaptureState::Stopped,
        ] {
            s.set_state(st);
            assert_eq!(s.state(), st);
        }
    }

    #[test]
    fn fps_meter_measures_windows() {
        let mut m = FpsMeter::new();
        let t0 = Instant::now();
        assert_eq!(m.tick(t0), None);
        let mut last = None;
        for i in 1..=20 {
            last = m.tick(t0 + Duration::from_millis(i * 50)).or(last);
        }
        let fps = last.unwrap();
        assert!((fps - 20.0).abs() < 0.01, "{fps}");
    }

    #[test]
    fn fps_reads_zero_when_frames_stop() {
        let s = CaptureStats::new();
        s.set_fps(12.5);
        assert_eq!(s.fps(), 0.0, "no frame yet");
        s.record_frame(Timestamp::now());
        assert_eq!(s.fps(), 12.5);
        s.record_frame(Timestamp(Timestamp::now().millis() - 5_000));
        assert_eq!(s.fps(), 0.0, "last frame too old");
    }

    #[test]
    fn last_error_keeps_the_newest() {
        let s = CaptureStats::new();
        assert!(s.last_error().is_none());
        s.record_error("a");
        s.record_error("b");
        assert_eq!(s.last_error().unwrap().message, "b");
    }
}
