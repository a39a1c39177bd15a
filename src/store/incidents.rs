//! The `incidents` table: a failure or health problem from opening to closing,
//! with what was done about it and what the owner said.

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use super::error::SqlContext;
use super::{CloseReason, IncidentCause, IncidentId, PrintId, Store, StoreError, StoredLevel, query_rows, ts};
use crate::domain::{Level, Timestamp};

/// What is known when an incident opens.
#[derive(Debug, Clone, PartialEq)]
pub struct NewIncident {
    pub print_id: Option<PrintId>,
    pub opened_at: Timestamp,
    pub level: Level,
    pub cause: IncidentCause,
    pub confidence: f32,
    pub layer: Option<u32>,
    pub layer_count: Option<u32>,
    pub snapshot_id: Option<String>,
    /// Set before the daemon pauses the printer for this incident: such an
    /// incident survives a restart open, so nothing pauses or alerts twice.
    pub holds_printer: bool,
    pub note: String,
}

/// An incident as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentRow {
    pub id: IncidentId,
    pub print_id: Option<PrintId>,
    pub opened_at: Timestamp,
    pub closed_at: Option<Timestamp>,
    pub level: Level,
    pub cause: IncidentCause,
    /// The highest confidence seen while open.
    pub confidence: f32,
    pub layer: Option<u32>,
    pub layer_count: Option<u32>,
    pub snapshot_id: Option<String>,
    /// What was done, in order (`pause: confirmed; park: confirmed`).
    pub actions: String,
    pub holds_printer: bool,
    pub feedback: Option<String>,
    pub closed_reason: Option<CloseReason>,
    pub note: String,
    /// When a `pause_then_cool` incident cools the printer unless someone acts.
    pub cool_due_at: Option<Timestamp>,
}

impl IncidentRow {
    pub fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }
}

const COLUMNS: &str = "id, print_id, opened_at, closed_at, level, cause, confidence, layer, layer_count, snapshot_id, \
                       actions, holds_printer, feedback, closed_reason, note, cool_due_at";

fn row(r: &Row<'_>) -> rusqlite::Result<IncidentRow> {
    Ok(IncidentRow {
        id: r.get(0)?,
        print_id: r.get(1)?,
        opened_at: Timestamp::from_millis(r.get(2)?),
        closed_at: ts(r.get(3)?),
        level: r.get::<_, StoredLevel>(4)?.into(),
        cause: r.get(5)?,
        confidence: r.get::<_, f64>(6)? as f32,
        layer: r.get(7)?,
        layer_count: r.get(8)?,
        snapshot_id: r.get(9)?,
        actions: r.get(10)?,
        holds_printer: r.get(11)?,
        feedback: r.get(12)?,
        closed_reason: r.get(13)?,
        note: r.get(14)?,
        cool_due_at: ts(r.get(15)?),
    })
}

