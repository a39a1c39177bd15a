//! Temporal smoothing: a time-aware EWMA of the failure score (and of each
//! failure kind's probability) plus a fixed ring of recent frames for the
//! "k of the last n" window rule and the fast path.
//!
//! Owns only arithmetic on numbers it is handed; allocation-free. The weight
//! of a frame that arrives `dt` seconds after the previous usable one is
//! `1 - 2^(-min(dt, max_step_s) / half_life_s)`, so irregular frame gaps weigh
//! frames by the time they stand for, and one frame after a long gap cannot
//! dominate. A gap longer than `reset_after_s` restarts everything: the old
//! average says nothing about the picture now. After a (re)start the average
//! is 0 ("nothing wrong seen") and the first frame is weighed as if it came
//! `max_step_s` after that prior; the window rule keeps one such frame from
//! deciding anything on its own.

use super::calibration::WINDOW_CAPACITY;

/// One usable frame in the ring.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Slot {
    t_ms: i64,
    /// Failure score after the print's learned offset.
    adj: f32,
    /// Failure score as the model gave it.
    raw: f32,
}

/// EWMA + window state. `Copy`-sized (~0.5 KiB), no heap.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Smoother {
    smoothed: f32,
    kinds: [f32; 4],
    last_ms: Option<i64>,
    ring: [Slot; WINDOW_CAPACITY],
    /// Index of the newest slot.
    head: usize,
    len: usize,
}

impl Default for Smoother {
    fn default() -> Self {
        Smoother {
            smoothed: 0.0,
            kinds: [0.0; 4],
            last_ms: None,
            ring: [Slot::default(); WINDOW_CAPACITY],
            head: 0,
            len: 0,
        }
    }
}

/// How a frame went into the smoother.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fed {
    Normal,
    /// The gap before this frame exceeded `reset_after_s`: state was restarted first.
    AfterReset,
}

impl Smoother {
    /// Forgets everything: average back to 0 ("nothing wrong seen"), window empty.
    pub fn reset(&mut self) {
        *self = Smoother::default();
    }

    pub fn smoothed(&self) -> f32 {
        self.smoothed
    }

    /// Smoothed probability per failure kind (indexed by `kind_index`).
    pub fn kinds(&self) -> &[f32; 4] {
        &self.kinds
    }

    /// Adds a frame at `t_ms` (must be later than `last_ms`; the caller checks).
    pub fn feed(&mut self, t_ms: i64, adj: f32, raw: f32, kinds: &[f32; 4], p: &SmoothingParams) -> Fed {
        let mut fed = Fed::Normal;
        let dt_s = match self.last_ms {
            Some(last) => {
                let dt = (t_ms - last) as f32 / 1000.0;
                if dt > p.reset_after_s {
                    self.reset();
                    fed = Fed::AfterReset;
                    p.max_step_s
                } else {
                    dt.min(p.max_step_s)
                }
            }
            None => p.max_step_s,
        };
        let alpha = 1.0 - (-dt_s.max(0.0) / p.half_life_s.max(1e-3)).exp2();
        self.smoothed += alpha * (adj - self.smoothed);
        for (s, q) in self.kinds.iter_mut().zip(kinds) {
            *s += alpha * (q - *s);
        }
        self.head = (self.head + 1) % WINDOW_CAPACITY;
        self.ring[self.head] = Slot { t_ms, adj, raw };
        self.len = (self.len + 1).min(WINDOW_CAPACITY);
        self.last_ms = Some(t_ms);
        fed
    }

    /// Newest first, at most `n`.
    fn recent(&self, n: usize) -> impl Iterator<Item = &Slot> {
        let n = n.min(self.len);
        (0..n).map(move |i| &self.ring[(self.head + WINDOW_CAPACITY - i) % WINDOW_CAPACITY])
    }

    /// How many of the last `n` frames are at or above `level` (adjusted score).
    pub fn count_at_or_above(&self, level: f32, n: u32) -> u32 {
        self.recent(n as usize).filter(|s| s.adj >= level).count() as u32
    }

