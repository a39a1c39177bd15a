//! `crate::decision`: `[decision]` (with `[decision.geometry]`) and the parameters it validates against.

#[path = "../../../src/decision/adapt.rs"]
pub mod adapt;
#[path = "../../../src/decision/calibration.rs"]
pub mod calibration;
#[path = "../../../src/decision/config.rs"]
mod config;
#[path = "../../../src/decision/geometry.rs"]
pub mod geometry;
#[path = "../../../src/decision/params.rs"]
mod params;

pub use config::{ClassOverride, ClassOverrides, DecisionConfig, HealthConfig};
pub use params::{ClassParams, DecisionParams, KINDS, MAX_LEVEL, kind_index, scale_level, sensitize};
