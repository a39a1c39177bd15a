//! The simulated machine under the firmware: heaters, the motion planner, the
//! axis positions and the SD card. Time is passed in (scaled by the caller), so
//! this file has no clock and no I/O.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

/// One heater approaching its target at a fixed rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Heater {
    pub actual: f32,
    pub target: f32,
}

impl Heater {
    pub fn new(ambient: f32) -> Self {
        Heater {
            actual: ambient,
            target: 0.0,
        }
    }

    /// Moves toward the target (or ambient when off) by `rate * secs`.
    pub fn step(&mut self, secs: f32, rate: f32, ambient: f32) {
        let goal = if self.target > 0.0 { self.target } else { ambient };
        let delta = rate * secs;
        if (goal - self.actual).abs() <= delta {
            self.actual = goal;
        } else {
            self.actual += delta.copysign(goal - self.actual);
        }
    }

    /// Within Marlin's TEMP_WINDOW of the target.
    pub fn reached(&self) -> bool {
        self.target <= 0.0 || (self.actual - self.target).abs() <= 1.0
    }
}

/// Logical axis positions and modes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Axes {
    pub pos: [f32; 4],
    pub absolute: bool,
    pub absolute_e: bool,
    /// mm/min
    pub feedrate: f32,
}

impl Default for Axes {
    fn default() -> Self {
        Axes {
            pos: [0.0; 4],
            absolute: true,
            absolute_e: true,
            feedrate: 1500.0,
        }
    }
}

impl Axes {
    /// Applies a G0/G1 target; returns the length of the move in mm.
    pub fn apply_move(&mut self, target: [Option<f32>; 4], feed: Option<f32>) -> f32 {
        if let Some(f) = feed.filter(|f| *f > 0.0) {
            self.feedrate = f;
        }
        let old = self.pos;
        for (i, t) in target.iter().enumerate() {
            if let Some(v) = t {
                let abs = if i == 3 { self.absolute_e } else { self.absolute };
                self.pos[i] = if abs { *v } else { self.pos[i] + v };
            }
        }
        let d: f32 = (0..3).map(|i| (self.pos[i] - old[i]).powi(2)).sum::<f32>().sqrt();
        if d > 0.0 { d } else { (self.pos[3] - old[3]).abs() }
    }
}

/// Moves queued for execution, each ending at an instant.
#[derive(Debug, Default)]
pub struct Planner {
    ends: VecDeque<Instant>,
    pub capacity: usize,
}

impl Planner {
    pub fn new(capacity: usize) -> Self {
        Planner {
            ends: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    pub fn has_room(&self) -> bool {
        self.ends.len() < self.capacity
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Queues a move taking `duration` after the previous one ends.
    pub fn push(&mut self, now: Instant, duration: Duration) {
        let start = self.ends.back().copied().filter(|t| *t > now).unwrap_or(now);
        self.ends.push_back(start + duration);
    }

    pub fn retire(&mut self, now: Instant) {
        while self.ends.front().is_some_and(|t| *t <= now) {
            self.ends.pop_front();
        }
    }

    pub fn clear(&mut self) {
        self.ends.clear();
    }
}

/// The SD card: files by (lower-case) name and the print in progress.
#[derive(Debug, Default)]
pub struct SdCard {
    pub files: BTreeMap<String, Vec<u8>>,
    pub selected: Option<String>,
    pub pos: u64,
    pub printing: bool,
}

impl SdCard {
    pub fn size(&self) -> Option<u64> {
        self.selected
            .as_ref()
            .and_then(|n| self.files.get(n))
            .map(|d| d.len() as u64)
    }

    /// The next line of the selected file, advancing the position.
    pub fn next_line(&mut self) -> Option<String> {
        let data = self.files.get(self.selected.as_ref()?)?;
        let start = self.pos as usize;
        if start >= data.len() {
            return None;
        }
        let end = data[start..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(data.len(), |i| start + i + 1);
        self.pos = end as u64;
        Some(String::from_utf8_lossy(&data[start..end]).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heater_approaches_and_reaches() {
        let mut h = Heater::new(20.0);
        h.target = 30.0;
        h.step(1.0, 4.0, 20.0);
        assert_eq!(h.actual, 24.0);
        assert!(!h.reached());
        h.step(10.0, 4.0, 20.0);
        assert_eq!(h.actual, 30.0);
        assert!(h.reached());
        h.target = 0.0;
        h.step(100.0, 4.0, 20.0);
        assert_eq!(h.actual, 20.0);
    }

    #[test]
    fn relative_and_absolute_moves() {
        let mut a = Axes::default();
        assert_eq!(a.apply_move([Some(3.0), Some(4.0), None, None], Some(600.0)), 5.0);
        a.absolute = false;
        a.absolute_e = false;
        a.apply_move([None, None, Some(1.0), Some(2.0)], None);
        a.apply_move([None, None, Some(1.0), Some(2.0)], None);
        assert_eq!(a.pos, [3.0, 4.0, 2.0, 4.0]);
        assert_eq!(a.feedrate, 600.0);
    }

    #[test]
    fn planner_chains_moves() {
        let t0 = Instant::now();
        let mut p = Planner::new(2);
        p.push(t0, Duration::from_millis(10));
        p.push(t0, Duration::from_millis(10));
        assert!(!p.has_room());
        p.retire(t0 + Duration::from_millis(5));
        assert!(!p.has_room());
        p.retire(t0 + Duration::from_millis(15));
        assert!(p.has_room());
        p.retire(t0 + Duration::from_millis(20));
        assert!(p.is_empty());
    }

    #[test]
    fn sd_reads_lines() {
        let mut sd = SdCard::default();
        sd.files.insert("a.gco".into(), b"G28\nG1 X1\nM400".to_vec());
        sd.selected = Some("a.gco".into());
        assert_eq!(sd.next_line().as_deref(), Some("G28\n"));
        assert_eq!(sd.pos, 4);
        assert_eq!(sd.next_line().as_deref(), Some("G1 X1\n"));
        assert_eq!(sd.next_line().as_deref(), Some("M400"));
        assert_eq!(sd.next_line(), None);
    }
}
