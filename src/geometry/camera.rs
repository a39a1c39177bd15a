//! The pinhole camera with radial distortion that maps bed millimetres to
//! frame pixels, and back onto a horizontal plane.
//!
//! World coordinates are the printer's: X and Y on the bed (mm), Z up from
//! the bed surface. A point `p` goes to camera coordinates `R·p + t` (`R`
//! from the rotation vector `pose.rotation_rad`), then to normalised image
//! coordinates `(x, y) = (X/Z, Y/Z)`, distorted by `1 + k1·r² + k2·r⁴`
//! (OpenCV's convention), then to pixels `u = fx·x + cx`, `v = fy·y + cy`
//! (pixel centres at integers, `v` growing downwards).

use serde::{Deserialize, Serialize};

use super::linalg::{M3, V3, add, mat_vec, rodrigues, scale, sub, transpose};

/// Points closer to the camera plane than this (mm) do not project.
pub const MIN_DEPTH_MM: f64 = 1.0;

/// Focal lengths, principal point (pixels) and radial distortion.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intrinsics {
    pub fx: f64,
    pub fy: f64,
    pub cx: f64,
    pub cy: f64,
    #[serde(default)]
    pub k1: f64,
    #[serde(default)]
    pub k2: f64,
}

/// Where the camera is: bed → camera is `R(rotation_rad)·p + translation_mm`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pose {
    /// Rotation vector (axis × angle), radians.
    pub rotation_rad: [f64; 3],
    pub translation_mm: [f64; 3],
}

/// A calibrated camera for one frame size.
#[derive(Debug, Clone, PartialEq)]
pub struct Camera {
    pub width: u32,
    pub height: u32,
    pub intrinsics: Intrinsics,
    pub pose: Pose,
    r: M3,
}

impl Camera {
    pub fn new(width: u32, height: u32, intrinsics: Intrinsics, pose: Pose) -> Camera {
        Camera { width, height, intrinsics, pose, r: rodrigues(pose.rotation_rad) }
    }

    /// A camera looking from `eye` at `target` (bed mm), with horizontal field of
    /// view `hfov_deg` and no distortion; world Z is "up" in the picture.
    pub fn look_at(width: u32, height: u32, eye: V3, target: V3, hfov_deg: f64) -> Camera {
        let fwd = super::linalg::normalize(sub(target, eye));
        let up = [0.0, 0.0, 1.0];
        let right = super::linalg::normalize(super::linalg::cross(fwd, up));
        let down = super::linalg::cross(fwd, right);
        let r: M3 = [right, down, fwd];
        let t = scale(mat_vec(&r, eye), -1.0);
        let f = f64::from(width) / 2.0 / (hfov_deg.to_radians() / 2.0).tan();
        let intr = Intrinsics {
            fx: f,
            fy: f,
            cx: f64::from(width) / 2.0 - 0.5,
            cy: f64::from(height) / 2.0 - 0.5,
            k1: 0.0,
            k2: 0.0,
        };
        Camera::new(width, height, intr, Pose { rotation_rad: super::linalg::rotation_vector(&r), translation_mm: t })
    }

    pub fn rotation(&self) -> &M3 {
        &self.r
    }

    /// Bed point → camera coordinates (mm; Z is the depth along the optical axis).
    pub fn to_camera(&self, p: V3) -> V3 {
        add(mat_vec(&self.r, p), self.pose.translation_mm)
    }

    /// Where the camera is, in bed coordinates.
    pub fn center(&self) -> V3 {
        scale(mat_vec(&transpose(&self.r), self.pose.translation_mm), -1.0)
    }

    /// Bed point → pixel; `None` behind (or within 1 mm of) the camera plane.
    pub fn project(&self, p: V3) -> Option<[f64; 2]> {
        let c = self.to_camera(p);
        if c[2].is_nan() || c[2] <= MIN_DEPTH_MM {
            return None;
        }
        Some(self.pixel_of_normalised(c[0] / c[2], c[1] / c[2]))
    }

    fn pixel_of_normalised(&self, x: f64, y: f64) -> [f64; 2] {
        let k = &self.intrinsics;
        let r2 = x * x + y * y;
        let d = 1.0 + k.k1 * r2 + k.k2 * r2 * r2;
        [k.fx * x * d + k.cx, k.fy * y * d + k.cy]
    }

