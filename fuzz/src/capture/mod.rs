//! `crate::capture`: the JPEG check, the MJPEG parser and `[camera]`.

#[path = "../../../src/capture/config.rs"]
mod config;
#[path = "../../../src/capture/jpeg.rs"]
pub mod jpeg;
pub mod mjpeg;

pub use config::{CameraConfig, SourceKind, V4l2Format};
