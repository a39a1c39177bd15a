//! The schema and its forward-only migrations, tracked in `PRAGMA user_version`.
//!
//! Each migration runs in its own transaction together with the version bump,
//! so a failed migration leaves the database at the previous version. Never
//! edit a released migration: append a new one. Times are milliseconds since
//! the Unix epoch (`domain::Timestamp`); enums are their lower-case text form
//! (`store::types`).

use std::path::Path;

use rusqlite::Connection;

use super::StoreError;

/// One step of the schema.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The `user_version` after this step; steps are numbered 1, 2, 3…
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, oldest first. The last one's version is the current schema.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "prints, incidents and the action audit log",
        sql: "
CREATE TABLE prints (
    id          INTEGER PRIMARY KEY,
    file        TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    outcome     TEXT,
    layer_count INTEGER
);
CREATE INDEX prints_started ON prints(started_at);
CREATE TABLE incidents (
    id            INTEGER PRIMARY KEY,
    print_id      INTEGER REFERENCES prints(id) ON DELETE SET NULL,
    opened_at     INTEGER NOT NULL,
    closed_at     INTEGER,
    level         TEXT NOT NULL,
    cause         TEXT NOT NULL,
    confidence    REAL NOT NULL,
    layer         INTEGER,
    layer_count   INTEGER,
    snapshot_id   TEXT,
    actions       TEXT NOT NULL DEFAULT '',
    holds_printer INTEGER NOT NULL DEFAULT 0,
    feedback      TEXT,
    closed_reason TEXT,
    note          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX incidents_print ON incidents(print_id);
CREATE INDEX incidents_open ON incidents(closed_at) WHERE closed_at IS NULL;
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    who         TEXT,
    command     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    incident_id INTEGER,
    attempt     INTEGER NOT NULL DEFAULT 1,
    result      TEXT NOT NULL,
    error       TEXT,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX audit_at ON audit_log(at);
",
    },
    Migration {
        version: 2,
        name: "downsampled verdict timeline",
        sql: "
CREATE TABLE timeline (
    id         INTEGER PRIMARY KEY,
    print_id   INTEGER REFERENCES prints(id) ON DELETE CASCADE,
    start_at   INTEGER NOT NULL,
    end_at     INTEGER NOT NULL,
    level      TEXT NOT NULL,
    score_min  REAL NOT NULL,
    score_max  REAL NOT NULL,
    score_last REAL NOT NULL,
    frames     INTEGER NOT NULL,
    layer      INTEGER
);
CREATE INDEX timeline_print ON timeline(print_id, start_at);
CREATE INDEX timeline_start ON timeline(start_at);
",
    },
    Migration {
        version: 3,
        name: "alert outbox and delivery attempts",
        sql: "
CREATE TABLE outbox (
    id                INTEGER PRIMARY KEY,
    alert_id          TEXT NOT NULL,
    incident_id       INTEGER,
    kind              TEXT NOT NULL,
    channel           TEXT NOT NULL,
    state             TEXT NOT NULL,
    payload           TEXT NOT NULL,
    snapshot_id       TEXT,
    created_at        INTEGER NOT NULL,
    next_attempt_at   INTEGER NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    last_attempt_at   INTEGER,
    last_status       INTEGER,
    last_error        TEXT,
    sent_at           INTEGER,
    remote_id         TEXT,
    suppressed_reason TEXT,
    summarized        INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX outbox_one_per_incident ON outbox(incident_id, channel, kind) WHERE incident_id IS NOT NULL;
CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
CREATE INDEX outbox_channel_created ON outbox(channel, created_at);
CREATE TABLE outbox_attempts (
    id          INTEGER PRIMARY KEY,
    outbox_id   INTEGER NOT NULL REFERENCES outbox(id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    status      INTEGER,
    error       TEXT,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX outbox_attempts_row ON outbox_attempts(outbox_id);
",
    },
    Migration {
        version: 4,
        name: "feedback, snapshot index, cool-down deadline",
        sql: "
CREATE TABLE feedback (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    incident_id INTEGER,
    who         TEXT,
    until_at    INTEGER,
    print_id    INTEGER,
    note        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX feedback_at ON feedback(at);
CREATE TABLE snapshots (
    id          TEXT PRIMARY KEY,
    created_at  INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    incident_id INTEGER
);
CREATE INDEX snapshots_created ON snapshots(created_at);
ALTER TABLE incidents ADD COLUMN cool_due_at INTEGER;
",
    },
    Migration {
        version: 5,
        name: "per-camera memory of normal frames",
        sql: "
CREATE TABLE camera_memory (
    camera      TEXT PRIMARY KEY,
    scores      TEXT NOT NULL DEFAULT '[]',
    prints      INTEGER NOT NULL DEFAULT 0,
    corrections INTEGER NOT NULL DEFAULT 0,
    updated_at  INTEGER NOT NULL,
    reset_at    INTEGER
);
",
    },
];

/// The schema version this build writes.
pub fn current_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// What `migrate` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationReport {
    pub from: i64,
    pub to: i64,
}

/// Brings the database to the current schema.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<MigrationReport, StoreError> {
    migrate_with(conn, path, MIGRATIONS)
}

/// Applies every step of `migrations` newer than the database's version, each
/// in its own transaction. Refuses a database newer than the last step.
pub fn migrate_with(
    conn: &mut Connection,
    path: &Path,
    migrations: &[Migration],
) -> Result<MigrationReport, StoreError> {
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|source| StoreError::Open { path: path.to_path_buf(), source })?;
    let known = migrations.last().map_or(0, |m| m.version);
    if found > known {
        return Err(StoreError::TooNew { path: path.to_path_buf(), found, known });
    }
    for m in migrations.iter().filter(|m| m.version > found) {
        let fail = |source| StoreError::Migration { path: path.to_path_buf(), version: m.version, source };
        let tx = conn.transaction().map_err(fail)?;
        tx.execute_batch(m.sql).map_err(fail)?;
        tx.pragma_update(None, "user_version", m.version).map_err(fail)?;
        tx.commit().map_err(fail)?;
        tracing::info!(db = %path.display(), version = m.version, migration = m.name, "database migrated");
    }
    Ok(MigrationReport { from: found, to: known.max(found) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.name);
        }
    }

    #[test]
    fn a_failing_step_rolls_back_to_the_previous_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        let broken = [
            MIGRATIONS[0],
            Migration { version: 2, name: "broken", sql: "CREATE TABLE half (x); CREATE TABLE prints (y);" },
        ];
        let err = migrate_with(&mut conn, Path::new(":memory:"), &broken).unwrap_err();
        assert!(err.to_string().starts_with("migration of :memory: to schema version 2 failed"), "{err}");
        let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v, 1);
        let half: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'half'", [], |r| r.get(0)).unwrap();
        assert_eq!(half, 0, "the failed step's first statement must be rolled back too");
    }
}
