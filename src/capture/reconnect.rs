//! Reconnect bookkeeping shared by every live source ([`Reconnector`]):
//! exponential backoff with jitter capped at `reconnect_max_ms` (`net::Backoff`),
//! counted in `CaptureStats`, and logs that stay quiet during a long outage
//! (one warning when it starts, a reminder every minute, one info line when
//! the source is back).

use std::fmt::Display;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::stats::{CaptureState, CaptureStats};
use crate::net::{Backoff, LogLimiter};

/// First retry delay; doubled on each failure up to the configured maximum.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(250);

/// How often a continuing outage or a stream of bad frames is logged at warn level.
pub const LOUD_EVERY: Duration = Duration::from_secs(60);

/// Reconnect bookkeeping of one source: backoff, counting and rate-limited logs.
#[derive(Debug)]
pub struct Reconnector {
    camera: Arc<str>,
    stats: Arc<CaptureStats>,
    backoff: Backoff,
    log: LogLimiter,
    down_since: Option<Instant>,
    attempts: u64,
}

impl Reconnector {
    pub fn new(camera: Arc<str>, stats: Arc<CaptureStats>, max: Duration) -> Self {
        Reconnector {
            camera,
            stats,
            backoff: Backoff::new(INITIAL_BACKOFF, max),
            log: LogLimiter::new(LOUD_EVERY),
            down_since: None,
            attempts: 0,
        }
    }

    /// Records a failed connection or a lost stream: counts it, logs it (loudly only
    /// at the start of an outage and once a minute), stores it as the last error.
    pub fn failed(&mut self, fault: &dyn Display) {
        let now = Instant::now();
        let first = self.down_since.is_none();
        if first {
            self.down_since = Some(now);
        }
        let message = fault.to_string();
        self.stats.record_error(message.clone());
        self.stats.set_state(CaptureState::Reconnecting);
        let camera = &*self.camera;
        match self.log.check(now) {
            Some(_) if first => {
                tracing::warn!(camera, error = %message, "camera connection failed; retrying with backoff");
            }
            Some(suppressed) => {
                let down_s = self.down_since.map(|t| now.saturating_duration_since(t).as_secs()).unwrap_or(0);
                tracing::warn!(
                    camera,
                    error = %message,
                    attempts = self.attempts,
                    down_s,
                    suppressed,
                    "camera still unreachable"
                );
            }
            None => tracing::debug!(camera, error = %message, attempts = self.attempts, "camera reconnect failed"),
        }
    }

    /// Waits out the backoff delay before the next attempt, and counts the attempt.
    pub async fn wait(&mut self) {
        let delay = self.backoff.next_delay(rand::random::<f64>());
        tracing::trace!(camera = &*self.camera, delay_ms = delay.as_millis() as u64, "reconnect backoff");
        tokio::time::sleep(delay).await;
        self.attempts += 1;
        self.stats.record_reconnect();
    }

    /// Records that the source works again (a frame arrived); logs the outage's end.
    pub fn succeeded(&mut self) {
        if let Some(since) = self.down_since.take() {
            tracing::info!(
                camera = &*self.camera,
                attempts = self.attempts,
                down_ms = since.elapsed().as_millis() as u64,
                "camera reconnected"
            );
        }
        self.backoff.reset();
        self.log.reset();
        self.attempts = 0;
    }

    /// True while an outage is going on (a failure was recorded and no frame came since).
    pub fn is_down(&self) -> bool {
        self.down_since.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn reconnector_counts_attempts_and_records_errors() {
        let stats = Arc::new(CaptureStats::new());
        let mut r = Reconnector::new("cam".into(), stats.clone(), Duration::from_secs(1));
        r.failed(&"connection refused");
        assert!(r.is_down());
        assert_eq!(stats.state(), CaptureState::Reconnecting);
        r.wait().await;
        r.failed(&"connection refused again");
        r.wait().await;
        assert_eq!(stats.reconnects(), 2);
        assert_eq!(stats.last_error().unwrap().message, "connection refused again");
        r.succeeded();
        assert!(!r.is_down());
    }
}
