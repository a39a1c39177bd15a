//! Reading a score relative to the camera and the print.
//!
//! A classifier's scores are biased per camera: on one printer a normal frame
//! scores 0.92, on another 0.13. A fixed pause level then either pauses good
//! prints on the first or misses failures on the second. This module moves
//! each score by a **shift in logit space** learned from frames known or
//! presumed to be normal, so that this camera's typical normal frame reads
//! like `reference` (a typical normal score of the cameras the levels were
//! calibrated on):
//!
//! ```text
//! adjusted = sigmoid(logit(raw) − shift)      shift = clamp(logit(baseline) − logit(reference), 0, max_shift)
//! ```
//!
//! The shift only ever lowers scores (a camera whose normal frames score low
//! keeps the calibrated levels), is capped, and comes from two baselines:
//!
//! - **Print baseline**: the `quantile` of this print's first
//!   `print_frames` usable frames seen while the verdict was `Ok` (warm-up
//!   frames count), as Obico reads a score against the print's rolling mean.
//! - **Camera memory** ([`CameraMemory`]): scores of this camera's frames
//!   from prints that finished without a failure being called, and from
//!   frames the owner marked "not a failure". Bounded, stored by the daemon,
//!   reset from the dashboard and the CLI.
//!
//! With both, the print's shift may exceed the camera's by at most
//! `camera_tolerance` logits, so a print that goes wrong from its first layer
//! on a known camera cannot teach itself that failure is normal. With the
//! camera memory alone (before the print baseline is learned) its shift
//! applies; with neither, none.
//!
//! Pure: plain data in, numbers out.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Scores kept per camera; the oldest go first.
pub const MEMORY_CAPACITY: usize = 512;
/// Scores one print may add to the camera memory (spread over the print).
pub const MEMORY_PER_PRINT: usize = 64;
/// Scores the print baseline may hold.
const PRINT_CAPACITY: usize = 64;
/// Scores are clamped to this distance from 0 and 1 before the logit.
const EPS: f32 = 1e-4;

/// How scores are read relative to the camera and the print (`[decision.adapt]`, resolved).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaptParams {
    /// Learn the print's baseline from its first frames.
    pub print_baseline: bool,
    /// Use (and grow) the camera's memory of normal frames.
    pub camera_memory: bool,
    /// Usable frames the print baseline is learned from.
    pub print_frames: u32,
    /// Scores the camera memory needs before it is used.
    pub camera_min_scores: u32,
    /// Which quantile of the normal scores is the baseline (0.5 = median).
    pub quantile: f32,
    /// What the baseline is moved to: a typical normal score.
    pub reference: f32,
    /// The largest shift, in logits.
    pub max_shift: f32,
    /// How far (logits) the print's shift may go beyond the camera memory's.
    pub camera_tolerance: f32,
}

impl Default for AdaptParams {
    fn default() -> Self {
        AdaptParams {
            print_baseline: true,
            camera_memory: true,
            print_frames: 8,
            camera_min_scores: 32,
            quantile: 0.5,
            reference: 0.15,
            max_shift: 3.0,
            camera_tolerance: 1.0,
        }
    }
}

impl AdaptParams {
    /// Adaptation switched off: scores are read as they are.
    pub fn off() -> AdaptParams {
        AdaptParams { print_baseline: false, camera_memory: false, ..AdaptParams::default() }
    }

    /// The shift (logits, ≥ 0) that moves `baseline` to `reference`.
    pub fn shift_for(&self, baseline: f32) -> f32 {
        if !baseline.is_finite() {
            return 0.0;
        }
        (logit(baseline) - logit(self.reference)).clamp(0.0, self.max_shift.max(0.0))
    }
}

pub fn logit(p: f32) -> f32 {
    let p = p.clamp(EPS, 1.0 - EPS);
    (p / (1.0 - p)).ln()
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// `raw` read `shift` logits lower.
pub fn apply_shift(raw: f32, shift: f32) -> f32 {
    if shift <= 0.0 || !raw.is_finite() {
        return raw;
    }
    // min: the clamp inside `logit` must not lift a score of exactly 0.
    sigmoid(logit(raw) - shift).min(raw)
}

/// The `q` quantile of `values` (nearest rank); `None` when empty.
fn quantile(values: impl Iterator<Item = f32>, q: f32) -> Option<f32> {
    let mut v: Vec<f32> = values.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f32::total_cmp);
    let i = ((v.len() - 1) as f32 * q.clamp(0.0, 1.0)).round() as usize;
    v.get(i).copied()
}

/// One camera's memory of normal frames' failure scores: bounded, oldest
/// first out. What the daemon stores per camera.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CameraMemory {
    scores: VecDeque<f32>,
    /// Prints that contributed since the last reset.
    pub prints: u32,
    /// "Not a failure" answers that contributed since the last reset.
    pub corrections: u32,
}

