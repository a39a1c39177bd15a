//! One print's frames on disk while it prints: `<library>/frames/<print>/<index>.jpg`,
//! the indices chosen by [`Decimator`], each file written to a temporary name and
//! renamed. Nothing is held in memory but the indices, so a restart mid-print
//! resumes from the folder.

use std::path::{Path, PathBuf};

use super::decimate::Decimator;
use super::{Library, TimelapseError};

/// The frames of the print being recorded.
#[derive(Debug)]
pub struct Spool {
    print: i64,
    dir: PathBuf,
    decimator: Decimator,
}

impl Spool {
    /// Opens (creating, or resuming what a previous run left) the spool of `print`.
    pub fn open(lib: &Library, print: i64, max_frames: u32) -> Result<Spool, TimelapseError> {
        let dir = lib.frames_dir(print);
        std::fs::create_dir_all(&dir).map_err(|source| TimelapseError::Io { path: dir.clone(), source })?;
        let kept: Vec<u64> = frame_files(&dir)?.into_iter().map(|(i, _)| i).collect();
        let decimator = Decimator::resume(max_frames, kept.clone());
        // Frames a lower `max_frames` no longer allows.
        for i in kept.iter().filter(|i| !decimator.kept().contains(i)) {
            remove(&frame_path(&dir, *i))?;
        }
        Ok(Spool { print, dir, decimator })
    }

    pub fn print(&self) -> i64 {
        self.print
    }

    /// One layer change with its frame: stores it or skips it (decimation).
    /// Returns the index it was stored under.
    pub fn add(&mut self, jpeg: &[u8]) -> Result<Option<u64>, TimelapseError> {
        let push = self.decimator.push();
        if let Some(i) = push.keep {
            let path = frame_path(&self.dir, i);
            let tmp = path.with_extension("jpg.tmp");
            let io = |source| TimelapseError::Io { path: path.clone(), source };
            std::fs::write(&tmp, jpeg).map_err(io)?;
            std::fs::rename(&tmp, &path).map_err(io)?;
        }
        for i in push.evict {
            remove(&frame_path(&self.dir, i))?;
        }
        Ok(push.keep)
    }

    /// Frames stored now.
    pub fn len(&self) -> usize {
        self.decimator.kept().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn frame_path(dir: &Path, i: u64) -> PathBuf {
    dir.join(format!("{i:08}.jpg"))
}

fn remove(path: &Path) -> Result<(), TimelapseError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(TimelapseError::Io { path: path.into(), source }),
    }
}

/// The frames in `dir`, by index. Half-written files (`.tmp`) are removed.
pub fn frame_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, TimelapseError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(TimelapseError::Io { path: dir.into(), source }),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") {
            remove(&path)?;
            continue;
        }
        if let Some(i) = name.strip_suffix(".jpg").and_then(|s| s.parse::<u64>().ok()) {
            out.push((i, path));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spool_stays_bounded_on_disk_and_resumes_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let lib = Library::new(dir.path());
        let mut s = Spool::open(&lib, 7, 4).unwrap();
        for n in 0..5u8 {
            s.add(&[n]).unwrap();
        }
        let on_disk = |lib: &Library| -> Vec<u64> {
            frame_files(&lib.frames_dir(7)).unwrap().into_iter().map(|(i, _)| i).collect()
        };
        assert_eq!(on_disk(&lib), [0, 2, 4]);
        std::fs::write(lib.frames_dir(7).join("00000006.jpg.tmp"), b"half").unwrap();
        drop(s);
        // A restart: the next change (5) is skipped, 6 kept, 8 halves again.
        let mut s = Spool::open(&lib, 7, 4).unwrap();
        assert_eq!(s.len(), 3);
        for n in 5..9u8 {
            s.add(&[n]).unwrap();
        }
        assert_eq!(on_disk(&lib), [0, 4, 8]);
        assert_eq!(std::fs::read(lib.frames_dir(7).join("00000008.jpg")).unwrap(), [8]);
        assert_eq!(lib.spools().unwrap(), [7]);
    }
}
