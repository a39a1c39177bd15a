//! Score generators: how a classifier scores frames of a good print, of a
//! clear failure, of a slowly developing one. Deterministic given a seed.
//!
//! The good-print model is deliberately nasty (numbers per frame):
//! - 1/150: an isolated spike, one frame at 0.6–0.99;
//! - 1/900: a burst of 2–3 frames at 0.7–0.99;
//! - 1/3600: a plateau of 60–300 frames (2–10 min at 2 s) at 0.45 ± 0.05;
//! - 1/20: a moderate frame at 0.12–0.35;
//! - otherwise 0.01–0.12.
//!
//! At a frame every 2 s that is, per 10-hour print, about 120 spikes, 20
//! bursts and 5 plateaus. Spike and plateau labels are drawn from spaghetti
//! 40 %, stringing 25 %, surface 20 %, other 15 %.
//!
//! `GoodNoise::harsh()` is a stress model beyond that, to show where false
//! pauses begin: spikes 1/60 at 0.6–0.99, bursts 1/300 of 2–5 frames at
//! 0.75–0.99, plateaus 1/1800 of 60–300 frames at 0.45–0.55. (Bursts of 4–5
//! frames at 0.75–0.99 look like a failure's first seconds: some pause.)
//!
//! A clear failure scores 0.80–0.95, except 1 frame in 10 that drops to
//! 0.30–0.70 (the model looking at a better part of the picture).

use super::rng::Rng;

pub const LABELS: [&str; 4] = ["spaghetti", "stringing", "surface", "other_failure"];

pub fn random_label(rng: &mut Rng) -> &'static str {
    let u = rng.unit();
    if u < 0.40 {
        LABELS[0]
    } else if u < 0.65 {
        LABELS[1]
    } else if u < 0.85 {
        LABELS[2]
    } else {
        LABELS[3]
    }
}

#[derive(Debug, Clone)]
struct Episode {
    left: u32,
    lo: f32,
    hi: f32,
    label: &'static str,
}

/// Per-frame rates and ranges of the good-print model.
#[derive(Debug, Clone, Copy)]
struct Model {
    plateau_rate: f32,
    plateau: (f32, f32),
    burst_rate: f32,
    burst_len: (u32, u32),
    burst: (f32, f32),
    spike_rate: f32,
}

/// Frames of a healthy print. See the module docs for the model.
#[derive(Debug, Clone)]
pub struct GoodNoise {
    model: Model,
    episode: Option<Episode>,
}

impl GoodNoise {
    /// The model the brief describes: spikes, bursts of 2–3, plateaus at 0.4–0.5.
    pub fn new() -> GoodNoise {
        let model = Model {
            plateau_rate: 1.0 / 3600.0,
            plateau: (0.40, 0.50),
            burst_rate: 1.0 / 900.0,
            burst_len: (2, 3),
            burst: (0.70, 0.99),
            spike_rate: 1.0 / 150.0,
        };
        GoodNoise { model, episode: None }
    }

    /// A stress model: more and longer bursts, higher plateaus.
    pub fn harsh() -> GoodNoise {
        let model = Model {
            plateau_rate: 1.0 / 1800.0,
            plateau: (0.45, 0.55),
            burst_rate: 1.0 / 300.0,
            burst_len: (2, 5),
            burst: (0.75, 0.99),
            spike_rate: 1.0 / 60.0,
        };
        GoodNoise { model, episode: None }
    }

    pub fn next(&mut self, rng: &mut Rng) -> (f32, &'static str) {
        if let Some(e) = &mut self.episode {
            e.left -= 1;
            let out = (rng.range(e.lo, e.hi), e.label);
            if e.left == 0 {
                self.episode = None;
            }
            return out;
        }
        let m = self.model;
        let u = rng.unit();
        let label = random_label(rng);
        if u < m.plateau_rate {
            self.episode = Some(Episode { left: rng.int(60, 300), lo: m.plateau.0, hi: m.plateau.1, label });
            self.next(rng)
        } else if u < m.plateau_rate + m.burst_rate {
            let left = rng.int(m.burst_len.0, m.burst_len.1);
            self.episode = Some(Episode { left, lo: m.burst.0, hi: m.burst.1, label });
            self.next(rng)
        } else if u < m.plateau_rate + m.burst_rate + m.spike_rate {
            (rng.range(0.60, 0.99), label)
        } else if rng.chance(1.0 / 20.0) {
            (rng.range(0.12, 0.35), label)
        } else {
            (rng.range(0.01, 0.12), label)
        }
    }
}

/// A clear failure: 0.80–0.95 with 10 % dropouts to 0.30–0.70.
pub fn clear_failure(rng: &mut Rng) -> f32 {
    if rng.chance(0.1) { rng.range(0.30, 0.70) } else { rng.range(0.80, 0.95) }
}