impl CameraMemory {
    /// A memory holding `scores` (the newest last), trimmed to capacity; non-finite values are dropped.
    pub fn from_scores(scores: impl IntoIterator<Item = f32>, prints: u32, corrections: u32) -> CameraMemory {
        let mut m = CameraMemory { scores: VecDeque::new(), prints, corrections };
        m.extend(scores);
        m
    }

    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    pub fn scores(&self) -> impl Iterator<Item = f32> + '_ {
        self.scores.iter().copied()
    }

    /// The `q` quantile of the remembered scores.
    pub fn baseline(&self, q: f32) -> Option<f32> {
        quantile(self.scores(), q)
    }

    fn extend(&mut self, scores: impl IntoIterator<Item = f32>) {
        for s in scores.into_iter().filter(|s| s.is_finite()) {
            if self.scores.len() == MEMORY_CAPACITY {
                self.scores.pop_front();
            }
            self.scores.push_back(s.clamp(0.0, 1.0));
        }
    }

    /// Adds a finished print's normal scores (at most [`MEMORY_PER_PRINT`], evenly spread).
    pub fn add_print(&mut self, scores: &[f32]) {
        if scores.is_empty() {
            return;
        }
        self.prints = self.prints.saturating_add(1);
        self.extend(spread(scores, MEMORY_PER_PRINT));
    }

    /// Adds scores the owner said were not a failure.
    pub fn add_correction(&mut self, scores: &[f32]) {
        if scores.is_empty() {
            return;
        }
        self.corrections = self.corrections.saturating_add(1);
        self.extend(spread(scores, MEMORY_PER_PRINT));
    }
}

/// At most `n` of `v`, evenly spread over it, in order.
fn spread(v: &[f32], n: usize) -> Vec<f32> {
    if v.len() <= n {
        return v.to_vec();
    }
    (0..n).map(|i| v[i * v.len() / n]).collect()
}

impl AdaptParams {
    /// The camera memory's shift, when it holds enough scores to be used.
    pub fn camera_shift(&self, memory: &CameraMemory) -> Option<f32> {
        (self.camera_memory && memory.len() >= self.camera_min_scores.max(1) as usize)
            .then(|| memory.baseline(self.quantile).map_or(0.0, |b| self.shift_for(b)))
    }
}

/// Normal scores one print keeps for the camera memory (thinned as it fills).
const PRINT_NORMAL_CAPACITY: usize = 4 * MEMORY_PER_PRINT;

/// Per-print state of the adaptation, owned by the `Decider`. Fixed-size:
/// observing a frame never allocates.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Adapter {
    /// The print's first usable `Ok` scores in its early layers, until the baseline is learned.
    early: [f32; PRINT_CAPACITY],
    early_len: usize,
    print_shift: Option<f32>,
    /// This print's usable scores seen while the verdict was `Ok`, thinned for the camera memory.
    normal: Box<[f32; PRINT_NORMAL_CAPACITY]>,
    normal_len: usize,
    normal_seen: u64,
    /// A failure was called during this print: it teaches the memory nothing.
    failed: bool,
}

impl Default for Adapter {
    fn default() -> Self {
        Adapter {
            early: [0.0; PRINT_CAPACITY],
            early_len: 0,
            print_shift: None,
            normal: Box::new([0.0; PRINT_NORMAL_CAPACITY]),
            normal_len: 0,
            normal_seen: 0,
            failed: false,
        }
    }
}

impl Adapter {
    /// Forgets the print (keeps its buffers).
    pub fn new_print(&mut self) {
        self.early_len = 0;
        self.print_shift = None;
        self.normal_len = 0;
        self.normal_seen = 0;
        self.failed = false;
    }

    /// The shift for the next frame, from the print baseline and the camera's shift (`camera_shift`).
    pub fn shift(&self, p: &AdaptParams, camera: Option<f32>) -> f32 {
        let print = self.print_shift.filter(|_| p.print_baseline);
        match (print, camera.filter(|_| p.camera_memory)) {
            (Some(pr), Some(cam)) => pr.min(cam + p.camera_tolerance.max(0.0)),
            (Some(pr), None) => pr,
            (None, Some(cam)) => cam,
            (None, None) => 0.0,
        }
    }

    /// Whether the print baseline has been learned.
    #[cfg(test)]
    pub fn print_learned(&self) -> bool {
        self.print_shift.is_some()
    }

    /// A usable frame's raw score. `ok`: the verdict was `Ok`; `early`: the
    /// print is in its warm-up or strict layers (only those teach the print
    /// baseline, so a daemon that first sees a print mid-way, or a print that
    /// goes wrong later, never learns its failure as normal).
    pub fn observe(&mut self, raw: f32, ok: bool, early: bool, p: &AdaptParams) {
        if !raw.is_finite() || !ok {
            return;
        }
        if early && self.print_shift.is_none() && p.print_baseline {
            if self.early_len < PRINT_CAPACITY {
                self.early[self.early_len] = raw;
                self.early_len += 1;
            }
            if self.early_len >= (p.print_frames.max(1) as usize).min(PRINT_CAPACITY) {
                let v = &mut self.early[..self.early_len];
                v.sort_by(f32::total_cmp);
                let i = ((v.len() - 1) as f32 * p.quantile.clamp(0.0, 1.0)).round() as usize;
                self.print_shift = Some(p.shift_for(v[i]));
            }
        }
        // Keep every k-th score so a long print stays bounded (k doubles as the buffer fills).
        self.normal_seen += 1;
        let stride = (self.normal_seen / PRINT_NORMAL_CAPACITY as u64).max(1).next_power_of_two();
        if self.normal_seen.is_multiple_of(stride) {
            if self.normal_len >= PRINT_NORMAL_CAPACITY {
                // Thin out to half, keeping the spread.
                for i in 0..PRINT_NORMAL_CAPACITY / 2 {
                    self.normal[i] = self.normal[2 * i];
                }
                self.normal_len = PRINT_NORMAL_CAPACITY / 2;
            }
            self.normal[self.normal_len] = raw;
            self.normal_len += 1;
        }
    }