    /// Pixel → normalised image coordinates, undoing the distortion (fixed-point iteration).
    pub fn normalised_of_pixel(&self, px: [f64; 2]) -> [f64; 2] {
        let k = &self.intrinsics;
        let (xd, yd) = ((px[0] - k.cx) / k.fx, (px[1] - k.cy) / k.fy);
        let (mut x, mut y) = (xd, yd);
        for _ in 0..20 {
            let r2 = x * x + y * y;
            let d = 1.0 + k.k1 * r2 + k.k2 * r2 * r2;
            if d.abs() < 1e-6 {
                break;
            }
            x = xd / d;
            y = yd / d;
        }
        [x, y]
    }

    /// The bed point at height `z` (mm) seen at pixel `px`; `None` when the ray
    /// runs parallel to that plane or meets it behind the camera.
    pub fn back_project_to_plane(&self, px: [f64; 2], z: f64) -> Option<[f64; 2]> {
        let [x, y] = self.normalised_of_pixel(px);
        let rt = transpose(&self.r);
        let dir = mat_vec(&rt, [x, y, 1.0]);
        let c = self.center();
        if dir[2].abs() < 1e-12 {
            return None;
        }
        let s = (z - c[2]) / dir[2];
        (s > 0.0).then(|| [c[0] + s * dir[0], c[1] + s * dir[1]])
    }

    /// The same camera for frames scaled to `width`×`height` (a downscaled mask).
    pub fn resized(&self, width: u32, height: u32) -> Camera {
        let (sx, sy) = (f64::from(width) / f64::from(self.width), f64::from(height) / f64::from(self.height));
        let k = self.intrinsics;
        let intr = Intrinsics {
            fx: k.fx * sx,
            fy: k.fy * sy,
            cx: (k.cx + 0.5) * sx - 0.5,
            cy: (k.cy + 0.5) * sy - 0.5,
            k1: k.k1,
            k2: k.k2,
        };
        Camera::new(width, height, intr, self.pose)
    }

    /// Whether a pixel lies inside the frame (with `slack` pixels of tolerance).
    pub fn in_frame(&self, px: [f64; 2], slack: f64) -> bool {
        px[0] >= -0.5 - slack
            && px[1] >= -0.5 - slack
            && px[0] <= f64::from(self.width) - 0.5 + slack
            && px[1] <= f64::from(self.height) - 0.5 + slack
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cam() -> Camera {
        Camera::look_at(640, 480, [110.0, -250.0, 200.0], [110.0, 110.0, 10.0], 60.0)
    }

    #[test]
    fn the_target_projects_to_the_centre_and_up_is_up() {
        let c = cam();
        let p = c.project([110.0, 110.0, 10.0]).unwrap();
        assert!((p[0] - 319.5).abs() < 1e-6 && (p[1] - 239.5).abs() < 1e-6, "{p:?}");
        let above = c.project([110.0, 110.0, 50.0]).unwrap();
        assert!(above[1] < p[1], "higher Z must be higher in the picture: {above:?} vs {p:?}");
        let right = c.project([150.0, 110.0, 10.0]).unwrap();
        assert!(right[0] > p[0]);
        assert!(c.project([110.0, -400.0, 200.0]).is_none(), "behind the camera");
        let center = c.center();
        assert!(
            (center[0] - 110.0).abs() < 1e-6 && (center[1] + 250.0).abs() < 1e-6 && (center[2] - 200.0).abs() < 1e-6
        );
    }

    #[test]
    fn back_projection_inverts_projection_with_distortion() {
        let mut c = cam();
        c.intrinsics.k1 = -0.2;
        c.intrinsics.k2 = 0.05;
        for p in [[0.0, 0.0, 0.0], [220.0, 220.0, 0.0], [50.0, 120.0, 30.0]] {
            let px = c.project(p).unwrap();
            let back = c.back_project_to_plane(px, p[2]).unwrap();
            assert!((back[0] - p[0]).abs() < 1e-6 && (back[1] - p[1]).abs() < 1e-6, "{p:?} -> {px:?} -> {back:?}");
        }
        let small = c.resized(160, 120);
        let (a, b) = (c.project([50.0, 50.0, 0.0]).unwrap(), small.project([50.0, 50.0, 0.0]).unwrap());
        assert!(((a[0] + 0.5) / 4.0 - 0.5 - b[0]).abs() < 1e-9 && ((a[1] + 0.5) / 4.0 - 0.5 - b[1]).abs() < 1e-9);
    }
}
