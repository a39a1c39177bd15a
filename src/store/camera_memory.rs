//! The `camera_memory` table: each camera's memory of normal frames'
//! failure scores (`decision::CameraMemory`), so the camera-relative reading
//! of scores survives restarts.
//!
//! One row per camera, at most `decision::MEMORY_CAPACITY` scores (a longer
//! list in the file is cut to its newest scores when read). A reset — from
//! the dashboard through the daemon, or from `layerwatch camera-memory reset`
//! straight on the database — empties the row and sets `reset_at`; a running
//! daemon sees a `reset_at` newer than its own last write within one tick and
//! forgets the camera too.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::error::SqlContext;
use super::{Store, StoreError, ts};
use crate::decision::CameraMemory;
use crate::domain::Timestamp;

/// One camera's stored memory, for listings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CameraMemoryRow {
    pub camera: String,
    pub scores: usize,
    pub prints: u32,
    pub corrections: u32,
    /// Median remembered score, when any.
    pub median: Option<f32>,
    pub updated_at: Timestamp,
    pub reset_at: Option<Timestamp>,
}

fn decode(scores: &str) -> Vec<f32> {
    match serde_json::from_str::<Vec<f32>>(scores) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "stored camera memory is unreadable: starting it empty");
            Vec::new()
        }
    }
}

impl Store {
    /// The stored memory of `camera` and when it was last reset (empty when never stored).
    pub async fn camera_memory(&self, camera: &str) -> Result<(CameraMemory, Option<Timestamp>), StoreError> {
        let camera = camera.to_string();
        self.call(move |c, _| {
            let row = c
                .query_row(
                    "SELECT scores, prints, corrections, reset_at FROM camera_memory WHERE camera = ?1",
                    params![camera],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?, r.get::<_, u32>(2)?, r.get(3)?)),
                )
                .optional()
                .op("read camera memory")?;
            Ok(match row {
                Some((scores, prints, corrections, reset_at)) => {
                    let v = decode(&scores);
                    let skip = v.len().saturating_sub(crate::decision::MEMORY_CAPACITY);
                    (CameraMemory::from_scores(v.into_iter().skip(skip), prints, corrections), ts(reset_at))
                }
                None => (CameraMemory::default(), None),
            })
        })
        .await
    }

    /// When `camera`'s memory was last reset, if ever.
    pub async fn camera_memory_reset_at(&self, camera: &str) -> Result<Option<Timestamp>, StoreError> {
        let camera = camera.to_string();
        self.call(move |c, _| {
            let v: Option<Option<i64>> = c
                .query_row("SELECT reset_at FROM camera_memory WHERE camera = ?1", params![camera], |r| r.get(0))
                .optional()
                .op("read camera memory reset")?;
            Ok(ts(v.flatten()))
        })
        .await
    }

    /// Stores `camera`'s memory as of `at`.
    pub async fn save_camera_memory(&self, camera: &str, m: &CameraMemory, at: Timestamp) -> Result<(), StoreError> {
        let camera = camera.to_string();
        let scores = serde_json::to_string(&m.scores().collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into());
        let (prints, corrections) = (m.prints, m.corrections);
        self.call(move |c, _| {
            c.execute(
                "INSERT INTO camera_memory (camera, scores, prints, corrections, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(camera) DO UPDATE SET scores = ?2, prints = ?3, corrections = ?4, updated_at = ?5",
                params![camera, scores, prints, corrections, at.millis()],
            )
            .op("save camera memory")?;
            Ok(())
        })
        .await
    }

    /// Empties the memory of `camera` (every camera with `None`) at `at`. Returns the cameras reset.
    pub async fn reset_camera_memory(&self, camera: Option<&str>, at: Timestamp) -> Result<u64, StoreError> {
        let camera = camera.map(str::to_string);
        self.call(move |c, _| {
            let n = match &camera {
                Some(cam) => c
                    .execute(
                        "INSERT INTO camera_memory (camera, scores, prints, corrections, updated_at, reset_at)
                         VALUES (?1, '[]', 0, 0, ?2, ?2)
                         ON CONFLICT(camera) DO UPDATE SET scores = '[]', prints = 0, corrections = 0,
                             updated_at = ?2, reset_at = ?2",
                        params![cam, at.millis()],
                    )
                    .op("reset camera memory")?,
                None => c
                    .execute(
                        "UPDATE camera_memory SET scores = '[]', prints = 0, corrections = 0, updated_at = ?1, reset_at = ?1",
                        params![at.millis()],
                    )
                    .op("reset camera memories")?,
            };
            Ok(n as u64)
        })
        .await
    }

    /// Every stored camera memory, by camera name.
    pub async fn camera_memories(&self) -> Result<Vec<CameraMemoryRow>, StoreError> {
        self.call(move |c, _| {
            let mut st = c
                .prepare(
                    "SELECT camera, scores, prints, corrections, updated_at, reset_at FROM camera_memory ORDER BY camera",
                )
                .op("list camera memories")?;
            let rows = st
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, u32>(2)?,
                        r.get::<_, u32>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, Option<i64>>(5)?,
                    ))
                })
                .op("list camera memories")?;
            let mut out = Vec::new();
            for row in rows {
                let (camera, scores, prints, corrections, updated, reset) = row.op("list camera memories")?;
                let m = CameraMemory::from_scores(decode(&scores), prints, corrections);
                out.push(CameraMemoryRow {
                    camera,
                    scores: m.len(),
                    prints,
                    corrections,
                    median: m.baseline(0.5),
                    updated_at: Timestamp::from_millis(updated),
                    reset_at: ts(reset),
                });
            }
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreConfig;

    #[tokio::test]
    async fn memory_round_trips_is_bounded_and_resets() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreConfig::default(), dir.path()).await.unwrap();
        let (m, reset) = store.camera_memory("cam").await.unwrap();
        assert!(m.is_empty() && reset.is_none());
        let mut m = CameraMemory::default();
        m.add_print(&[0.2, 0.3, 0.4]);
        m.add_correction(&[0.9]);
        store.save_camera_memory("cam", &m, Timestamp(1000)).await.unwrap();
        let (back, _) = store.camera_memory("cam").await.unwrap();
        assert_eq!(back, m);
        let rows = store.camera_memories().await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].scores, rows[0].prints, rows[0].corrections), (4, 1, 1));

        assert_eq!(store.reset_camera_memory(Some("cam"), Timestamp(2000)).await.unwrap(), 1);
        let (m, reset) = store.camera_memory("cam").await.unwrap();
        assert!(m.is_empty());
        assert_eq!(reset, Some(Timestamp(2000)));
        assert_eq!(store.camera_memory_reset_at("cam").await.unwrap(), Some(Timestamp(2000)));
        assert_eq!(store.camera_memory_reset_at("other").await.unwrap(), None);
    }

    #[tokio::test]
    async fn an_oversized_or_broken_row_is_cut_or_emptied_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreConfig::default(), dir.path()).await.unwrap();
        let big = serde_json::to_string(&vec![0.5f32; 100_000]).unwrap();
        store
            .call(move |c, _| {
                c.execute(
                    "INSERT INTO camera_memory (camera, scores, updated_at) VALUES ('big', ?1, 0), ('bad', 'not json', 0)",
                    params![big],
                )
                .op("test insert")?;
                Ok(())
            })
            .await
            .unwrap();
        let (m, _) = store.camera_memory("big").await.unwrap();
        assert_eq!(m.len(), crate::decision::MEMORY_CAPACITY);
        let (m, _) = store.camera_memory("bad").await.unwrap();
        assert!(m.is_empty());
    }
}
