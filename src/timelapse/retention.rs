//! Which time-lapses to delete: older than the age limit, then oldest first
//! while over the count or size limit. The newest is always kept. Pure; the
//! library applies it to the folder.

use crate::domain::Timestamp;

/// Retention limits; 0 means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_count: u32,
    pub max_bytes: u64,
    pub max_age_ms: i64,
}

/// One stored time-lapse as retention sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub print: i64,
    pub bytes: u64,
    pub modified: Timestamp,
}

/// The prints whose time-lapse goes, oldest first.
pub fn select(stored: &[Stored], limits: Limits, now: Timestamp) -> Vec<i64> {
    let mut v = stored.to_vec();
    v.sort_by_key(|s| (s.modified, s.print));
    let Some(newest) = v.pop() else { return Vec::new() };
    let mut count = v.len() as u64 + 1;
    let mut bytes: u64 = v.iter().map(|s| s.bytes).sum::<u64>() + newest.bytes;
    let mut out = Vec::new();
    for s in v {
        let too_old = limits.max_age_ms > 0 && now.millis() - s.modified.millis() > limits.max_age_ms;
        let too_many = limits.max_count > 0 && count > u64::from(limits.max_count);
        let too_big = limits.max_bytes > 0 && bytes > limits.max_bytes;
        if too_old || too_many || too_big {
            out.push(s.print);
            count -= 1;
            bytes -= s.bytes;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    const DAY: i64 = 86_400_000;

    /// `stored` as (print, MiB, age in days); limits as (count, MiB, days).
    fn check(stored: &[(i64, u64, i64)], limits: (u32, u64, i64), want: Expect) {
        let now = Timestamp::from_millis(1_000 * DAY);
        let stored: Vec<Stored> = stored
            .iter()
            .map(|&(print, mb, age)| Stored {
                print,
                bytes: mb << 20,
                modified: Timestamp::from_millis(now.millis() - age * DAY),
            })
            .collect();
        let limits = Limits { max_count: limits.0, max_bytes: limits.1 << 20, max_age_ms: limits.2 * DAY };
        want.assert_eq(&format!("{:?}", select(&stored, limits, now)));
    }

    #[test]
    fn retention_deletes_oldest_first_and_keeps_the_newest() {
        check(&[], (1, 1, 1), expect!["[]"]);
        // No limits.
        check(&[(1, 10, 400), (2, 10, 300)], (0, 0, 0), expect!["[]"]);
        // Count: the two oldest go.
        check(&[(3, 1, 1), (1, 1, 3), (2, 1, 2), (4, 1, 0)], (2, 0, 0), expect!["[1, 2]"]);
        // Size: 4 x 10 MiB under 25 MiB keeps the newest two.
        check(&[(1, 10, 4), (2, 10, 3), (3, 10, 2), (4, 10, 1)], (0, 25, 0), expect!["[1, 2]"]);
        // Age: older than 30 days.
        check(&[(1, 1, 40), (2, 1, 31), (3, 1, 29)], (0, 0, 30), expect!["[1, 2]"]);
        // The newest stays even when it alone is over every limit.
        check(&[(1, 100, 400)], (1, 1, 1), expect!["[]"]);
        check(&[(1, 1, 500), (2, 100, 400)], (5, 50, 1), expect!["[1]"]);
        // Limits combine: the count allows 3, the size only the newest two.
        check(&[(1, 5, 4), (2, 5, 3), (3, 20, 2), (4, 5, 1)], (3, 26, 0), expect!["[1, 2]"]);
    }
}