    /// The run of newest consecutive frames at or above `level`: (frames, seconds spanned).
    pub fn trailing_run(&self, level: f32) -> (u32, f32) {
        let mut frames = 0;
        let mut oldest = None;
        let newest = self.recent(1).next().map(|s| s.t_ms);
        for s in self.recent(WINDOW_CAPACITY) {
            if s.adj < level {
                break;
            }
            frames += 1;
            oldest = Some(s.t_ms);
        }
        let span = match (newest, oldest) {
            (Some(n), Some(o)) => (n - o) as f32 / 1000.0,
            _ => 0.0,
        };
        (frames, span)
    }

    /// Raw scores of the last `n` frames, oldest first.
    pub fn recent_raw(&self, n: u32) -> Vec<f32> {
        let mut v: Vec<f32> = self.recent(n as usize).map(|s| s.raw).collect();
        v.reverse();
        v
    }

    /// Median raw score of the last `n` frames, if any (for learning a baseline).
    pub fn median_raw(&self, n: u32) -> Option<f32> {
        let mut buf = [0.0f32; WINDOW_CAPACITY];
        let mut len = 0;
        for s in self.recent(n as usize) {
            buf[len] = s.raw;
            len += 1;
        }
        if len == 0 {
            return None;
        }
        let v = &mut buf[..len];
        v.sort_by(f32::total_cmp);
        Some(if len % 2 == 1 { v[len / 2] } else { (v[len / 2 - 1] + v[len / 2]) / 2.0 })
    }
}

/// The smoothing part of `DecisionParams`, copied out once per step.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SmoothingParams {
    pub half_life_s: f32,
    pub max_step_s: f32,
    pub reset_after_s: f32,
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: SmoothingParams = SmoothingParams { half_life_s: 8.0, max_step_s: 10.0, reset_after_s: 120.0 };

    fn fed(frames: &[(i64, f32)]) -> Smoother {
        let mut s = Smoother::default();
        for &(t, x) in frames {
            s.feed(t, x, x, &[x, 0.0, 0.0, 0.0], &P);
        }
        s
    }

    #[test]
    fn a_frame_half_a_life_later_weighs_what_the_formula_says() {
        let s = fed(&[(0, 0.0), (8_000, 1.0)]);
        // Second frame 8 s = one half-life later: weight 1/2.
        assert!((s.smoothed() - 0.5).abs() < 1e-6, "{}", s.smoothed());
    }

    #[test]
    fn irregular_gaps_weigh_by_time_not_by_count() {
        // Four frames 2 s apart reach the same average as one frame 8 s later.
        let a = fed(&[(0, 0.0), (2_000, 1.0), (4_000, 1.0), (6_000, 1.0), (8_000, 1.0)]);
        let b = fed(&[(0, 0.0), (8_000, 1.0)]);
        assert!((a.smoothed() - b.smoothed()).abs() < 1e-5, "{} vs {}", a.smoothed(), b.smoothed());
    }

    #[test]
    fn a_long_gap_restarts_and_one_frame_cannot_dominate() {
        let mut s = fed(&[(0, 0.9), (2_000, 0.9), (4_000, 0.9), (6_000, 0.9)]);
        let before = s.smoothed();
        let fed = s.feed(306_000, 0.05, 0.05, &[0.0; 4], &P);
        assert_eq!(fed, Fed::AfterReset);
        assert!(s.smoothed() < 0.05 && before > 0.5);
        assert_eq!(s.count_at_or_above(0.5, 6), 0, "the window was emptied");
    }

    #[test]
    fn window_and_trailing_run_look_at_the_newest_frames() {
        let s = fed(&[(0, 0.9), (2_000, 0.1), (4_000, 0.9), (6_000, 0.95), (8_000, 0.97)]);
        assert_eq!(s.count_at_or_above(0.8, 6), 4);
        assert_eq!(s.count_at_or_above(0.8, 2), 2);
        assert_eq!(s.trailing_run(0.8), (3, 4.0));
        assert_eq!(s.median_raw(3), Some(0.95));
    }

    #[test]
    fn the_ring_wraps_without_losing_order() {
        let frames: Vec<(i64, f32)> = (0..100).map(|i| (i * 1000, if i >= 95 { 1.0 } else { 0.0 })).collect();
        let s = fed(&frames);
        assert_eq!(s.trailing_run(0.5), (5, 4.0));
        assert_eq!(s.count_at_or_above(0.5, 32), 5);
    }
}
