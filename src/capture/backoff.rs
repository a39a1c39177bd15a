//! Reconnect policy shared by every live source: exponential backoff with
//! jitter capped at `reconnect_max_ms`, and logs that stay quiet during a long
//! outage (one warning when it starts, a reminder every minute, one info line
//! when the source is back).
//!
//! `Backoff` and `LogLimiter` are pure (the caller passes the time in);
//! `Reconnector` ties them to `tracing`, `CaptureStats` and `tokio::time`.

use std::fmt::Display;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::stats::{CaptureState, CaptureStats};

/// First retry delay; doubled on each failure up to the configured maximum.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(250);

/// Exponential backoff: `initial * 2^n`, capped, with "equal jitter" (a random
/// delay in `[d/2, d]`) so that many clients of one server do not retry in step.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff { initial: initial.min(max), max, failures: 0 }
    }

    /// The un-jittered delay before the next attempt.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.failures.min(20)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// Records a failure and returns how long to wait before retrying; `unit` in
    /// `[0, 1]` picks the point in the jitter range (pass a random number).
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        let d = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        let unit = if unit.is_finite() { unit.clamp(0.0, 1.0) } else { 1.0 };
        d.mul_f64(0.5 + 0.5 * unit)
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// Decides whether a repeated message is logged loudly: the first one is, then at
/// most one per `every`; the rest are counted and reported with the next loud one.
#[derive(Debug, Clone)]
pub struct LogLimiter {
    every: Duration,
    last_loud: Option<Instant>,
    suppressed: u64,
}

impl LogLimiter {
    pub fn new(every: Duration) -> Self {
        LogLimiter { every, last_loud: None, suppressed: 0 }
    }

    /// `Some(n)` when this occurrence should be logged loudly, with `n` occurrences
    /// suppressed since the last loud one; `None` when it should stay quiet.
    pub fn check(&mut self, now: Instant) -> Option<u64> {
        match self.last_loud {
            Some(t) if now.saturating_duration_since(t) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last_loud = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }

    pub fn reset(&mut self) {
        self.last_loud = None;
        self.suppressed = 0;
    }
}

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

    #[test]
    fn backoff_doubles_then_caps() {
        let mut b = Backoff::new(Duration::from_millis(250), Duration::from_secs(2));
        let ceilings: Vec<u128> = (0..6).map(|_| b.next_delay(1.0).as_millis()).collect();
        assert_eq!(ceilings, [250, 500, 1000, 2000, 2000, 2000]);
        b.reset();
        assert_eq!(b.next_delay(0.0).as_millis(), 125, "jitter floor is half the ceiling");
    }

    #[test]
    fn backoff_jitter_stays_in_range_and_survives_bad_input() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(30));
        for i in 0..100 {
            let d = b.next_delay(f64::from(i) / 99.0);
            assert!(d <= Duration::from_secs(30));
        }
        assert_eq!(b.next_delay(f64::NAN), Duration::from_secs(30));
        assert_eq!(b.next_delay(-3.0), Duration::from_secs(15));
    }

    #[test]
    fn initial_above_max_is_capped() {
        let mut b = Backoff::new(Duration::from_secs(5), Duration::from_millis(100));
        assert_eq!(b.next_delay(1.0), Duration::from_millis(100));
    }

    #[test]
    fn limiter_is_loud_once_per_period_and_counts_the_rest() {
        let mut l = LogLimiter::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(l.check(t0), Some(0));
        assert_eq!(l.check(t0 + Duration::from_secs(1)), None);
        assert_eq!(l.check(t0 + Duration::from_secs(59)), None);
        assert_eq!(l.check(t0 + Duration::from_secs(60)), Some(2));
        assert_eq!(l.check(t0 + Duration::from_secs(61)), None);
        l.reset();
        assert_eq!(l.check(t0 + Duration::from_secs(62)), Some(0));
    }

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
