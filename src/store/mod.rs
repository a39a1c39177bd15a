//! History in an embedded SQLite database, snapshots on disk.
//!
//! Owns the schema and its migrations, prints, incidents, the downsampled
//! verdict timeline, the alert outbox rows and the action audit log, snapshot
//! retention, and closing incidents left open by a crash at start-up.
//!
//! `rusqlite` is synchronous: every call runs on tokio's blocking pool
//! (`spawn_blocking`) against one connection behind a mutex, so the async
//! runtime never waits on the disk. `Store` is an `Arc` and cheap to clone.
//! Must not depend on `actions`, `printer` or `web`: they depend on it.

mod audit;
mod camera_memory;
mod config;
mod error;
mod incidents;
mod outbox;
mod prints;
pub mod schema;
mod snapshots;
mod timeline;
pub mod types;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, params};

pub use audit::{AuditEntry, AuditRow, FeedbackEntry, FeedbackRow};
pub use camera_memory::CameraMemoryRow;
pub use config::{SnapshotRetention, StoreConfig};
pub use error::StoreError;
pub use incidents::{IncidentRow, NewIncident};
pub use outbox::{AttemptOutcome, AttemptRow, Enqueued, NewOutboxRow, OutboxBacklog, OutboxRow, RateLimit, RateWindow};
pub use prints::PrintRow;
pub use schema::MigrationReport;
pub use snapshots::{RetentionReport, SnapshotId};
pub use timeline::{TimelinePoint, TimelineSampler};
pub use types::*;

use crate::domain::Timestamp;
use error::SqlContext;

/// Handle to the database and the snapshot directory. Clones share one connection.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Mutex<Connection>,
    db_path: PathBuf,
    snapshots_dir: PathBuf,
    cfg: StoreConfig,
    recovery: RecoveryReport,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("db", &self.inner.db_path).finish_non_exhaustive()
    }
}

/// What start-up found and repaired.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecoveryReport {
    pub migration: Option<MigrationReport>,
    /// Incidents a previous run left open that did not hold the printer: closed as `crash_recovery`.
    pub closed_incidents: Vec<IncidentId>,
    /// Incidents a previous run left open after pausing the printer: still open,
    /// so the engine adopts them instead of pausing and alerting a second time.
    pub carried_over: Vec<IncidentId>,
    /// Alerts that were in flight when the previous run died: queued again.
    pub requeued_alerts: u32,
    /// Rows deleted by `history_days`.
    pub history_rows_deleted: u64,
}

impl Store {
    /// Opens (creating if needed) the database and the snapshot directory,
    /// migrates the schema, then repairs what a crash left behind.
    pub async fn open(cfg: &StoreConfig, data_dir: &Path) -> Result<Store, StoreError> {
        let cfg = cfg.clone();
        let data_dir = data_dir.to_path_buf();
        tokio::task::spawn_blocking(move || Store::open_blocking(cfg, &data_dir))
            .await
            .map_err(|e| StoreError::Worker(e.to_string()))?
    }

    fn open_blocking(cfg: StoreConfig, data_dir: &Path) -> Result<Store, StoreError> {
        let db_path = cfg.db_path(data_dir);
        let snapshots_dir = data_dir.join("snapshots");
        for dir in [db_path.parent().unwrap_or(Path::new(".")), &snapshots_dir] {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir { path: dir.into(), source })?;
            }
        }
        let open_err = |source| StoreError::Open { path: db_path.clone(), source };
        let mut conn = Connection::open(&db_path).map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(open_err)?;
        // WAL: readers never block the writer. NORMAL: a commit survives a crash of
        // the process (kill -9) but may be lost on power loss; outbox inserts switch
        // to FULL for their transaction (see `outbox::with_full_sync`).
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(db = %db_path.display(), journal_mode = %mode, "database does not support WAL");
        }
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", true).map_err(open_err)?;
        let migration = schema::migrate(&mut conn, &db_path)?;

        let now = Timestamp::now();
        let mut recovery = recover(&mut conn, now)?;
        recovery.migration = Some(migration);
        recovery.history_rows_deleted = prune_history(&mut conn, &cfg, now)?;
        snapshots::register_orphans(&conn, &snapshots_dir)?;
        if !recovery.closed_incidents.is_empty() || recovery.requeued_alerts > 0 || !recovery.carried_over.is_empty() {
            tracing::warn!(
                closed = ?recovery.closed_incidents,
                carried_over = ?recovery.carried_over,
                requeued_alerts = recovery.requeued_alerts,
                "repaired what the previous run left behind"
            );
        }
        let inner = Inner { conn: Mutex::new(conn), db_path, snapshots_dir, cfg, recovery };
        Ok(Store { inner: Arc::new(inner) })
    }

    /// What `open` repaired.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.inner.recovery
    }

    pub fn db_path(&self) -> &Path {
        &self.inner.db_path
    }

    pub fn snapshots_dir(&self) -> &Path {
        &self.inner.snapshots_dir
    }

    pub fn config(&self) -> &StoreConfig {
        &self.inner.cfg
    }

    /// Runs `f` on the blocking pool with the connection.
    async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Inner) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock leaves SQLite consistent (every write is a
            // statement or a transaction), so a poisoned lock is safe to reuse.
            let mut conn = inner.conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut conn, &inner)
        })
        .await
        .map_err(|e| StoreError::Worker(e.to_string()))?
    }
}

