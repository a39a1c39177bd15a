//! The engine's and the outbox's idea of "now" as a wall-clock `Timestamp`.
//!
//! Live runs read the system clock. Tests anchor the wall clock to tokio's
//! clock, so `tokio::time::pause`/`advance` move `now()` too, and "after N
//! minutes" takes no real time. Timers are always tokio sleeps on the
//! difference between two `now()` values, so both clocks behave the same.

use std::time::Duration;

use crate::domain::Timestamp;

/// Where `now()` comes from.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// The system's wall clock.
    System,
    /// `wall` at `anchor`, advancing with tokio's (pausable) clock.
    Tokio { wall: Timestamp, anchor: tokio::time::Instant },
}

impl Clock {
    /// A clock that follows tokio's time from the current wall-clock time.
    pub fn tokio() -> Clock {
        Clock::Tokio { wall: Timestamp::now(), anchor: tokio::time::Instant::now() }
    }

    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Tokio { wall, anchor } => wall.add(anchor.elapsed()),
        }
    }

    /// How long from now until `t` (zero if it has passed).
    pub fn until(&self, t: Timestamp) -> Duration {
        Duration::from_millis(t.millis().saturating_sub(self.now().millis()).max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_moves_with_paused_time() {
        let c = Clock::tokio();
        let t0 = c.now();
        tokio::time::advance(Duration::from_secs(600)).await;
        assert_eq!(c.now().millis() - t0.millis(), 600_000);
        assert_eq!(c.until(t0.add(Duration::from_secs(601))), Duration::from_secs(1));
    }
}
