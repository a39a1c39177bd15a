//! The action audit log (every printer command, who asked and why, and how it
//! ended) and the owner's feedback (not a failure, mute, acknowledge).

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use super::error::SqlContext;
use super::{Actor, AuditCommand, CommandResult, FeedbackKind, IncidentId, PrintId, Store, StoreError, query_rows, ts};
use crate::domain::Timestamp;

/// One printer command to record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub at: Timestamp,
    pub actor: Actor,
    /// The user's name for `Actor::User` (from the dashboard), if known.
    pub who: Option<String>,
    pub command: AuditCommand,
    /// Why: `incident 12: spaghetti 0.91 at layer 30/80`, or the user's words.
    pub reason: String,
    pub incident_id: Option<IncidentId>,
    /// 1 for the first try, 2 for the one retry of an unconfirmed pause.
    pub attempt: u32,
    pub result: CommandResult,
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// An audit entry as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRow {
    pub id: i64,
    #[serde(flatten)]
    pub entry: AuditEntry,
}

/// One piece of owner feedback.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedbackEntry {
    pub at: Timestamp,
    pub kind: FeedbackKind,
    pub incident_id: Option<IncidentId>,
    pub who: Option<String>,
    /// For `Mute`: muted until this time (`None` with `print_id` = the rest of that print).
    pub until: Option<Timestamp>,
    pub print_id: Option<PrintId>,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedbackRow {
    pub id: i64,
    #[serde(flatten)]
    pub entry: FeedbackEntry,
}

fn audit_row(r: &Row<'_>) -> rusqlite::Result<AuditRow> {
    Ok(AuditRow {
        id: r.get(0)?,
        entry: AuditEntry {
            at: Timestamp::from_millis(r.get(1)?),
            actor: r.get(2)?,
            who: r.get(3)?,
            command: r.get(4)?,
            reason: r.get(5)?,
            incident_id: r.get(6)?,
            attempt: r.get(7)?,
            result: r.get(8)?,
            error: r.get(9)?,
            duration_ms: r.get::<_, i64>(10)?.max(0) as u64,
        },
    })
}

fn feedback_row(r: &Row<'_>) -> rusqlite::Result<FeedbackRow> {
    Ok(FeedbackRow {
        id: r.get(0)?,
        entry: FeedbackEntry {
            at: Timestamp::from_millis(r.get(1)?),
            kind: r.get(2)?,
            incident_id: r.get(3)?,
            who: r.get(4)?,
            until: ts(r.get(5)?),
            print_id: r.get(6)?,
            note: r.get(7)?,
        },
    })
}

const AUDIT_COLUMNS: &str = "id, at, actor, who, command, reason, incident_id, attempt, result, error, duration_ms";
const FEEDBACK_COLUMNS: &str = "id, at, kind, incident_id, who, until_at, print_id, note";

impl Store {
    /// Appends an entry; URLs in its reason and error are masked (`secret::redact_text`)
    /// first, since printer errors quote the URL they failed on.
    pub async fn audit(&self, mut e: AuditEntry) -> Result<i64, StoreError> {
        e.reason = crate::secret::redact_text(&e.reason);
        e.error = e.error.map(|t| crate::secret::redact_text(&t));
        self.call(move |c, _| {
            c.execute(
                "INSERT INTO audit_log (at, actor, who, command, reason, incident_id, attempt, result, error, \
                 duration_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    e.at.millis(),
                    e.actor,
                    e.who,
                    e.command,
                    e.reason,
                    e.incident_id,
                    e.attempt,
                    e.result,
                    e.error,
                    e.duration_ms.min(i64::MAX as u64) as i64
                ],
            )
            .op("insert audit entry")?;
            Ok(c.last_insert_rowid())
        })
        .await
    }

    /// Newest first.
    pub async fn audit_log(&self, limit: u32) -> Result<Vec<AuditRow>, StoreError> {
        self.call(move |c, _| {
            let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log ORDER BY id DESC LIMIT ?1");
            query_rows(c, "audit log", &sql, [limit], audit_row)
        })
        .await
    }

    /// The commands sent for one incident, in order.
    pub async fn audit_of_incident(&self, incident: IncidentId) -> Result<Vec<AuditRow>, StoreError> {
        self.call(move |c, _| {
            let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE incident_id = ?1 ORDER BY id");
            query_rows(c, "audit of incident", &sql, [incident], audit_row)
        })
        .await
    }

    pub async fn add_feedback(&self, f: FeedbackEntry) -> Result<i64, StoreError> {
        self.call(move |c, _| {
            c.execute(
                "INSERT INTO feedback (at, kind, incident_id, who, until_at, print_id, note) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    f.at.millis(),
                    f.kind,
                    f.incident_id,
                    f.who,
                    f.until.map(Timestamp::millis),
                    f.print_id,
                    f.note
                ],
            )
            .op("insert feedback")?;
            Ok(c.last_insert_rowid())
        })
        .await
    }

    /// Newest first.
    pub async fn feedback_log(&self, limit: u32) -> Result<Vec<FeedbackRow>, StoreError> {
        self.call(move |c, _| {
            let sql = format!("SELECT {FEEDBACK_COLUMNS} FROM feedback ORDER BY id DESC LIMIT ?1");
            query_rows(c, "feedback log", &sql, [limit], feedback_row)
        })
        .await
    }

    /// The latest mute or unmute, so a restart keeps a mute the owner set.
    pub async fn last_mute(&self) -> Result<Option<FeedbackRow>, StoreError> {
        self.call(|c, _| {
            c.query_row(
                &format!(
                    "SELECT {FEEDBACK_COLUMNS} FROM feedback WHERE kind IN ('mute', 'unmute') ORDER BY id DESC LIMIT 1"
                ),
                [],
                feedback_row,
            )
            .optional()
            .op("last mute")
        })
        .await
    }
}
