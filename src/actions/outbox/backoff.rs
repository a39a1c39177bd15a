//! Exponential backoff with full jitter: the n-th retry waits a uniformly
//! random time in `[0, min(max, initial * 2^(n-1))]` (AWS's "full jitter"),
//! so many daemons retrying one endpoint do not stampede it.

use std::time::Duration;

use rand::{Rng, RngExt};

use crate::actions::config::RetryConfig;

/// The upper bound of the wait before retry number `attempt` (1-based).
pub fn cap_ms(cfg: &RetryConfig, attempt: u32) -> u64 {
    let doublings = attempt.saturating_sub(1).min(40);
    cfg.initial_ms.saturating_mul(1u64 << doublings).min(cfg.max_ms)
}

/// A random wait before retry number `attempt` (1-based).
pub fn full_jitter(cfg: &RetryConfig, attempt: u32, rng: &mut impl Rng) -> Duration {
    Duration::from_millis(rng.random_range(0..=cap_ms(cfg, attempt)))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn caps_double_up_to_the_maximum() {
        let cfg = RetryConfig { initial_ms: 1_000, max_ms: 30_000, ..RetryConfig::default() };
        let caps: Vec<u64> = (1..=7).map(|n| cap_ms(&cfg, n)).collect();
        assert_eq!(caps, [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
        assert_eq!(cap_ms(&cfg, u32::MAX), 30_000, "no overflow");
    }

    #[test]
    fn waits_stay_within_the_cap_and_spread_out() {
        let cfg = RetryConfig { initial_ms: 1_000, max_ms: 60_000, ..RetryConfig::default() };
        let mut rng = StdRng::seed_from_u64(7);
        let waits: Vec<u64> = (0..1000).map(|_| full_jitter(&cfg, 4, &mut rng).as_millis() as u64).collect();
        assert!(waits.iter().all(|w| *w <= 8_000));
        let mean = waits.iter().sum::<u64>() as f64 / waits.len() as f64;
        assert!((3_500.0..4_500.0).contains(&mean), "uniform on [0, 8000]: mean {mean}");
    }
}
