//! The alert outbox: one row per alert per channel, written (with its rendered
//! payload and snapshot reference) before any attempt to send it, plus one row
//! per delivery attempt.
//!
//! Inserts run with `synchronous = FULL` so an alert that the engine was told is
//! queued survives a power cut, not only a crash. One incident gets at most one
//! row per channel and kind (a unique index), so retries or restarts can never
//! alert twice for it.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use serde::Serialize;

use super::error::SqlContext;
use super::{AlertKind, Channel, IncidentId, OutboxId, OutboxState, Store, StoreError, query_rows, ts};
use crate::domain::Timestamp;

/// An alert to queue on one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutboxRow {
    /// Shared by the rows of one alert on every channel; the receivers' idempotency key.
    pub alert_id: String,
    pub incident_id: Option<IncidentId>,
    pub kind: AlertKind,
    pub channel: Channel,
    /// The rendered alert (JSON).
    pub payload: String,
    pub snapshot_id: Option<String>,
    pub created_at: Timestamp,
}

/// A cap of `max` alerts per `window_ms` on one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub window_ms: i64,
}

/// What `enqueue_alert` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    Queued(OutboxId),
    /// This incident already has an alert of this kind on this channel.
    Duplicate(OutboxId),
    /// Recorded but not to be sent (rate limit, mute); counted in the next summary.
    Suppressed {
        id: OutboxId,
        reason: String,
    },
}

/// One alert on one channel, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxRow {
    pub id: OutboxId,
    pub alert_id: String,
    pub incident_id: Option<IncidentId>,
    pub kind: AlertKind,
    pub channel: Channel,
    pub state: OutboxState,
    pub payload: String,
    pub snapshot_id: Option<String>,
    pub created_at: Timestamp,
    pub next_attempt_at: Timestamp,
    pub attempts: u32,
    pub last_attempt_at: Option<Timestamp>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub sent_at: Option<Timestamp>,
    pub remote_id: Option<String>,
    pub suppressed_reason: Option<String>,
    pub summarized: bool,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptRow {
    pub outbox_id: OutboxId,
    pub at: Timestamp,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// How an attempt ended, and what happens next.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    Sent { status: u16, remote_id: Option<String> },
    Retry { status: Option<u16>, error: String, next_attempt_at: Timestamp },
    Failed { status: Option<u16>, error: String },
}

/// Counts for health checks and the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OutboxBacklog {
    pub pending: u32,
    pub sending: u32,
    pub failed: u32,
    pub suppressed_unsummarized: u32,
    pub oldest_pending: Option<Timestamp>,
}

/// Where a channel stands against its rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateWindow {
    /// Alerts counted against the limit in the current window.
    pub counted: u32,
    /// When the oldest counted alert leaves the window.
    pub reopens_at: Option<Timestamp>,
    /// Suppressed alerts not yet covered by a summary.
    pub unsummarized: u32,
}

const COLUMNS: &str = "id, alert_id, incident_id, kind, channel, state, payload, snapshot_id, created_at, \
                       next_attempt_at, attempts, last_attempt_at, last_status, last_error, sent_at, remote_id, \
                       suppressed_reason, summarized";

fn row(r: &Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.get(0)?,
        alert_id: r.get(1)?,
        incident_id: r.get(2)?,
        kind: r.get(3)?,
        channel: r.get(4)?,
        state: r.get(5)?,
        payload: r.get(6)?,
        snapshot_id: r.get(7)?,
        created_at: Timestamp::from_millis(r.get(8)?),
        next_attempt_at: Timestamp::from_millis(r.get(9)?),
        attempts: r.get(10)?,
        last_attempt_at: ts(r.get(11)?),
        last_status: r.get(12)?,
        last_error: r.get(13)?,
        sent_at: ts(r.get(14)?),
        remote_id: r.get(15)?,
        suppressed_reason: r.get(16)?,
        summarized: r.get(17)?,
    })
}

