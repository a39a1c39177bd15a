//! A bounded in-memory record of the latest decision steps, one entry per
//! scored frame: what the demo prints as its timeline and what the API shows
//! as "last score".
//!
//! This is an observation buffer, not a pipeline channel: it never blocks and
//! forgets the oldest entry when full (the store keeps the durable,
//! downsampled timeline). The lock is held only to push or copy.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

use crate::decision::Step;
use crate::domain::{Level, Timestamp};

/// One scored frame as the decision layer saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRecord {
    /// When the frame was captured.
    pub at: Timestamp,
    pub frame_seq: Option<u64>,
    /// The printer's state name when the frame was judged.
    pub printer: &'static str,
    /// 0-based layer and total, when known.
    pub layer: Option<u32>,
    pub layer_count: Option<u32>,
    pub raw: f32,
    pub smoothed: f32,
    pub level: Level,
    pub kind: Option<&'static str>,
    pub gate: &'static str,
    /// Effective pause level for this frame (`None` when pausing is off for the dominant kind).
    pub pause_level: Option<f32>,
    /// Decode + preprocess + inference, ms.
    pub latency_ms: f32,
    /// A geometry finding raised at this frame (`missing_material`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geometry: Option<&'static str>,
}

impl StepRecord {
    pub fn new(step: &Step, printer: &'static str, latency_ms: f32) -> Self {
        StepRecord {
            at: step.at,
            frame_seq: step.frame_seq,
            printer,
            layer: step.layer,
            layer_count: step.layer_count,
            raw: step.raw,
            smoothed: step.smoothed,
            level: step.level,
            kind: step.kind.map(|k| k.name()),
            gate: step.gate.name(),
            pause_level: step.pause_level.is_finite().then_some(step.pause_level),
            latency_ms,
            geometry: step.geometry_raised.first().map(|g| g.kind.name()),
        }
    }
}

/// The ring buffer.
#[derive(Debug)]
pub struct Journal {
    capacity: usize,
    entries: Mutex<VecDeque<StepRecord>>,
}

impl Journal {
    pub fn new(capacity: usize) -> Self {
        Journal { capacity: capacity.max(1), entries: Mutex::new(VecDeque::new()) }
    }

    pub fn push(&self, r: StepRecord) {
        let mut g = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if g.len() == self.capacity {
            g.pop_front();
        }
        g.push_back(r);
    }

    /// Every entry kept, oldest first.
    pub fn entries(&self) -> Vec<StepRecord> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: u64) -> StepRecord {
        StepRecord {
            at: Timestamp(seq as i64),
            frame_seq: Some(seq),
            printer: "printing",
            layer: None,
            layer_count: None,
            raw: 0.0,
            smoothed: 0.0,
            level: Level::Ok,
            kind: None,
            gate: "judged",
            pause_level: None,
            latency_ms: 0.0,
            geometry: None,
        }
    }

    #[test]
    fn keeps_the_newest_entries() {
        let j = Journal::new(3);
        for i in 0..5 {
            j.push(rec(i));
        }
        let seqs: Vec<_> = j.entries().iter().filter_map(|r| r.frame_seq).collect();
        assert_eq!(seqs, [2, 3, 4]);
    }
}
