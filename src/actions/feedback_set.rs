//! The local feedback dataset: frames the owner marked "not a failure",
//! written as a labelled-images set (`labels.csv` with `path,label,failure,…`
//! plus `images/`) under `<data_dir>/feedback/`, which `eval` and retraining
//! read like any other labelled set. Appends only; never rewrites a row.
//!
//! The engine writes it when it carries out `UserCommand::NotAFailure`: the
//! incident's snapshot and the frames that were judged above `Ok` while the
//! incident was open ([`FlaggedFrames`]), the hardest negatives there are.

use std::collections::VecDeque;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::Serialize;

use crate::domain::{Frame, FrameImage, Timestamp};
use crate::store::IncidentId;

/// Header of `labels.csv`.
pub const HEADER: &str = "path,label,failure,source,split,incident,captured_at\n";

/// Flagged frames the engine keeps (JPEG only, shared bytes): a bound on memory.
pub const FLAGGED_FRAMES: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("no data directory is configured")]
    NoDataDir,
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// What a "not a failure" saved, as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum DatasetOutcome {
    Saved { labels: PathBuf, images: usize },
    Failed { error: String },
}

/// One image to save.
#[derive(Debug, Clone)]
pub struct Image {
    pub name: String,
    pub captured_at: Timestamp,
    pub jpeg: Bytes,
}

#[derive(Debug, Clone)]
struct Flagged {
    incident: Option<IncidentId>,
    seq: u64,
    captured_at: Timestamp,
    jpeg: Bytes,
}

/// The latest frames judged above `Ok`, each with the incident open when it
/// was judged; the oldest go first.
#[derive(Debug, Default)]
pub struct FlaggedFrames {
    frames: VecDeque<Flagged>,
}

impl FlaggedFrames {
    /// Keeps `frame` (JPEG frames only: raw frames are not re-encoded).
    pub fn push(&mut self, frame: &Frame, incident: Option<IncidentId>) {
        let FrameImage::Jpeg(jpeg) = &frame.image else { return };
        if self.frames.len() == FLAGGED_FRAMES {
            self.frames.pop_front();
        }
        self.frames.push_back(Flagged { incident, seq: frame.seq, captured_at: frame.captured_at, jpeg: jpeg.clone() });
    }

    /// The kept frames judged while `incident` was open, oldest first.
    pub fn of_incident(&self, incident: IncidentId) -> Vec<Image> {
        self.frames
            .iter()
            .filter(|f| f.incident == Some(incident))
            .map(|f| Image {
                name: format!("incident{incident}-frame{}.jpg", f.seq),
                captured_at: f.captured_at,
                jpeg: f.jpeg.clone(),
            })
            .collect()
    }
}

/// Writes `images` labelled `normal` into `<data_dir>/feedback/` (off the runtime).
pub async fn save(data_dir: Option<&Path>, incident: IncidentId, images: Vec<Image>) -> DatasetOutcome {
    let r = match data_dir {
        None => Err(DatasetError::NoDataDir),
        Some(d) => {
            let dir = d.join("feedback");
            tokio::task::spawn_blocking(move || write(&dir, incident, &images)).await.unwrap_or_else(|e| {
                Err(DatasetError::Write { path: PathBuf::from("feedback"), source: std::io::Error::other(e) })
            })
        }
    };
    match r {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(incident, error = %e, "cannot save the feedback frames");
            DatasetOutcome::Failed { error: e.to_string() }
        }
    }
}

fn write(dir: &Path, incident: IncidentId, images: &[Image]) -> Result<DatasetOutcome, DatasetError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DatasetError::Write { path, source }
    };
    let img_dir = dir.join("images");
    std::fs::create_dir_all(&img_dir).map_err(err(&img_dir))?;
    let labels = dir.join("labels.csv");
    let fresh = !labels.exists();
    let mut rows = String::new();
    if fresh {
        rows.push_str(HEADER);
    }
    let mut n = 0;
    for im in images {
        let path = img_dir.join(&im.name);
        if path.exists() {
            continue;
        }
        std::fs::write(&path, &im.jpeg).map_err(err(&path))?;
        rows.push_str(&format!("images/{},normal,0,feedback,train,{incident},{}\n", im.name, im.captured_at.0));
        n += 1;
    }
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&labels).map_err(err(&labels))?;
    f.write_all(rows.as_bytes()).map_err(err(&labels))?;
    tracing::info!(incident, images = n, labels = %labels.display(), "saved not-a-failure frames");
    Ok(DatasetOutcome::Saved { labels, images: n })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn frame(seq: u64) -> Frame {
        Frame {
            seq,
            captured_at: Timestamp(1000 + seq as i64),
            source: Arc::from("cam"),
            image: FrameImage::Jpeg(Bytes::from(vec![0xff, 0xd8, seq as u8, 0xff, 0xd9])),
        }
    }

    #[test]
    fn flagged_frames_are_bounded_and_kept_per_incident() {
        let mut f = FlaggedFrames::default();
        f.push(&frame(0), None);
        for seq in 1..=FLAGGED_FRAMES as u64 + 2 {
            f.push(&frame(seq), Some(if seq % 2 == 0 { 7 } else { 8 }));
        }
        assert_eq!(f.frames.len(), FLAGGED_FRAMES);
        let seven: Vec<_> = f.of_incident(7).iter().map(|i| i.name.clone()).collect();
        assert_eq!(
            seven,
            ["incident7-frame4.jpg", "incident7-frame6.jpg", "incident7-frame8.jpg", "incident7-frame10.jpg"]
        );
        assert!(f.of_incident(9).is_empty());
    }

    #[tokio::test]
    async fn saving_appends_rows_once_and_says_why_it_cannot() {
        let d = tempfile::tempdir().unwrap();
        let mut f = FlaggedFrames::default();
        f.push(&frame(1), Some(3));
        f.push(&frame(2), Some(3));
        let out = save(Some(d.path()), 3, f.of_incident(3)).await;
        assert_eq!(out, DatasetOutcome::Saved { labels: d.path().join("feedback/labels.csv"), images: 2 });
        // The same frames again: nothing is written twice.
        let again = save(Some(d.path()), 3, f.of_incident(3)).await;
        assert!(matches!(again, DatasetOutcome::Saved { images: 0, .. }), "{again:?}");
        let labels = std::fs::read_to_string(d.path().join("feedback/labels.csv")).unwrap();
        assert_eq!(
            labels,
            format!(
                "{HEADER}images/incident3-frame1.jpg,normal,0,feedback,train,3,1001\n\
                 images/incident3-frame2.jpg,normal,0,feedback,train,3,1002\n"
            )
        );
        assert_eq!(
            save(None, 3, vec![]).await,
            DatasetOutcome::Failed { error: "no data directory is configured".into() }
        );
        // A file where the folder should be: the error names the path.
        let blocked = tempfile::tempdir().unwrap();
        std::fs::write(blocked.path().join("feedback"), "x").unwrap();
        let DatasetOutcome::Failed { error } = save(Some(blocked.path()), 3, f.of_incident(3)).await else {
            panic!("a file in the way must fail")
        };
        assert!(error.contains("feedback/images"), "{error}");
    }
}
