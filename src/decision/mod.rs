//! Scores + printer status + G-code expectations → verdicts. Pure.
//!
//! Owns temporal smoothing, thresholds and sensitivity, gating by printer
//! state, warm-up and quiet periods counted in layers, and the model-free
//! cross-checks (frozen/dark camera, stalled printer). Invariant: no I/O, no
//! clock, no tokio — time is passed in — so the daemon and `eval` run exactly
//! the same code.

mod config;

pub use config::DecisionConfig;