/// Runs `f` in a transaction committed with `synchronous = FULL`.
fn with_full_sync<T>(
    c: &mut Connection,
    op: &'static str,
    f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    c.pragma_update(None, "synchronous", "FULL").op(op)?;
    let result = (|| {
        let tx = c.transaction().op(op)?;
        let v = f(&tx)?;
        tx.commit().op(op)?;
        Ok(v)
    })();
    let restore = c.pragma_update(None, "synchronous", "NORMAL").op(op);
    let v = result?;
    restore?;
    Ok(v)
}

fn insert(tx: &Transaction<'_>, r: &NewOutboxRow, state: OutboxState, reason: Option<&str>) -> Result<i64, StoreError> {
    tx.execute(
        "INSERT INTO outbox (alert_id, incident_id, kind, channel, state, payload, snapshot_id, created_at, \
         next_attempt_at, suppressed_reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)",
        params![
            r.alert_id,
            r.incident_id,
            r.kind,
            r.channel,
            state,
            r.payload,
            r.snapshot_id,
            r.created_at.millis(),
            reason
        ],
    )
    .op("insert alert")?;
    Ok(tx.last_insert_rowid())
}

fn counted_in_window(tx: &Connection, channel: Channel, since: i64) -> Result<(u32, Option<i64>), StoreError> {
    tx.query_row(
        "SELECT count(*), min(created_at) FROM outbox WHERE channel = ?1 AND created_at > ?2 AND state != 'suppressed'",
        params![channel, since],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .op("rate window")
}

impl Store {
    /// Queues an alert on one channel, durably. `suppress` records it as
    /// suppressed with that reason (mute); `rate` applies the channel's cap.
    pub async fn enqueue_alert(
        &self,
        r: NewOutboxRow,
        rate: Option<RateLimit>,
        suppress: Option<String>,
    ) -> Result<Enqueued, StoreError> {
        self.call(move |c, _| {
            with_full_sync(c, "enqueue alert", |tx| {
                if let Some(incident) = r.incident_id {
                    let existing: Option<i64> = tx
                        .query_row(
                            "SELECT id FROM outbox WHERE incident_id = ?1 AND channel = ?2 AND kind = ?3",
                            params![incident, r.channel, r.kind],
                            |row| row.get(0),
                        )
                        .optional()
                        .op("enqueue alert: find duplicate")?;
                    if let Some(id) = existing {
                        return Ok(Enqueued::Duplicate(id));
                    }
                }
                let mut reason = suppress;
                if reason.is_none()
                    && let Some(rate) = rate
                {
                    let (counted, _) = counted_in_window(tx, r.channel, r.created_at.millis() - rate.window_ms)?;
                    if counted >= rate.max {
                        reason = Some(format!(
                            "rate limit: {} alerts per {} s on {}",
                            rate.max,
                            rate.window_ms / 1000,
                            r.channel
                        ));
                    }
                }
                match reason {
                    Some(reason) => {
                        let id = insert(tx, &r, OutboxState::Suppressed, Some(&reason))?;
                        Ok(Enqueued::Suppressed { id, reason })
                    }
                    None => Ok(Enqueued::Queued(insert(tx, &r, OutboxState::Pending, None)?)),
                }
            })
        })
        .await
    }

    /// Pending alerts of one channel whose next attempt is due, oldest first.
    pub async fn due_alerts(&self, channel: Channel, now: Timestamp, limit: u32) -> Result<Vec<OutboxRow>, StoreError> {
        self.call(move |c, _| {
            let sql = format!(
                "SELECT {COLUMNS} FROM outbox WHERE channel = ?1 AND state = 'pending' AND next_attempt_at <= ?2 \
                 ORDER BY next_attempt_at, id LIMIT ?3"
            );
            query_rows(c, "due alerts", &sql, params![channel, now.millis(), limit], row)
        })
        .await
    }

    /// The earliest next attempt of a pending alert on this channel.
    pub async fn next_due_at(&self, channel: Channel) -> Result<Option<Timestamp>, StoreError> {
        self.call(move |c, _| {
            let v: Option<i64> = c
                .query_row(
                    "SELECT min(next_attempt_at) FROM outbox WHERE channel = ?1 AND state = 'pending'",
                    [channel],
                    |r| r.get(0),
                )
                .op("next due")?;
            Ok(ts(v))
        })
        .await
    }

    /// Marks an attempt as in flight; false if the row is not pending any more.
    pub async fn mark_sending(&self, id: OutboxId, at: Timestamp) -> Result<bool, StoreError> {
        self.call(move |c, _| {
            let n = c
                .execute(
                    "UPDATE outbox SET state = 'sending', last_attempt_at = ?2 WHERE id = ?1 AND state = 'pending'",
                    params![id, at.millis()],
                )
                .op("mark sending")?;
            Ok(n == 1)
        })
        .await
    }

    /// Records one attempt and moves the row to `sent`, back to `pending`, or to `failed`.
    pub async fn record_attempt(
        &self,
        id: OutboxId,
        at: Timestamp,
        duration_ms: u64,
        outcome: AttemptOutcome,
    ) -> Result<(), StoreError> {
        self.call(move |c, _| {
            let tx = c.transaction().op("record attempt")?;
            let (status, error) = match &outcome {
                AttemptOutcome::Sent { status, .. } => (Some(*status), None),
                AttemptOutcome::Retry { status, error, .. } | AttemptOutcome::Failed { status, error } => {
                    (*status, Some(error.clone()))
                }
            };
            tx.execute(
                "INSERT INTO outbox_attempts (outbox_id, at, status, error, duration_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, at.millis(), status, error, duration_ms.min(i64::MAX as u64) as i64],
            )
            .op("record attempt")?;
            let n = match outcome {
                AttemptOutcome::Sent { status, remote_id } => tx.execute(
                    "UPDATE outbox SET state = 'sent', attempts = attempts + 1, last_status = ?2, last_error = NULL, \
                     sent_at = ?3, remote_id = ?4 WHERE id = ?1",
                    params![id, status, at.millis(), remote_id],
                ),
                AttemptOutcome::Retry { status, error, next_attempt_at } => tx.execute(
                    "UPDATE outbox SET state = 'pending', attempts = attempts + 1, last_status = ?2, last_error = ?3, \
                     next_attempt_at = ?4 WHERE id = ?1",
                    params![id, status, error, next_attempt_at.millis()],
                ),
                AttemptOutcome::Failed { status, error } => tx.execute(
                    "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_status = ?2, last_error = ?3 \
                     WHERE id = ?1",
                    params![id, status, error],
                ),
            }
            .op("record attempt")?;
            if n == 0 {
                return Err(StoreError::NotFound { what: "outbox row", id });
            }
            tx.commit().op("record attempt")
        })
        .await
    }

    /// Puts an in-flight row back to pending (the attempt was abandoned at shutdown).
    pub async fn requeue_alert(&self, id: OutboxId, at: Timestamp) -> Result<(), StoreError> {
        self.call(move |c, _| {
            c.execute(
                "UPDATE outbox SET state = 'pending', next_attempt_at = ?2 WHERE id = ?1 AND state = 'sending'",
                params![id, at.millis()],
            )
            .op("requeue alert")?;
            Ok(())
        })
        .await
    }

    /// Gives up on an alert without another attempt (too old, unreadable payload).
    pub async fn give_up_alert(&self, id: OutboxId, reason: &str) -> Result<(), StoreError> {
        let reason = reason.to_string();
        self.call(move |c, _| {
            c.execute(
                "UPDATE outbox SET state = 'failed', last_error = ?2 WHERE id = ?1 AND state IN ('pending', 'sending')",
                params![id, reason],
            )
            .op("give up alert")?;
            Ok(())
        })
        .await
    }

    pub async fn outbox_row(&self, id: OutboxId) -> Result<Option<OutboxRow>, StoreError> {
        self.call(move |c, _| {
            c.query_row(&format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1"), [id], row).optional().op("outbox row")
        })
        .await
    }

    /// Every alert row of an incident (all channels and kinds), oldest first.
    pub async fn alerts_of_incident(&self, incident: IncidentId) -> Result<Vec<OutboxRow>, StoreError> {
        self.outbox_query("alerts of incident", "WHERE incident_id = ?1 ORDER BY id", incident).await
    }

    /// Newest first: the dashboard's delivery view.
    pub async fn recent_alerts(&self, limit: u32) -> Result<Vec<OutboxRow>, StoreError> {
        self.outbox_query("recent alerts", "ORDER BY id DESC LIMIT ?1", i64::from(limit)).await
    }

    async fn outbox_query(&self, op: &'static str, tail: &'static str, arg: i64) -> Result<Vec<OutboxRow>, StoreError> {
        self.call(move |c, _| query_rows(c, op, &format!("SELECT {COLUMNS} FROM outbox {tail}"), [arg], row)).await
    }

    /// The attempts of one row, in order.
    pub async fn attempts_of(&self, id: OutboxId) -> Result<Vec<AttemptRow>, StoreError> {
        self.call(move |c, _| {
            let sql = "SELECT outbox_id, at, status, error, duration_ms FROM outbox_attempts \
                       WHERE outbox_id = ?1 ORDER BY id";
            query_rows(c, "attempts", sql, [id], |r| {
                Ok(AttemptRow {
                    outbox_id: r.get(0)?,
                    at: Timestamp::from_millis(r.get(1)?),
                    status: r.get(2)?,
                    error: r.get(3)?,
                    duration_ms: r.get::<_, i64>(4)?.max(0) as u64,
                })
            })
        })
        .await
    }

    pub async fn outbox_backlog(&self) -> Result<OutboxBacklog, StoreError> {
        self.call(|c, _| {
            c.query_row(
                "SELECT \
                   count(*) FILTER (WHERE state = 'pending'), \
                   count(*) FILTER (WHERE state = 'sending'), \
                   count(*) FILTER (WHERE state = 'failed'), \
                   count(*) FILTER (WHERE state = 'suppressed' AND summarized = 0), \
                   min(created_at) FILTER (WHERE state IN ('pending', 'sending')) \
                 FROM outbox",
                [],
                |r| {
                    Ok(OutboxBacklog {
                        pending: r.get(0)?,
                        sending: r.get(1)?,
                        failed: r.get(2)?,
                        suppressed_unsummarized: r.get(3)?,
                        oldest_pending: ts(r.get(4)?),
                    })
                },
            )
            .op("outbox backlog")
        })
        .await
    }

    /// Where `channel` stands against `rate` at `now`.
    pub async fn rate_window(
        &self,
        channel: Channel,
        now: Timestamp,
        rate: RateLimit,
    ) -> Result<RateWindow, StoreError> {
        self.call(move |c, _| {
            let (counted, oldest) = counted_in_window(c, channel, now.millis() - rate.window_ms)?;
            let unsummarized: u32 = c
                .query_row(
                    "SELECT count(*) FROM outbox WHERE channel = ?1 AND state = 'suppressed' AND summarized = 0",
                    [channel],
                    |r| r.get(0),
                )
                .op("rate window")?;
            Ok(RateWindow {
                counted,
                reopens_at: oldest.map(|o| Timestamp::from_millis(o + rate.window_ms)),
                unsummarized,
            })
        })
        .await
    }

    /// Queues one summary for every suppressed, not yet summarised alert on
    /// `channel` and marks them summarised, atomically. `build` gets their count.
    /// Returns the summary's id and the count, or `None` when there was nothing.
    pub async fn summarize_suppressed<F>(
        &self,
        channel: Channel,
        build: F,
    ) -> Result<Option<(OutboxId, u32)>, StoreError>
    where
        F: FnOnce(u32) -> NewOutboxRow + Send + 'static,
    {
        self.call(move |c, _| {
            with_full_sync(c, "summarize suppressed", |tx| {
                let n: u32 = tx
                    .query_row(
                        "SELECT count(*) FROM outbox WHERE channel = ?1 AND state = 'suppressed' AND summarized = 0",
                        [channel],
                        |r| r.get(0),
                    )
                    .op("summarize suppressed")?;
                if n == 0 {
                    return Ok(None);
                }
                let summary = build(n);
                let id = insert(tx, &summary, OutboxState::Pending, None)?;
                tx.execute(
                    "UPDATE outbox SET summarized = 1 WHERE channel = ?1 AND state = 'suppressed' AND summarized = 0",
                    [channel],
                )
                .op("summarize suppressed")?;
                Ok(Some((id, n)))
            })
        })
        .await
    }
}
