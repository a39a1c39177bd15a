//! The durable outbox: alerts are written to the database before any attempt
//! to send them and marked sent only on a 2xx; one delivery task per channel
//! retries with exponential backoff and full jitter, honours `Retry-After`,
//! gives up on permanent errors after a few tries (`failed`, never silently
//! dropped), and applies the per-channel rate limit with one summary when the
//! window reopens.
//!
//! Delivery is at-least-once: a process killed after the channel accepted an
//! alert but before the row was marked `sent` sends it again after restart.
//! Every alert carries a stable `id` (webhook: `X-Layerwatch-Delivery` and
//! `Idempotency-Key` headers) for receivers to drop the duplicate.

mod backoff;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use backoff::{cap_ms, full_jitter};

use super::alerts::{Alert, Notifier};
use super::clock::Clock;
use super::config::{AlertsConfig, RetryConfig};
use crate::domain::Level;
use crate::store::{
    AlertKind, AttemptOutcome, Channel, Enqueued, NewOutboxRow, OutboxBacklog, OutboxRow, RateLimit, SnapshotId, Store,
    StoreError,
};

/// Hands alerts to the channels, durably. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    notifiers: Vec<Arc<dyn Notifier>>,
    retry: RetryConfig,
    rate: RateLimit,
    timeout: Duration,
    printer: String,
    clock: Clock,
    wake: watch::Sender<u64>,
}

/// What one pass of a channel's loop wants next.
enum Next {
    Again,
    Sleep(Duration),
}

/// The shortest wait before a retry.
const MIN_RETRY: Duration = Duration::from_millis(100);

/// The longest a delivery task sleeps without looking at the database.
const IDLE_POLL: Duration = Duration::from_secs(60);

impl Outbox {
    pub fn new(
        store: Store,
        notifiers: Vec<Arc<dyn Notifier>>,
        cfg: &AlertsConfig,
        printer: &str,
        clock: Clock,
    ) -> Self {
        let rate = RateLimit { max: cfg.rate_limit.max, window_ms: i64::from(cfg.rate_limit.window_s) * 1000 };
        Outbox {
            inner: Arc::new(Inner {
                store,
                notifiers,
                retry: cfg.retry.clone(),
                rate,
                timeout: Duration::from_millis(cfg.request_timeout_ms),
                printer: printer.to_string(),
                clock,
                wake: watch::channel(0).0,
            }),
        }
    }

    pub fn channels(&self) -> Vec<Channel> {
        self.inner.notifiers.iter().map(|n| n.channel()).collect()
    }

    /// Writes `alert` to every channel that takes its level, durably, and wakes
    /// the delivery tasks. `Incident` alerts are de-duplicated per incident.
    pub async fn enqueue(&self, alert: &Alert) -> Result<Vec<(Channel, Enqueued)>, StoreError> {
        let payload = serde_json::to_string(alert)
            .map_err(|e| StoreError::Worker(format!("cannot serialise alert {}: {e}", alert.id)))?;
        let mut out = Vec::new();
        for n in &self.inner.notifiers {
            let wanted = alert.kind == AlertKind::Test || alert.level >= n.min_level().max(Level::Warning);
            if !wanted {
                continue;
            }
            let row = NewOutboxRow {
                alert_id: alert.id.clone(),
                incident_id: alert.incident_id,
                kind: alert.kind,
                channel: n.channel(),
                payload: payload.clone(),
                snapshot_id: alert.snapshot.as_ref().map(|s| s.id.clone()),
                created_at: self.inner.clock.now(),
            };
            let rate = (alert.kind != AlertKind::Test).then_some(self.inner.rate);
            let r = self.inner.store.enqueue_alert(row, rate, None).await?;
            match &r {
                Enqueued::Queued(id) => {
                    tracing::debug!(channel = %n.channel(), outbox_id = id, alert = %alert.id, "alert queued")
                }
                Enqueued::Duplicate(id) => {
                    tracing::debug!(channel = %n.channel(), outbox_id = id, "incident already alerted on this channel")
                }
                Enqueued::Suppressed { id, reason } => {
                    tracing::warn!(channel = %n.channel(), outbox_id = id, %reason, "alert suppressed")
                }
            }
            out.push((n.channel(), r));
        }
        self.inner.wake.send_modify(|g| *g = g.wrapping_add(1));
        Ok(out)
    }

