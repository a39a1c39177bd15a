//! `crate::timelapse`: `[timelapse]` and its retention limits.

#[path = "../../../src/timelapse/config.rs"]
mod config;
#[path = "../../../src/timelapse/retention.rs"]
pub mod retention;

pub use config::{EncoderChoice, TimelapseConfig};
pub use retention::{Limits, Stored};