impl Store {
    pub async fn open_incident(&self, n: NewIncident) -> Result<IncidentId, StoreError> {
        self.call(move |c, _| {
            c.execute(
                "INSERT INTO incidents (print_id, opened_at, level, cause, confidence, layer, layer_count, \
                 snapshot_id, holds_printer, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    n.print_id,
                    n.opened_at.millis(),
                    StoredLevel::from(n.level),
                    n.cause,
                    f64::from(n.confidence),
                    n.layer,
                    n.layer_count,
                    n.snapshot_id,
                    n.holds_printer,
                    n.note
                ],
            )
            .op("insert incident")?;
            Ok(c.last_insert_rowid())
        })
        .await
    }

    pub async fn incident(&self, id: IncidentId) -> Result<Option<IncidentRow>, StoreError> {
        self.call(move |c, _| {
            c.query_row(&format!("SELECT {COLUMNS} FROM incidents WHERE id = ?1"), [id], row).optional().op("incident")
        })
        .await
    }

    /// Incidents not closed yet, oldest first.
    pub async fn open_incidents(&self) -> Result<Vec<IncidentRow>, StoreError> {
        self.query_incidents("open incidents", "WHERE closed_at IS NULL ORDER BY id", None).await
    }

    /// Incidents of one print, oldest first.
    pub async fn incidents_of_print(&self, print: PrintId) -> Result<Vec<IncidentRow>, StoreError> {
        self.query_incidents("incidents of print", "WHERE print_id = ?1 ORDER BY id", Some(print)).await
    }

    /// Newest first.
    pub async fn recent_incidents(&self, limit: u32) -> Result<Vec<IncidentRow>, StoreError> {
        self.query_incidents("recent incidents", "ORDER BY id DESC LIMIT ?1", Some(i64::from(limit))).await
    }

    async fn query_incidents(
        &self,
        op: &'static str,
        tail: &'static str,
        arg: Option<i64>,
    ) -> Result<Vec<IncidentRow>, StoreError> {
        self.call(move |c, _| {
            let sql = format!("SELECT {COLUMNS} FROM incidents {tail}");
            match arg {
                Some(a) => query_rows(c, op, &sql, [a], row),
                None => query_rows(c, op, &sql, [], row),
            }
        })
        .await
    }

    /// Keeps the highest confidence and the latest layer seen while open.
    pub async fn raise_incident(&self, id: IncidentId, confidence: f32, layer: Option<u32>) -> Result<(), StoreError> {
        self.call(move |c, _| {
            c.execute(
                "UPDATE incidents SET confidence = max(confidence, ?2), layer = coalesce(?3, layer) WHERE id = ?1",
                params![id, f64::from(confidence), layer],
            )
            .op("raise incident")?;
            Ok(())
        })
        .await
    }

    /// Appends one step to the incident's `actions` (`park: failed: …`).
    pub async fn add_incident_action(&self, id: IncidentId, step: &str) -> Result<(), StoreError> {
        let step = step.to_string();
        self.call(move |c, _| {
            c.execute(
                "UPDATE incidents SET actions = CASE WHEN actions = '' THEN ?2 ELSE actions || '; ' || ?2 END \
                 WHERE id = ?1",
                params![id, step],
            )
            .op("add incident action")?;
            Ok(())
        })
        .await
    }

    pub async fn set_incident_snapshot(&self, id: IncidentId, snapshot_id: &str) -> Result<(), StoreError> {
        let s = snapshot_id.to_string();
        self.call(move |c, _| {
            c.execute("UPDATE incidents SET snapshot_id = ?2 WHERE id = ?1", params![id, s]).op("set snapshot")?;
            Ok(())
        })
        .await
    }

    pub async fn set_holds_printer(&self, id: IncidentId, holds: bool) -> Result<(), StoreError> {
        self.call(move |c, _| {
            c.execute("UPDATE incidents SET holds_printer = ?2 WHERE id = ?1", params![id, holds])
                .op("set holds_printer")?;
            Ok(())
        })
        .await
    }

    /// Sets or clears the cool-down deadline of a `pause_then_cool` incident.
    pub async fn set_cool_due(&self, id: IncidentId, due: Option<Timestamp>) -> Result<(), StoreError> {
        self.call(move |c, _| {
            c.execute("UPDATE incidents SET cool_due_at = ?2 WHERE id = ?1", params![id, due.map(Timestamp::millis)])
                .op("set cool due")?;
            Ok(())
        })
        .await
    }

    pub async fn set_incident_feedback(&self, id: IncidentId, feedback: &str) -> Result<(), StoreError> {
        let f = feedback.to_string();
        self.call(move |c, _| {
            let n = c.execute("UPDATE incidents SET feedback = ?2 WHERE id = ?1", params![id, f]).op("set feedback")?;
            if n == 0 { Err(StoreError::NotFound { what: "incident", id }) } else { Ok(()) }
        })
        .await
    }

    /// Closes an open incident; returns false if it was already closed.
    /// Closing also releases the printer and clears any cool-down deadline.
    pub async fn close_incident(&self, id: IncidentId, at: Timestamp, reason: CloseReason) -> Result<bool, StoreError> {
        self.call(move |c, _| {
            let n = c
                .execute(
                    "UPDATE incidents SET closed_at = ?2, closed_reason = ?3, holds_printer = 0, cool_due_at = NULL \
                     WHERE id = ?1 AND closed_at IS NULL",
                    params![id, at.millis(), reason],
                )
                .op("close incident")?;
            Ok(n == 1)
        })
        .await
    }
}
