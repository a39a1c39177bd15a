//! The local feedback dataset: frames the owner marked "not a failure",
//! written as a labelled-images set (`labels.csv` with `path,label,failure,…`
//! plus `images/`) under `<data_dir>/feedback/`, which `eval` and retraining
//! read like any other labelled set. Appends only; never rewrites a row.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::server::WebState;
use crate::store::{IncidentId, SnapshotId};

/// Header of `labels.csv`.
pub const HEADER: &str = "path,label,failure,source,split,incident,captured_at\n";

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("no data directory is configured")]
    NoDataDir,
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// What was saved.
#[derive(Debug, Clone, Serialize)]
pub struct Saved {
    pub labels: PathBuf,
    pub images: usize,
}

struct Image {
    name: String,
    captured_at: i64,
    jpeg: Vec<u8>,
}

/// The incident's snapshot and the latest judged frames, labelled `normal`.
pub async fn save_not_a_failure(st: &WebState, incident: IncidentId) -> Result<Saved, DatasetError> {
    let dir = st.data_dir.clone().ok_or(DatasetError::NoDataDir)?.join("feedback");
    let mut images = Vec::new();
    if let Some(store) = &st.store
        && let Ok(Some(row)) = store.incident(incident).await
        && let Some(sid) = row.snapshot_id.as_deref().and_then(|s| SnapshotId::parse(s).ok())
        && let Ok(Some(jpeg)) = store.read_snapshot(&sid).await
    {
        images.push(Image { name: format!("incident{incident}-snapshot.jpg"), captured_at: row.opened_at.0, jpeg });
    }
    for f in st.status.live_frames() {
        images.push(Image {
            name: format!("incident{incident}-frame{}.jpg", f.seq),
            captured_at: f.captured_at.0,
            jpeg: f.jpeg.to_vec(),
        });
    }
    tokio::task::spawn_blocking(move || write(&dir, incident, &images)).await.unwrap_or_else(|e| {
        Err(DatasetError::Write { path: PathBuf::from("feedback"), source: std::io::Error::other(e) })
    })
}

fn write(dir: &Path, incident: IncidentId, images: &[Image]) -> Result<Saved, DatasetError> {
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
        rows.push_str(&format!("images/{},normal,0,feedback,train,{incident},{}\n", im.name, im.captured_at));
        n += 1;
    }
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&labels).map_err(err(&labels))?;
    f.write_all(rows.as_bytes()).map_err(err(&labels))?;
    tracing::info!(incident, images = n, labels = %labels.display(), "saved not-a-failure frames");
    Ok(Saved { labels, images: n })
}
