//! Snapshot files under `<data_dir>/snapshots/<id>.jpg`, indexed in the
//! `snapshots` table, with retention by count and bytes, oldest first.
//!
//! A snapshot that an undelivered alert (pending or sending) refers to is never
//! deleted, even over the limits: the alert needs it. Files are written to a
//! temporary name and renamed, so a crash never leaves half a JPEG behind.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use rand::RngExt;
use rusqlite::{Connection, params};
use serde::Serialize;

use super::error::SqlContext;
use super::{IncidentId, Store, StoreError, query_rows};
use crate::domain::Timestamp;

/// A validated snapshot id: 1–64 characters of `[0-9A-Za-z_-]`, so it is safe in
/// a file name and a URL (`/api/snapshots/{id}.jpg`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct SnapshotId(String);

impl SnapshotId {
    pub fn parse(s: &str) -> Result<SnapshotId, StoreError> {
        let ok =
            !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok { Ok(SnapshotId(s.to_string())) } else { Err(StoreError::BadSnapshotId(s.to_string())) }
    }

    fn generate(at: Timestamp) -> SnapshotId {
        SnapshotId(format!("{}-{:08x}", at.millis(), rand::rng().random::<u32>()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a retention pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    pub deleted: u32,
    pub freed_bytes: u64,
    /// Over the limits but kept because an undelivered alert refers to them.
    pub kept_for_alerts: u32,
    pub remaining: u32,
    pub remaining_bytes: u64,
}

fn file_of(dir: &Path, id: &SnapshotId) -> PathBuf {
    dir.join(format!("{id}.jpg"))
}

impl Store {
    /// Writes a JPEG, indexes it, then applies retention. Returns its id.
    pub async fn save_snapshot(
        &self,
        jpeg: Vec<u8>,
        at: Timestamp,
        incident: Option<IncidentId>,
    ) -> Result<SnapshotId, StoreError> {
        self.call(move |c, inner| {
            let id = SnapshotId::generate(at);
            let path = file_of(&inner.snapshots_dir, &id);
            let tmp = path.with_extension("jpg.tmp");
            let io = |source| StoreError::SnapshotIo { path: path.clone(), source };
            std::fs::write(&tmp, &jpeg).map_err(io)?;
            std::fs::rename(&tmp, &path).map_err(io)?;
            c.execute(
                "INSERT INTO snapshots (id, created_at, bytes, incident_id) VALUES (?1, ?2, ?3, ?4)",
                params![id.as_str(), at.millis(), jpeg.len() as i64, incident],
            )
            .op("insert snapshot")?;
            let report = enforce_retention(c, &inner.snapshots_dir, &inner.cfg.snapshots)?;
            if report.deleted > 0 || report.kept_for_alerts > 0 {
                tracing::debug!(?report, "snapshot retention");
            }
            Ok(id)
        })
        .await
    }

    /// The JPEG bytes, or `None` when retention deleted it (or it never existed).
    pub async fn read_snapshot(&self, id: &SnapshotId) -> Result<Option<Vec<u8>>, StoreError> {
        let id = id.clone();
        self.call(move |_, inner| {
            let path = file_of(&inner.snapshots_dir, &id);
            match std::fs::read(&path) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(StoreError::SnapshotIo { path, source }),
            }
        })
        .await
    }

    /// Where a snapshot's file is (or would be).
    pub fn snapshot_path(&self, id: &SnapshotId) -> PathBuf {
        file_of(&self.inner.snapshots_dir, id)
    }

    /// Applies the retention limits now.
    pub async fn enforce_snapshot_retention(&self) -> Result<RetentionReport, StoreError> {
        self.call(|c, inner| enforce_retention(c, &inner.snapshots_dir, &inner.cfg.snapshots)).await
    }
}

fn enforce_retention(
    c: &mut Connection,
    dir: &Path,
    limits: &super::SnapshotRetention,
) -> Result<RetentionReport, StoreError> {
    let op = "snapshot retention";
    let rows: Vec<(String, i64)> =
        query_rows(c, op, "SELECT id, bytes FROM snapshots ORDER BY created_at, id", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let referenced: HashSet<String> = query_rows(
        c,
        op,
        "SELECT DISTINCT snapshot_id FROM outbox WHERE state IN ('pending', 'sending') AND snapshot_id IS NOT NULL",
        [],
        |r| r.get(0),
    )?;
    let mut count = rows.len() as u64;
    let mut bytes: u64 = rows.iter().map(|(_, b)| (*b).max(0) as u64).sum();
    let mut report = RetentionReport::default();
    for (id, b) in &rows {
        if count <= u64::from(limits.max_count) && bytes <= limits.max_bytes() {
            break;
        }
        if referenced.contains(id) {
            report.kept_for_alerts += 1;
            continue;
        }
        let path = dir.join(format!("{id}.jpg"));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(StoreError::SnapshotIo { path, source }),
        }
        c.execute("DELETE FROM snapshots WHERE id = ?1", [id]).op(op)?;
        count -= 1;
        bytes -= (*b).max(0) as u64;
        report.deleted += 1;
        report.freed_bytes += (*b).max(0) as u64;
    }
    report.remaining = count as u32;
    report.remaining_bytes = bytes;
    Ok(report)
}

/// At start-up: removes half-written files, indexes JPEGs the table does not
/// know (a crash between writing and indexing), drops rows whose file is gone.
pub(super) fn register_orphans(c: &Connection, dir: &Path) -> Result<(), StoreError> {
    let op = "snapshot index";
    let known: HashSet<String> = query_rows(c, op, "SELECT id FROM snapshots", [], |r| r.get(0))?;
    let entries = std::fs::read_dir(dir).map_err(|source| StoreError::SnapshotIo { path: dir.into(), source })?;
    let mut on_disk = HashSet::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") {
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(file = %path.display(), error = %e, "cannot remove a half-written snapshot");
            }
            continue;
        }
        let Some(stem) = name.strip_suffix(".jpg") else { continue };
        let Ok(id) = SnapshotId::parse(stem) else { continue };
        on_disk.insert(id.0.clone());
        if !known.contains(&id.0) {
            let meta = entry.metadata().map_err(|source| StoreError::SnapshotIo { path: path.clone(), source })?;
            let created = meta
                .modified()
                .ok()
                .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_millis() as i64);
            c.execute(
                "INSERT OR IGNORE INTO snapshots (id, created_at, bytes) VALUES (?1, ?2, ?3)",
                params![id.as_str(), created, meta.len() as i64],
            )
            .op(op)?;
        }
    }
    for id in known.difference(&on_disk) {
        c.execute("DELETE FROM snapshots WHERE id = ?1", [id]).op(op)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_safe_in_paths_and_urls() {
        assert!(SnapshotId::parse("1700000000000-0a1b2c3d").is_ok());
        for bad in ["", "../etc/passwd", "a/b", "a.jpg", "x y", &"a".repeat(65)] {
            assert!(SnapshotId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
