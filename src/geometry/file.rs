//! The camera calibration file, `cameras/<printer>.toml`: frame size, the bed
//! area the camera must see, intrinsics, pose and (when solved) the fit.
//!
//! Not to be confused with `calibration/<name>.toml`, the decision layer's
//! operating points. Parsed from text (the caller reads the file) with errors
//! that name the file, key, line and value, in the style of the config:
//! unknown keys are errors, and a pose that puts the bed behind the camera or
//! a bed that projects outside the frame is refused at load.
//!
//! ```toml
//! format = 1
//! [frame]
//! width = 640
//! height = 480
//! [bed]                      # the area the camera must see (mm): the whole bed, or where prints go
//! size_mm = [220.0, 220.0]
//! origin_mm = [0.0, 0.0]
//! [intrinsics]
//! fx = 554.3
//! fy = 554.3
//! cx = 319.5
//! cy = 239.5
//! k1 = 0.0
//! k2 = 0.0
//! [pose]                     # bed → camera: R(rotation_rad)·p + translation_mm
//! rotation_rad = [1.9, 0.0, 0.0]
//! translation_mm = [-110.0, 60.0, 330.0]
//! [fit]                      # written by `layerwatch calibrate solve` (optional)
//! points = 8
//! inliers = 8
//! rms_px = 0.4
//! max_px = 0.9
//! rms_mm = 0.2
//! max_mm = 0.5
//! ```

use serde::{Deserialize, Serialize};

use super::camera::{Camera, Intrinsics, Pose};
use crate::config_issues::{ConfigIssue, Issues};

/// The camera file format this build reads and writes.
pub const CAMERA_FORMAT: u32 = 1;
/// Bed corners may project this many pixels outside the frame (rounding, a lens edge).
const FRAME_SLACK_PX: f64 = 2.0;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameSize {
    pub width: u32,
    pub height: u32,
}

/// The bed area (mm) the camera must see.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BedArea {
    pub size_mm: [f64; 2],
    #[serde(default)]
    pub origin_mm: [f64; 2],
}

impl BedArea {
    /// The four corners at Z = 0, counter-clockwise from the origin.
    pub fn corners(&self) -> [[f64; 3]; 4] {
        let [x0, y0] = self.origin_mm;
        let [w, d] = self.size_mm;
        [[x0, y0, 0.0], [x0 + w, y0, 0.0], [x0 + w, y0 + d, 0.0], [x0, y0 + d, 0.0]]
    }
}

/// How well a solved pose fits its points (`[fit]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fit {
    pub points: u32,
    pub inliers: u32,
    pub rms_px: f64,
    pub max_px: f64,
    pub rms_mm: f64,
    pub max_mm: f64,
    #[serde(default)]
    pub method: String,
}

/// `cameras/<printer>.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraFile {
    pub format: u32,
    pub frame: FrameSize,
    pub bed: BedArea,
    pub intrinsics: Intrinsics,
    pub pose: Pose,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit: Option<Fit>,
}

/// Why a camera file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CameraFileError {
    /// TOML syntax or type error at `key` on `line`.
    #[error("{source_name}: {}{}{message}", key.as_deref().map(|k| format!("{k}: ")).unwrap_or_default(), line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    Parse { source_name: String, key: Option<String>, line: Option<usize>, message: String },
    /// Values that parse but cannot be a camera looking at this bed.
    #[error("{source_name}: invalid camera calibration:\n{}", issues.iter().map(|i| format!("  - {i}")).collect::<Vec<_>>().join("\n"))]
    Invalid { source_name: String, issues: Vec<ConfigIssue> },
}

impl CameraFile {
    /// A file for a camera and the bed area it must see.
    pub fn new(camera: &Camera, bed: BedArea, fit: Option<Fit>) -> CameraFile {
        CameraFile {
            format: CAMERA_FORMAT,
            frame: FrameSize { width: camera.width, height: camera.height },
            bed,
            intrinsics: camera.intrinsics,
            pose: camera.pose,
            fit,
        }
    }

