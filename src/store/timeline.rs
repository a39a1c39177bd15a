//! The downsampled verdict timeline: every change of level, and at most one
//! point per interval with min/max/last of the smoothed score, so weeks of
//! running stay small (one row per 10 s is ~60k rows a week).
//!
//! `TimelineSampler` is pure (the caller passes every verdict's time, level and
//! score); `Store` persists the points it emits.

use rusqlite::params;
use serde::Serialize;

use super::error::SqlContext;
use super::{PrintId, Store, StoreError, StoredLevel, query_rows};
use crate::domain::{Level, Timestamp};

/// One stored point: a run of verdicts at one level within one interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelinePoint {
    pub print_id: Option<PrintId>,
    pub start_at: Timestamp,
    pub end_at: Timestamp,
    pub level: Level,
    pub score_min: f32,
    pub score_max: f32,
    pub score_last: f32,
    pub frames: u32,
    pub layer: Option<u32>,
}

/// Folds verdicts into timeline points.
#[derive(Debug, Clone)]
pub struct TimelineSampler {
    interval_ms: i64,
    open: Option<TimelinePoint>,
}

impl TimelineSampler {
    pub fn new(interval_s: u32) -> Self {
        TimelineSampler { interval_ms: i64::from(interval_s.max(1)) * 1000, open: None }
    }

    /// Adds one verdict. Returns the finished point when this verdict starts a
    /// new one (level changed, print changed, or the interval is over).
    pub fn push(
        &mut self,
        print_id: Option<PrintId>,
        at: Timestamp,
        level: Level,
        score: f32,
        layer: Option<u32>,
    ) -> Option<TimelinePoint> {
        let score = if score.is_finite() { score } else { 0.0 };
        if let Some(p) = &mut self.open
            && p.level == level
            && p.print_id == print_id
            && at.millis() >= p.start_at.millis()
            && at.millis() - p.start_at.millis() < self.interval_ms
        {
            p.end_at = at;
            p.score_min = p.score_min.min(score);
            p.score_max = p.score_max.max(score);
            p.score_last = score;
            p.frames += 1;
            p.layer = layer.or(p.layer);
            return None;
        }
        let fresh = TimelinePoint {
            print_id,
            start_at: at,
            end_at: at,
            level,
            score_min: score,
            score_max: score,
            score_last: score,
            frames: 1,
            layer,
        };
        self.open.replace(fresh)
    }

    /// The point in progress, if any (at shutdown or when a print ends).
    pub fn flush(&mut self) -> Option<TimelinePoint> {
        self.open.take()
    }
}

impl Store {
    pub async fn append_timeline(&self, p: TimelinePoint) -> Result<(), StoreError> {
        self.call(move |c, _| {
            c.execute(
                "INSERT INTO timeline (print_id, start_at, end_at, level, score_min, score_max, score_last, frames, \
                 layer) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    p.print_id,
                    p.start_at.millis(),
                    p.end_at.millis(),
                    StoredLevel::from(p.level),
                    f64::from(p.score_min),
                    f64::from(p.score_max),
                    f64::from(p.score_last),
                    p.frames,
                    p.layer
                ],
            )
            .op("append timeline")?;
            Ok(())
        })
        .await
    }

    /// The timeline of one print, in time order.
    pub async fn timeline_of_print(&self, print: PrintId) -> Result<Vec<TimelinePoint>, StoreError> {
        self.call(move |c, _| {
            let sql = "SELECT print_id, start_at, end_at, level, score_min, score_max, score_last, frames, layer \
                       FROM timeline WHERE print_id = ?1 ORDER BY start_at, id";
            query_rows(c, "timeline of print", sql, [print], |r| {
                Ok(TimelinePoint {
                    print_id: r.get(0)?,
                    start_at: Timestamp::from_millis(r.get(1)?),
                    end_at: Timestamp::from_millis(r.get(2)?),
                    level: r.get::<_, StoredLevel>(3)?.into(),
                    score_min: r.get::<_, f64>(4)? as f32,
                    score_max: r.get::<_, f64>(5)? as f32,
                    score_last: r.get::<_, f64>(6)? as f32,
                    frames: r.get(7)?,
                    layer: r.get(8)?,
                })
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    /// Feeds `(seconds, level, score)` triples and renders the emitted points.
    fn check(interval_s: u32, input: &[(f64, Level, f32)], expected: Expect) {
        let mut s = TimelineSampler::new(interval_s);
        let mut out = Vec::new();
        for &(t, level, score) in input {
            out.extend(s.push(Some(1), Timestamp::from_millis((t * 1000.0) as i64), level, score, None));
        }
        out.extend(s.flush());
        let text: Vec<String> = out
            .iter()
            .map(|p| {
                format!(
                    "t={:.1}..{:.1} {:?} n={} min={:.2} max={:.2} last={:.2}",
                    p.start_at.millis() as f64 / 1000.0,
                    p.end_at.millis() as f64 / 1000.0,
                    p.level,
                    p.frames,
                    p.score_min,
                    p.score_max,
                    p.score_last
                )
            })
            .collect();
        expected.assert_eq(&text.join("\n"));
    }

    #[test]
    fn one_point_per_interval_while_level_holds() {
        let input: Vec<_> = (0..25).map(|i| (i as f64, Level::Ok, 0.1 + (i % 5) as f32 * 0.01)).collect();
        check(
            10,
            &input,
            expect![[r#"
                t=0.0..9.0 Ok n=10 min=0.10 max=0.14 last=0.14
                t=10.0..19.0 Ok n=10 min=0.10 max=0.14 last=0.14
                t=20.0..24.0 Ok n=5 min=0.10 max=0.14 last=0.14"#]],
        );
    }

    #[test]
    fn every_level_change_starts_a_point() {
        use Level::*;
        check(
            10,
            &[
                (0.0, Ok, 0.1),
                (1.0, Ok, 0.2),
                (2.0, Warning, 0.6),
                (3.0, Failure, 0.9),
                (4.0, Failure, 0.95),
                (5.0, Ok, 0.1),
            ],
            expect![[r#"
                t=0.0..1.0 Ok n=2 min=0.10 max=0.20 last=0.20
                t=2.0..2.0 Warning n=1 min=0.60 max=0.60 last=0.60
                t=3.0..4.0 Failure n=2 min=0.90 max=0.95 last=0.95
                t=5.0..5.0 Ok n=1 min=0.10 max=0.10 last=0.10"#]],
        );
    }

    #[test]
    fn a_week_at_two_frames_per_second_stays_small() {
        let mut s = TimelineSampler::new(10);
        let mut points = 0u64;
        for i in 0..(7 * 86_400 * 2) {
            let level = if i % 7_200 < 20 { Level::Warning } else { Level::Ok };
            points += s.push(None, Timestamp::from_millis(i * 500), level, 0.2, None).is_some() as u64;
        }
        // 60_480 interval points + 2 extra per warning episode (84 episodes).
        assert!(points < 61_000, "{points}");
    }
}
