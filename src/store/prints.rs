//! The `prints` table: one row per print job the daemon watched.

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use super::error::SqlContext;
use super::{PrintId, PrintOutcome, Store, StoreError, query_rows, ts};
use crate::domain::Timestamp;

/// One watched print.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrintRow {
    pub id: PrintId,
    pub file: String,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub outcome: Option<PrintOutcome>,
    pub layer_count: Option<u32>,
}

const COLUMNS: &str = "id, file, started_at, ended_at, outcome, layer_count";

fn row(r: &Row<'_>) -> rusqlite::Result<PrintRow> {
    Ok(PrintRow {
        id: r.get(0)?,
        file: r.get(1)?,
        started_at: Timestamp::from_millis(r.get(2)?),
        ended_at: ts(r.get(3)?),
        outcome: r.get(4)?,
        layer_count: r.get(5)?,
    })
}

impl Store {
    /// Records the start of a print.
    pub async fn start_print(
        &self,
        file: &str,
        started_at: Timestamp,
        layer_count: Option<u32>,
    ) -> Result<PrintId, StoreError> {
        let file = file.to_string();
        self.call(move |c, _| {
            c.execute(
                "INSERT INTO prints (file, started_at, layer_count) VALUES (?1, ?2, ?3)",
                params![file, started_at.millis(), layer_count],
            )
            .op("insert print")?;
            Ok(c.last_insert_rowid())
        })
        .await
    }

    /// Records how a print ended. Ending an already ended print changes nothing.
    pub async fn end_print(&self, id: PrintId, ended_at: Timestamp, outcome: PrintOutcome) -> Result<bool, StoreError> {
        self.call(move |c, _| {
            let n = c
                .execute(
                    "UPDATE prints SET ended_at = ?2, outcome = ?3 WHERE id = ?1 AND ended_at IS NULL",
                    params![id, ended_at.millis(), outcome],
                )
                .op("end print")?;
            Ok(n == 1)
        })
        .await
    }

    /// Fills in the layer count once it is known (G-code analysis may come late).
    pub async fn set_print_layer_count(&self, id: PrintId, layer_count: u32) -> Result<(), StoreError> {
        self.call(move |c, _| {
            c.execute("UPDATE prints SET layer_count = ?2 WHERE id = ?1", params![id, layer_count])
                .op("set layer count")?;
            Ok(())
        })
        .await
    }

    /// The newest print that has not ended, if any (after a restart: the print
    /// the previous run was watching).
    pub async fn unfinished_print(&self) -> Result<Option<PrintRow>, StoreError> {
        self.call(|c, _| {
            c.query_row(
                &format!(
                    "SELECT {COLUMNS} FROM prints WHERE ended_at IS NULL ORDER BY started_at DESC, id DESC LIMIT 1"
                ),
                [],
                row,
            )
            .optional()
            .op("unfinished print")
        })
        .await
    }

    pub async fn print(&self, id: PrintId) -> Result<Option<PrintRow>, StoreError> {
        self.call(move |c, _| {
            c.query_row(&format!("SELECT {COLUMNS} FROM prints WHERE id = ?1"), [id], row).optional().op("print")
        })
        .await
    }

    /// Newest first.
    pub async fn recent_prints(&self, limit: u32) -> Result<Vec<PrintRow>, StoreError> {
        self.call(move |c, _| {
            let sql = format!("SELECT {COLUMNS} FROM prints ORDER BY started_at DESC, id DESC LIMIT ?1");
            query_rows(c, "recent prints", &sql, [limit], row)
        })
        .await
    }
}