    /// Parses and validates `text`; `source_name` (the path) prefixes every error.
    pub fn parse(text: &str, source_name: &str) -> Result<CameraFile, CameraFileError> {
        let parse_error = |e: toml::de::Error, key: Option<String>| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            CameraFileError::Parse {
                source_name: source_name.to_string(),
                key: key.filter(|k| !k.is_empty() && k != "."),
                line,
                message: e.message().trim_end_matches('\n').to_string(),
            }
        };
        let de = toml::Deserializer::parse(text).map_err(|e| parse_error(e, None))?;
        let file: CameraFile = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            parse_error(e.into_inner(), Some(key))
        })?;
        let mut issues = Issues::default();
        file.validate(&mut issues);
        if issues.is_empty() {
            Ok(file)
        } else {
            let mut issues = issues.into_vec();
            for i in &mut issues {
                i.line = line_of(text, &i.key);
            }
            Err(CameraFileError::Invalid { source_name: source_name.to_string(), issues })
        }
    }

    pub fn to_toml_string(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }

    pub fn camera(&self) -> Camera {
        Camera::new(self.frame.width, self.frame.height, self.intrinsics, self.pose)
    }

    /// Every problem at once: ranges first, then where the bed lands in the frame.
    pub fn validate(&self, out: &mut Issues) {
        if self.format != CAMERA_FORMAT {
            out.push("format", self.format, format!("this build reads format {CAMERA_FORMAT}"));
        }
        out.range("frame.width", self.frame.width, 16, 16384);
        out.range("frame.height", self.frame.height, 16, 16384);
        let k = &self.intrinsics;
        for (key, v) in [("intrinsics.fx", k.fx), ("intrinsics.fy", k.fy)] {
            if !(v.is_finite() && v > 1.0 && v < 1e6) {
                out.push(key, v, "must be a focal length in pixels between 1 and 1000000");
            }
        }
        let (w, h) = (f64::from(self.frame.width), f64::from(self.frame.height));
        if !(k.cx.is_finite() && k.cx >= 0.0 && k.cx <= w) {
            out.push("intrinsics.cx", k.cx, format!("must lie in the frame (0 to {w})"));
        }
        if !(k.cy.is_finite() && k.cy >= 0.0 && k.cy <= h) {
            out.push("intrinsics.cy", k.cy, format!("must lie in the frame (0 to {h})"));
        }
        for (key, v) in [("intrinsics.k1", k.k1), ("intrinsics.k2", k.k2)] {
            if !(v.is_finite() && v.abs() <= 10.0) {
                out.push(key, v, "must be between -10 and 10");
            }
        }
        let b = &self.bed;
        if !b.size_mm.iter().all(|v| v.is_finite() && *v > 0.0 && *v <= 10_000.0) {
            out.push("bed.size_mm", b.size_mm, "both sides must be between 0 and 10000 mm");
        }
        if !b.origin_mm.iter().all(|v| v.is_finite() && v.abs() <= 10_000.0) {
            out.push("bed.origin_mm", b.origin_mm, "must be within ±10000 mm");
        }
        let p = &self.pose;
        if !p.rotation_rad.iter().chain(&p.translation_mm).all(|v| v.is_finite()) {
            out.push("pose.translation_mm", p.translation_mm, "pose values must be finite numbers");
        }
        if !out.is_empty() {
            return;
        }
        let cam = self.camera();
        for corner in b.corners() {
            let depth = cam.to_camera(corner)[2];
            if depth <= super::camera::MIN_DEPTH_MM {
                out.push(
                    "pose.translation_mm",
                    p.translation_mm,
                    format!(
                        "puts bed corner ({:.0}, {:.0}) {:.0} mm behind the camera (pose.rotation_rad = {:?})",
                        corner[0], corner[1], -depth, p.rotation_rad
                    ),
                );
                continue;
            }
            if let Some(px) = cam.project(corner)
                && !cam.in_frame(px, FRAME_SLACK_PX)
            {
                out.push(
                    "bed.size_mm",
                    b.size_mm,
                    format!(
                        "bed corner ({:.0}, {:.0}) projects to pixel ({:.0}, {:.0}), outside the {}x{} frame; \
                         check the pose or narrow [bed] to the area the camera sees",
                        corner[0], corner[1], px[0], px[1], self.frame.width, self.frame.height
                    ),
                );
            }
        }
    }
}

/// The line where `a.b` (the last part of a dotted key) is written, inside `[a]`.
fn line_of(text: &str, key: &str) -> Option<usize> {
    let (table, leaf) = key.rsplit_once('.').unwrap_or(("", key));
    let mut current = String::new();
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            current = name.trim().to_string();
            continue;
        }
        if current == table && t.split('=').next().is_some_and(|k| k.trim() == leaf) {
            return Some(n + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    fn good() -> String {
        let cam = Camera::look_at(640, 480, [110.0, -180.0, 260.0], [110.0, 110.0, 0.0], 70.0);
        CameraFile::new(&cam, BedArea { size_mm: [220.0, 220.0], origin_mm: [0.0, 0.0] }, None)
            .to_toml_string()
            .unwrap()
    }

    fn errors(text: &str) -> String {
        match CameraFile::parse(text, "cameras/mk3.toml") {
            Ok(_) => "ok".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_written_file_reads_back() {
        let text = good();
        let f = CameraFile::parse(&text, "x.toml").unwrap();
        assert_eq!(f.to_toml_string().unwrap(), text);
        assert_eq!(errors(&text), "ok");
    }

    #[test]
    fn unknown_keys_and_types_name_the_key_and_line() {
        let text = good().replace("[pose]", "[pose]\nroll = 3");
        expect![[
            r#"cameras/mk3.toml: pose.roll: line 20: unknown field `roll`, expected `rotation_rad` or `translation_mm`"#
        ]]
        .assert_eq(&errors(&text));
        let text = good().replace("width = 640", "width = \"wide\"");
        expect![[r#"cameras/mk3.toml: frame.width: line 4: invalid type: string "wide", expected u32"#]]
            .assert_eq(&errors(&text));
    }

    #[test]
    fn a_bed_behind_the_camera_or_outside_the_frame_is_refused() {
        // Turned around: the camera looks away from the bed.
        let away = Camera::look_at(640, 480, [110.0, -180.0, 260.0], [110.0, -500.0, 260.0], 70.0);
        let text = CameraFile::new(&away, BedArea { size_mm: [220.0, 220.0], origin_mm: [0.0, 0.0] }, None)
            .to_toml_string()
            .unwrap();
        let e = errors(&text);
        assert!(e.starts_with("cameras/mk3.toml: invalid camera calibration:"), "{e}");
        assert!(e.contains("pose.translation_mm = [") && e.contains("mm behind the camera"), "{e}");
        assert_eq!(e.matches("behind the camera").count(), 4, "{e}");
        // A bed much larger than what the camera sees.
        let text = good().replace("size_mm = [220.0, 220.0]", "size_mm = [900.0, 220.0]");
        let e = errors(&text);
        assert!(e.contains("bed.size_mm = [900.0, 220.0]: bed corner (900, 0) projects to pixel ("), "{e}");
        assert!(e.contains("outside the 640x480 frame"), "{e}");
        assert!(e.contains("line 8:"), "{e}");
        let text = good().replace("fx = ", "fx = -");
        assert!(errors(&text).contains("intrinsics.fx = -"), "{}", errors(&text));
    }
}
