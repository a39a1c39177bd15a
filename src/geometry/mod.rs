//! Where things are in the picture: the calibrated camera (pinhole, pose,
//! radial distortion), its file `cameras/<printer>.toml`, solving it from
//! point correspondences, and the expected print projected into the frame
//! (mask, top outline, ROI) from the G-code analysis' footprints.
//!
//! Pure: no I/O (files are parsed from text the caller read), no clock, no
//! randomness (RANSAC draws from a seeded sequence). Depends only on `gcode`
//! and `config_issues`, so `decision` (geometry checks) and `eval` (renders,
//! replays) share it.
//!
//! Files: `linalg` (3×3 maths, Rodrigues, solves), `camera` (projection),
//! `file` (the calibration file), `points` (the correspondences file), `solve` (DLT + Levenberg–Marquardt +
//! RANSAC), `nozzle` (the nozzle tip in frames of the toolhead held at known points, for the automatic
//! calibration), `mask` (expected-material mask per layer, ROI), `image` (the downscaled grey frames the
//! checks read).

pub mod camera;
pub mod file;
pub mod image;
pub mod linalg;
pub mod mask;
pub mod nozzle;
pub mod points;
pub mod solve;

pub use camera::{Camera, Intrinsics, Pose};
pub use file::{BedArea, CameraFile, CameraFileError, Fit};
pub use image::Grey;
pub use mask::{ExpectedPrint, NEVER, Roi};
pub use points::{PointRow, PointsFile};
pub use solve::{Correspondence, DEFAULT_MAX_RMS_MM, DEFAULT_MAX_RMS_PX, Ransac, Solution, SolveError, solve_pose};
