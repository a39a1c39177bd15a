//! `FakeSource`: an in-memory, scripted `FrameSource` for unit tests of other
//! stages (vision, app, web) and of the pump. Not a camera: the real sources
//! are tested against real servers, files and devices.
//!
//! ```
//! # use std::time::Duration;
//! use layerwatch::capture::fake::FakeSource;
//! let src = FakeSource::new("cam")
//!     .jpeg_frames(3, Duration::from_millis(100)) // three frames, 100 ms apart
//!     .bad("truncated")                           // counted as a bad frame
//!     .lost("connection reset")                   // counted as a reconnect
//!     .fatal("device unplugged");                 // then next_frame fails
//! ```

use std::collections::VecDeque;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use super::common::SourceCore;
use super::{CaptureError, FrameSource};
use crate::domain::{Frame, FrameImage, Timestamp};

/// An 8×8 baseline JPEG (a flat blue-grey), decodable by any JPEG decoder.
pub const TINY_JPEG: &[u8] = include_bytes!("tiny.jpg");

/// One scripted step.
#[derive(Debug, Clone)]
pub enum Step {
    /// A frame stamped with `Timestamp::now()`.
    Frame(FrameImage),
    /// A frame with a given capture time (replays).
    FrameAt(Timestamp, FrameImage),
    /// Wait (tokio time, so `start_paused` tests run instantly).
    Sleep(Duration),
    /// A bad frame: counted and skipped.
    Bad(String),
    /// A lost connection: counted as a reconnect and recorded as the last error.
    Lost(String),
    /// `next_frame` returns `CaptureError::Fatal`.
    Fatal(String),
    /// `next_frame` returns `CaptureError::Ended`.
    End,
}

/// What happens when the script runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterScript {
    /// `next_frame` returns `CaptureError::Ended`.
    End,
    /// `next_frame` never returns (a silent camera).
    Hang,
}

/// A scripted source.
#[derive(Debug)]
pub struct FakeSource {
    core: SourceCore,
    script: VecDeque<Step>,
    after: AfterScript,
}

impl FakeSource {
    pub fn new(name: &str) -> Self {
        FakeSource { core: SourceCore::new(name), script: VecDeque::new(), after: AfterScript::End }
    }

    pub fn step(mut self, step: Step) -> Self {
        self.script.push_back(step);
        self
    }

    pub fn frame(self, image: FrameImage) -> Self {
        self.step(Step::Frame(image))
    }

    pub fn frame_at(self, at: Timestamp, image: FrameImage) -> Self {
        self.step(Step::FrameAt(at, image))
    }

    /// `n` copies of [`TINY_JPEG`], each preceded by a wait of `every`.
    pub fn jpeg_frames(mut self, n: usize, every: Duration) -> Self {
        for _ in 0..n {
            if !every.is_zero() {
                self.script.push_back(Step::Sleep(every));
            }
            self.script.push_back(Step::Frame(FrameImage::Jpeg(Bytes::from_static(TINY_JPEG))));
        }
        self
    }

    pub fn sleep(self, d: Duration) -> Self {
        self.step(Step::Sleep(d))
    }

    pub fn bad(self, reason: &str) -> Self {
        self.step(Step::Bad(reason.into()))
    }

    pub fn lost(self, reason: &str) -> Self {
        self.step(Step::Lost(reason.into()))
    }

    pub fn fatal(self, message: &str) -> Self {
        self.step(Step::Fatal(message.into()))
    }

    pub fn end(self) -> Self {
        self.step(Step::End)
    }

    /// Never return once the script is done (default: end).
    pub fn hang_at_end(mut self) -> Self {
        self.after = AfterScript::Hang;
        self
    }

    /// Steps not yet played.
    pub fn remaining(&self) -> usize {
        self.script.len()
    }
}

#[async_trait]
impl FrameSource for FakeSource {
    fn core(&self) -> &SourceCore {
        &self.core
    }

    async fn next_frame(&mut self) -> Result<Frame, CaptureError> {
        loop {
            let Some(step) = self.script.pop_front() else {
                return match self.after {
                    AfterScript::End => Err(CaptureError::Ended),
                    AfterScript::Hang => std::future::pending().await,
                };
            };
            match step {
                Step::Frame(img) => return Ok(self.core.frame(img, Timestamp::now())),
                Step::FrameAt(at, img) => return Ok(self.core.frame(img, at)),
                Step::Sleep(d) => tokio::time::sleep(d).await,
                Step::Bad(reason) => self.core.bad_frame(&reason, &"fake"),
                Step::Lost(reason) => {
                    let stats = self.core.stats();
                    stats.record_error(reason);
                    stats.record_reconnect();
                }
                Step::Fatal(message) => {
                    return Err(CaptureError::Fatal { source_name: self.core.name().to_string(), message });
                }
                Step::End => return Err(CaptureError::Ended),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::jpeg;

    #[test]
    fn tiny_jpeg_is_a_complete_jpeg() {
        assert_eq!(jpeg::check(TINY_JPEG), Ok(TINY_JPEG.len()));
    }

    #[tokio::test(start_paused = true)]
    async fn plays_its_script() {
        let mut s =
            FakeSource::new("cam").jpeg_frames(2, Duration::from_secs(1)).bad("cut").lost("reset").fatal("gone");
        let t0 = tokio::time::Instant::now();
        assert_eq!(s.next_frame().await.unwrap().seq, 0);
        assert_eq!(s.next_frame().await.unwrap().seq, 1);
        assert_eq!(t0.elapsed(), Duration::from_secs(2));
        let err = s.next_frame().await.unwrap_err();
        assert_eq!(err.to_string(), "cam: gone");
        let st = s.stats();
        assert_eq!((st.bad_frames(), st.reconnects()), (1, 1));
        assert!(matches!(s.next_frame().await, Err(CaptureError::Ended)));
    }
}