    pub fn failure_called(&mut self) {
        self.failed = true;
    }

    /// The owner said the failure called was none.
    pub fn failure_withdrawn(&mut self) {
        self.failed = false;
    }

    /// The print ended: its normal scores, when it may teach the camera memory.
    pub fn finished_normal_scores(&mut self) -> Option<&[f32]> {
        let n = std::mem::take(&mut self.normal_len);
        (!self.failed && n > 0).then(|| &self.normal[..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_moves_the_baseline_to_the_reference_and_never_raises_scores() {
        let p = AdaptParams::default();
        assert_eq!(p.shift_for(0.05), 0.0, "a low baseline keeps the calibrated levels");
        let s = p.shift_for(0.5);
        assert!((apply_shift(0.5, s) - p.reference).abs() < 1e-4);
        assert_eq!(p.shift_for(0.9999), p.max_shift, "capped");
        for raw in [0.0, 0.01, 0.5, 0.9, 1.0] {
            assert!(apply_shift(raw, 2.0) <= raw + 1e-6);
        }
        assert!(apply_shift(0.99, 2.0) > apply_shift(0.9, 2.0), "order is kept");
        assert!(apply_shift(f32::NAN, 1.0).is_nan(), "not evidence stays not evidence");
    }

    #[test]
    fn print_baseline_is_learned_from_ok_frames_only() {
        let p = AdaptParams { print_frames: 4, ..AdaptParams::default() };
        let mut a = Adapter::default();
        for raw in [0.9, 0.92, 0.88] {
            a.observe(raw, true, true, &p);
        }
        a.observe(0.99, false, true, &p);
        a.observe(0.95, true, false, &p);
        assert_eq!(a.shift(&p, None), 0.0, "not yet learned: a failing frame and a late one do not count");
        a.observe(0.91, true, true, &p);
        assert!(a.print_learned());
        let shift = a.shift(&p, None);
        assert!(shift > 2.0 && shift <= p.max_shift, "{shift}");
        assert!(apply_shift(0.9, shift) < 0.5, "this camera's normal frame no longer warns");
        let off = AdaptParams::off();
        assert_eq!(a.shift(&off, Some(1.0)), 0.0);
    }

    #[test]
    fn a_known_camera_limits_what_a_bad_start_can_teach() {
        let p = AdaptParams { print_frames: 4, ..AdaptParams::default() };
        let mut mem = CameraMemory::default();
        mem.add_print(&[0.2; 40]);
        let cam = p.shift_for(0.2);
        assert_eq!(p.camera_shift(&mem), Some(cam));
        let mut a = Adapter::default();
        assert!(
            (a.shift(&p, Some(cam)) - cam).abs() < 1e-6,
            "the camera's shift applies before the print's is learned"
        );
        for _ in 0..4 {
            a.observe(0.97, true, true, &p);
        }
        assert!((a.shift(&p, Some(cam)) - (cam + p.camera_tolerance)).abs() < 1e-6);
        // A brighter day: the print's own lower baseline wins.
        let mut b = Adapter::default();
        for _ in 0..4 {
            b.observe(0.05, true, true, &p);
        }
        assert_eq!(b.shift(&p, Some(cam)), 0.0);
        let few = CameraMemory::from_scores([0.9; 8], 1, 0);
        assert_eq!(p.camera_shift(&few), None, "too few scores to trust");
    }

    #[test]
    fn memory_is_bounded_and_learns_only_from_prints_without_a_failure() {
        let mut mem = CameraMemory::default();
        for i in 0..100 {
            mem.add_print(&vec![i as f32 / 100.0; 500]);
        }
        assert_eq!(mem.len(), MEMORY_CAPACITY);
        assert_eq!(mem.prints, 100);
        assert!(mem.baseline(0.0).unwrap() > 0.5, "the oldest went first");
        let p = AdaptParams::default();
        let mut a = Adapter::default();
        for _ in 0..10_000 {
            a.observe(0.3, true, false, &p);
        }
        let kept = a.finished_normal_scores().expect("a clean print teaches");
        assert!(kept.len() <= 4 * MEMORY_PER_PRINT && kept.len() >= MEMORY_PER_PRINT, "bounded: {}", kept.len());
        let mut failed = Adapter::default();
        failed.observe(0.3, true, false, &p);
        failed.failure_called();
        assert_eq!(failed.finished_normal_scores(), None);
        mem.add_correction(&[f32::NAN, 0.4]);
        assert_eq!(mem.corrections, 1);
    }
}
