//! `[store]` section: where history lives and how much of it to keep.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config_issues::Issues;

/// `[store]`: the database file, the verdict timeline's resolution and retention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Database file; unset means `<general.data_dir>/layerwatch.db`.
    pub path: Option<PathBuf>,
    /// The verdict timeline keeps every change of level and at most one point
    /// (with min/max of the smoothed score) per this many seconds.
    pub timeline_interval_s: u32,
    /// Prints, incidents, timeline and audit rows older than this many days are
    /// deleted at start-up (0 keeps everything). Undelivered alerts are never
    /// deleted. The timeline costs about 6 MB per week of verdicts at the
    /// default interval, so 90 days stay under 100 MB.
    pub history_days: u32,
    /// `[store.snapshots]`: annotated JPEGs under `<data_dir>/snapshots/`.
    pub snapshots: SnapshotRetention,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { path: None, timeline_interval_s: 10, history_days: 90, snapshots: SnapshotRetention::default() }
    }
}

/// `[store.snapshots]`: retention, oldest first. A snapshot that an undelivered
/// alert refers to is never deleted, even over the limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnapshotRetention {
    /// Keep at most this many snapshot files.
    pub max_count: u32,
    /// Keep at most this many mebibytes of snapshot files.
    pub max_mb: u32,
}

impl Default for SnapshotRetention {
    fn default() -> Self {
        SnapshotRetention { max_count: 1_000, max_mb: 500 }
    }
}

impl SnapshotRetention {
    pub fn max_bytes(&self) -> u64 {
        u64::from(self.max_mb) * 1024 * 1024
    }
}

impl StoreConfig {
    pub fn validate(&self, p: &str, out: &mut Issues) {
        out.range(format!("{p}.timeline_interval_s"), self.timeline_interval_s, 1, 3_600);
        out.range(format!("{p}.history_days"), self.history_days, 0, 36_500);
        out.range(format!("{p}.snapshots.max_count"), self.snapshots.max_count, 1, 1_000_000);
        out.range(format!("{p}.snapshots.max_mb"), self.snapshots.max_mb, 1, 1_000_000);
        if let Some(path) = &self.path
            && (path.as_os_str().is_empty() || path.is_dir())
        {
            out.push(format!("{p}.path"), path, "must name a database file, not a directory");
        }
    }

    pub fn resolve_paths(&mut self, base: &Path) {
        if let Some(p) = &mut self.path
            && p.is_relative()
        {
            *p = base.join(&*p);
        }
    }

    /// The database file for a given data directory.
    pub fn db_path(&self, data_dir: &Path) -> PathBuf {
        self.path.clone().unwrap_or_else(|| data_dir.join("layerwatch.db"))
    }
}