/// Closes incidents a crashed run left open, except those that hold the
/// printer paused, and queues in-flight alerts again.
fn recover(conn: &mut Connection, now: Timestamp) -> Result<RecoveryReport, StoreError> {
    let tx = conn.transaction().op("recovery")?;
    let ids = |sql: &str| -> Result<Vec<i64>, StoreError> {
        query_rows(&tx, "recovery: list open incidents", sql, [], |r| r.get(0))
    };
    let closed = ids("SELECT id FROM incidents WHERE closed_at IS NULL AND holds_printer = 0 ORDER BY id")?;
    let carried_over = ids("SELECT id FROM incidents WHERE closed_at IS NULL AND holds_printer = 1 ORDER BY id")?;
    tx.execute(
        "UPDATE incidents SET closed_at = ?1, closed_reason = ?2 WHERE closed_at IS NULL AND holds_printer = 0",
        params![now.millis(), CloseReason::CrashRecovery],
    )
    .op("recovery: close incidents")?;
    let requeued = tx
        .execute(
            "UPDATE outbox SET state = ?1, next_attempt_at = ?2 WHERE state = ?3",
            params![OutboxState::Pending, now.millis(), OutboxState::Sending],
        )
        .op("recovery: requeue in-flight alerts")?;
    tx.commit().op("recovery")?;
    Ok(RecoveryReport {
        closed_incidents: closed,
        carried_over,
        requeued_alerts: requeued as u32,
        ..Default::default()
    })
}

/// Deletes history older than `history_days`; never an undelivered alert.
fn prune_history(conn: &mut Connection, cfg: &StoreConfig, now: Timestamp) -> Result<u64, StoreError> {
    if cfg.history_days == 0 {
        return Ok(0);
    }
    let cutoff = now.millis() - i64::from(cfg.history_days) * 86_400_000;
    let tx = conn.transaction().op("prune history")?;
    let mut n = 0u64;
    for sql in [
        "DELETE FROM timeline WHERE end_at < ?1",
        "DELETE FROM audit_log WHERE at < ?1",
        "DELETE FROM feedback WHERE at < ?1",
        "DELETE FROM outbox WHERE created_at < ?1 AND state IN ('sent', 'failed', 'suppressed')",
        "DELETE FROM incidents WHERE closed_at IS NOT NULL AND closed_at < ?1",
        "DELETE FROM prints WHERE ended_at IS NOT NULL AND ended_at < ?1",
    ] {
        n += tx.execute(sql, [cutoff]).op("prune history")? as u64;
    }
    tx.commit().op("prune history")?;
    Ok(n)
}

/// Runs a query and collects every row (into a `Vec`, a `HashSet`…).
pub(crate) fn query_rows<T, C, P, F>(
    c: &Connection,
    op: &'static str,
    sql: &str,
    params: P,
    f: F,
) -> Result<C, StoreError>
where
    C: FromIterator<T>,
    P: rusqlite::Params,
    F: FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
{
    let mut st = c.prepare(sql).op(op)?;
    let rows = st.query_map(params, f).op(op)?;
    rows.collect::<Result<C, _>>().op(op)
}

/// Row helpers shared by the table modules.
pub(crate) fn ts(v: Option<i64>) -> Option<Timestamp> {
    v.map(Timestamp::from_millis)
}
