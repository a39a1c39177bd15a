//! Reconnect pacing: exponential backoff (with "equal jitter" for clients that
//! share a server, without for a link that is its peer's only client), and a
//! limiter so a peer that stays down for hours logs a handful of lines, not
//! thousands. Both are pure: the caller passes the time and the randomness in.

use std::time::{Duration, Instant};

/// Exponential backoff: `initial * 2^n`, capped at `max`; `reset` after a success.
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
    /// `[0, 1]` picks the point in the jitter range `[d/2, d]` (pass a random
    /// number; anything not finite counts as 1).
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        let d = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        let unit = if unit.is_finite() { unit.clamp(0.0, 1.0) } else { 1.0 };
        if unit >= 1.0 { d } else { d.mul_f64(0.5 + 0.5 * unit) }
    }

    /// Records a failure and returns the full delay, without jitter.
    pub fn next_plain(&mut self) -> Duration {
        self.next_delay(1.0)
    }

    /// Consecutive failures since the last `reset`.
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

    /// Ends a streak: the next occurrence is logged at once.
    pub fn reset(&mut self) {
        self.last_loud = None;
        self.suppressed = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_caps_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(250), Duration::from_secs(2));
        let ceilings: Vec<u128> = (0..6).map(|_| b.next_plain().as_millis()).collect();
        assert_eq!(ceilings, [250, 500, 1000, 2000, 2000, 2000]);
        assert_eq!(b.failures(), 6);
        b.reset();
        assert_eq!(b.next_delay(0.0).as_millis(), 125, "jitter floor is half the ceiling");
        assert_eq!(b.failures(), 1);
    }

    #[test]
    fn plain_delays_are_exact() {
        let mut b = Backoff::new(Duration::from_millis(200), Duration::from_millis(3_333));
        let got: Vec<Duration> = (0..6).map(|_| b.next_plain()).collect();
        let ms = |m| Duration::from_millis(m);
        assert_eq!(got, [ms(200), ms(400), ms(800), ms(1600), ms(3200), ms(3333)]);
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
}
