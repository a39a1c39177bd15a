//! Time-lapse per print: one frame per layer change, kept on disk and
//! decimated evenly to a bound, encoded into an MP4 when the print ends, and
//! old videos removed by count, size and age.
//!
//! Owns the folder `<data_dir>/timelapses/`: `<print id>.mp4` (served at
//! [`url_path`]) and `frames/<print id>/` while a print records. It knows print
//! ids, not the store: `app` says which print is which.
//!
//! - `config`: `[timelapse]`.
//! - `decimate`: which layer changes keep their frame (pure).
//! - `spool`: one print's frames on disk.
//! - `encode`: frames → MP4 (`ffmpeg` or OpenCV's `VideoWriter`), blocking.
//! - `retention`: which videos to delete (pure).

mod config;
pub mod decimate;
pub mod encode;
pub mod retention;
mod spool;

use std::path::{Path, PathBuf};

pub use config::{EncoderChoice, TimelapseConfig};
pub use encode::{EncodeError, Encoded};
pub use retention::{Limits, Stored};
pub use spool::{Spool, frame_files};

use crate::domain::Timestamp;

/// What went wrong with a time-lapse's files.
#[derive(Debug, thiserror::Error)]
pub enum TimelapseError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// Where a print's time-lapse is served, relative to the web root.
pub fn url_path(print: i64) -> String {
    format!("/api/prints/{print}/timelapse.mp4")
}

/// The folder of time-lapses and their frames. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Library {
    root: PathBuf,
}

impl Library {
    /// The library of a data directory (`<data_dir>/timelapses`).
    pub fn new(data_dir: &Path) -> Library {
        Library { root: data_dir.join("timelapses") }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The MP4 of `print` (which may not exist).
    pub fn video(&self, print: i64) -> PathBuf {
        self.root.join(format!("{print}.mp4"))
    }

    pub fn has_video(&self, print: i64) -> bool {
        self.video(print).is_file()
    }

    pub fn frames_dir(&self, print: i64) -> PathBuf {
        self.root.join("frames").join(print.to_string())
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TimelapseError + '_ {
        move |source| TimelapseError::Io { path: path.into(), source }
    }

    /// Creates the folders and removes half-written videos (a crash while encoding).
    pub fn prepare(&self) -> Result<(), TimelapseError> {
        let frames = self.root.join("frames");
        std::fs::create_dir_all(&frames).map_err(Self::io(&frames))?;
        for entry in std::fs::read_dir(&self.root).map_err(Self::io(&self.root))?.flatten() {
            if entry.file_name().to_string_lossy().ends_with(".tmp.mp4") {
                let p = entry.path();
                std::fs::remove_file(&p).map_err(Self::io(&p))?;
            }
        }
        Ok(())
    }

    /// Prints that have frames waiting (recording, or left by a previous run).
    pub fn spools(&self) -> Result<Vec<i64>, TimelapseError> {
        let dir = self.root.join("frames");
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Self::io(&dir)(e)),
        };
        let mut out: Vec<i64> =
            entries.flatten().filter_map(|e| e.file_name().to_string_lossy().parse::<i64>().ok()).collect();
        out.sort_unstable();
        Ok(out)
    }

    /// Encodes the frames of `print` into its MP4 and removes them. `Ok(None)`
    /// when it had no frame (the folder is removed). Blocking. On an encoding
    /// error the frames stay, so the next start can try again.
    pub fn finish(&self, print: i64, fps: u32, encoder: EncoderChoice) -> Result<Option<Encoded>, TimelapseError> {
        let dir = self.frames_dir(print);
        let frames: Vec<PathBuf> = frame_files(&dir)?.into_iter().map(|(_, p)| p).collect();
        let encoded =
            if frames.is_empty() { None } else { Some(encode::encode(&frames, &self.video(print), fps, encoder)?) };
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Self::io(&dir)(e)),
        }
        Ok(encoded)
    }

    /// Removes the frames of `print` without encoding them.
    pub fn discard(&self, print: i64) -> Result<(), TimelapseError> {
        let dir = self.frames_dir(print);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Self::io(&dir)(e)),
        }
    }

    /// The videos stored now.
    pub fn videos(&self) -> Result<Vec<Stored>, TimelapseError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.root).map_err(Self::io(&self.root))?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(print) = name.strip_suffix(".mp4").and_then(|s| s.parse::<i64>().ok()) else { continue };
            let Ok(meta) = entry.metadata() else { continue };
            let modified = meta
                .modified()
                .ok()
                .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_millis() as i64);
            out.push(Stored { print, bytes: meta.len(), modified: Timestamp::from_millis(modified) });
        }
        Ok(out)
    }

    /// Applies the retention limits; returns the prints whose video was deleted.
    pub fn enforce(&self, limits: Limits, now: Timestamp) -> Result<Vec<i64>, TimelapseError> {
        let doomed = retention::select(&self.videos()?, limits, now);
        for &print in &doomed {
            let p = self.video(print);
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Self::io(&p)(e)),
            }
        }
        Ok(doomed)
    }
}
