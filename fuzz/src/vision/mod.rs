//! `crate::vision`: `[vision]`.

#[path = "../../../src/vision/config.rs"]
mod config;

pub use config::{Precision, Roi, VisionConfig};