    /// Counts for health checks: pending, failed, suppressed.
    pub async fn backlog(&self) -> Result<OutboxBacklog, StoreError> {
        self.inner.store.outbox_backlog().await
    }

    /// Starts one delivery task per channel on `tracker`; they stop on `cancel`.
    pub fn spawn(&self, cancel: &CancellationToken, tracker: &TaskTracker) {
        for n in &self.inner.notifiers {
            let me = self.clone();
            let n = Arc::clone(n);
            let cancel = cancel.clone();
            tracker.spawn(async move { me.run_channel(n, cancel).await });
        }
    }

    async fn run_channel(self, n: Arc<dyn Notifier>, cancel: CancellationToken) {
        let channel = n.channel();
        let mut wake = self.inner.wake.subscribe();
        tracing::debug!(%channel, "alert delivery started");
        while !cancel.is_cancelled() {
            wake.borrow_and_update();
            let wait = match self.pass(&n, &cancel).await {
                Ok(Next::Again) => continue,
                Ok(Next::Sleep(d)) => d,
                Err(e) => {
                    tracing::error!(%channel, error = %e, "alert outbox cannot read or write the database");
                    Duration::from_secs(5)
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = wake.changed() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        tracing::debug!(%channel, "alert delivery stopped");
    }

    /// Summarises suppressed alerts when the window allows, then delivers what is due.
    async fn pass(&self, n: &Arc<dyn Notifier>, cancel: &CancellationToken) -> Result<Next, StoreError> {
        let (store, clock, rate) = (&self.inner.store, &self.inner.clock, self.inner.rate);
        let channel = n.channel();
        let now = clock.now();
        let window = store.rate_window(channel, now, rate).await?;
        if window.unsummarized > 0 && window.counted < rate.max {
            let printer = self.inner.printer.clone();
            let created_at = now;
            let summary = store
                .summarize_suppressed(channel, move |count| summary_row(&printer, channel, count, rate, created_at))
                .await?;
            if let Some((id, count)) = summary {
                tracing::info!(%channel, outbox_id = id, suppressed = count, "rate-limit summary queued");
            }
            return Ok(Next::Again);
        }
        let due = store.due_alerts(channel, now, 8).await?;
        if !due.is_empty() {
            for row in due {
                if cancel.is_cancelled() {
                    break;
                }
                self.deliver(n, row, cancel).await?;
            }
            return Ok(Next::Again);
        }
        let mut wait = IDLE_POLL;
        if let Some(t) = store.next_due_at(channel).await? {
            wait = wait.min(clock.until(t));
        }
        if window.unsummarized > 0
            && let Some(t) = window.reopens_at
        {
            wait = wait.min(clock.until(t) + Duration::from_millis(1));
        }
        Ok(Next::Sleep(wait))
    }

    /// One attempt at one row.
    async fn deliver(
        &self,
        n: &Arc<dyn Notifier>,
        row: OutboxRow,
        cancel: &CancellationToken,
    ) -> Result<(), StoreError> {
        let (store, clock, retry) = (&self.inner.store, &self.inner.clock, &self.inner.retry);
        let channel = n.channel();
        let now = clock.now();
        let max_age_ms = i64::from(retry.give_up_after_h) * 3_600_000;
        if now.millis() - row.created_at.millis() > max_age_ms {
            let reason = format!(
                "gave up after {} h undelivered; last error: {}",
                retry.give_up_after_h,
                row.last_error.as_deref().unwrap_or("none")
            );
            tracing::error!(%channel, outbox_id = row.id, alert = %row.alert_id, %reason, "alert not delivered");
            return store.give_up_alert(row.id, &reason).await;
        }
        if !store.mark_sending(row.id, now).await? {
            return Ok(());
        }
        let alert: Alert = match serde_json::from_str(&row.payload) {
            Ok(a) => a,
            Err(e) => {
                let reason = format!("stored alert is unreadable: {e}");
                tracing::error!(%channel, outbox_id = row.id, %reason, "alert not delivered");
                return store.give_up_alert(row.id, &reason).await;
            }
        };
        let snapshot = self.snapshot_bytes(&row).await;
        let started = Instant::now();
        // The notifier has its own request timeout; this is a backstop.
        let send =
            tokio::time::timeout(self.inner.timeout + Duration::from_secs(5), n.send(&alert, snapshot.as_deref()));
        let result = tokio::select! {
            r = send => r.unwrap_or_else(|_| Err(super::alerts::NotifyError::Retryable {
                status: None,
                retry_after: None,
                message: format!("no answer within {} ms", self.inner.timeout.as_millis()),
            })),
            _ = cancel.cancelled() => {
                tracing::info!(%channel, outbox_id = row.id, "delivery interrupted by shutdown; resumes at start-up");
                return store.requeue_alert(row.id, clock.now()).await;
            }
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        let attempts = row.attempts + 1;
        let outcome = match result {
            Ok(d) => {
                tracing::info!(%channel, outbox_id = row.id, alert = %alert.id, attempts, status = d.status,
                    "alert delivered");
                AttemptOutcome::Sent { status: d.status, remote_id: d.remote_id }
            }
            Err(e) if e.is_permanent() && attempts >= retry.permanent_attempts => {
                tracing::error!(%channel, outbox_id = row.id, alert = %alert.id, attempts, error = %e,
                    "alert delivery failed permanently; fix the channel's configuration");
                AttemptOutcome::Failed { status: e.status(), error: e.to_string() }
            }
            Err(e) => {
                let max_ra = Duration::from_secs(retry.max_retry_after_s);
                let wait = match e.retry_after() {
                    Some(ra) => ra.min(max_ra),
                    None => full_jitter(retry, attempts, &mut rand::rng()),
                };
                // Never a tight loop, even on `Retry-After: 0` or a jitter of 0.
                let wait = wait.max(MIN_RETRY.min(Duration::from_millis(retry.max_ms)));
                tracing::warn!(%channel, outbox_id = row.id, alert = %alert.id, attempts, error = %e,
                    retry_in_ms = wait.as_millis() as u64, "alert delivery failed; will retry");
                AttemptOutcome::Retry {
                    status: e.status(),
                    error: e.to_string(),
                    next_attempt_at: clock.now().add(wait),
                }
            }
        };
        store.record_attempt(row.id, clock.now(), duration_ms, outcome).await
    }

    async fn snapshot_bytes(&self, row: &OutboxRow) -> Option<Vec<u8>> {
        let id = SnapshotId::parse(row.snapshot_id.as_deref()?).ok()?;
        match self.inner.store.read_snapshot(&id).await {
            Ok(Some(b)) => Some(b),
            Ok(None) => {
                tracing::warn!(outbox_id = row.id, snapshot = %id, "alert snapshot is gone; sending without it");
                None
            }
            Err(e) => {
                tracing::warn!(outbox_id = row.id, snapshot = %id, error = %e, "cannot read alert snapshot");
                None
            }
        }
    }
}

fn summary_row(
    printer: &str,
    channel: Channel,
    count: u32,
    rate: RateLimit,
    now: crate::domain::Timestamp,
) -> NewOutboxRow {
    let mut a = Alert::new(AlertKind::Summary, printer, now, Level::Warning);
    a.suppressed = Some(count);
    a.note = format!(
        "{count} alert{} not sent on {channel}: at most {} per {} s; see the dashboard for all incidents",
        if count == 1 { " was" } else { "s were" },
        rate.max,
        rate.window_ms / 1000
    );
    NewOutboxRow {
        alert_id: a.id.clone(),
        incident_id: None,
        kind: AlertKind::Summary,
        channel,
        // An `Alert` always serialises; an empty payload would be refused at send time, never lost.
        payload: serde_json::to_string(&a).unwrap_or_default(),
        snapshot_id: None,
        created_at: now,
    }
}
