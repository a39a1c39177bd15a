//! A tiny z-buffered rasteriser for the renders: boxes (printed cells, the
//! toolhead) as shaded triangles through the calibrated camera, over a
//! background picture. BGR bytes; no OpenCV here.

use crate::geometry::Camera;
use crate::geometry::linalg::{V3, dot, normalize};

/// Where the light comes from (towards the light, bed coordinates).
const LIGHT: V3 = [-0.35, -0.55, 0.76];
const AMBIENT: f64 = 0.38;

/// An axis-aligned box in bed mm, with its colour (BGR).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Block {
    pub min: V3,
    pub max: V3,
    pub bgr: [f64; 3],
}

/// A frame being drawn: colour and depth per pixel.
pub struct Canvas {
    pub width: u32,
    pub height: u32,
    pub bgr: Vec<f64>,
    depth: Vec<f64>,
}

impl Canvas {
    /// A canvas holding `background` (BGR bytes of the frame size).
    pub fn new(width: u32, height: u32, background: &[u8]) -> Canvas {
        let n = width as usize * height as usize;
        Canvas {
            width,
            height,
            bgr: background.iter().take(n * 3).map(|v| f64::from(*v)).collect(),
            depth: vec![f64::INFINITY; n],
        }
    }

    /// Draws the visible faces of `b` (all but the bottom), shaded by their normal.
    pub fn block(&mut self, cam: &Camera, b: &Block) {
        let [x0, y0, z0] = b.min;
        let [x1, y1, z1] = b.max;
        let faces: [([V3; 4], V3); 5] = [
            ([[x0, y0, z1], [x1, y0, z1], [x1, y1, z1], [x0, y1, z1]], [0.0, 0.0, 1.0]),
            ([[x0, y0, z0], [x1, y0, z0], [x1, y0, z1], [x0, y0, z1]], [0.0, -1.0, 0.0]),
            ([[x0, y1, z0], [x1, y1, z0], [x1, y1, z1], [x0, y1, z1]], [0.0, 1.0, 0.0]),
            ([[x0, y0, z0], [x0, y1, z0], [x0, y1, z1], [x0, y0, z1]], [-1.0, 0.0, 0.0]),
            ([[x1, y0, z0], [x1, y1, z0], [x1, y1, z1], [x1, y0, z1]], [1.0, 0.0, 0.0]),
        ];
        let eye = cam.center();
        let light = normalize(LIGHT);
        for (quad, n) in faces {
            // Back faces are hidden by the box itself.
            let to_eye = [eye[0] - quad[0][0], eye[1] - quad[0][1], eye[2] - quad[0][2]];
            if dot(to_eye, n) <= 0.0 {
                continue;
            }
            let shade = AMBIENT + (1.0 - AMBIENT) * dot(n, light).max(0.0);
            let colour = [b.bgr[0] * shade, b.bgr[1] * shade, b.bgr[2] * shade];
            self.triangle(cam, [quad[0], quad[1], quad[2]], colour);
            self.triangle(cam, [quad[0], quad[2], quad[3]], colour);
        }
    }

    fn triangle(&mut self, cam: &Camera, tri: [V3; 3], colour: [f64; 3]) {
        let mut p = [[0.0; 3]; 3];
        for (k, v) in tri.iter().enumerate() {
            let Some(px) = cam.project(*v) else { return };
            p[k] = [px[0], px[1], cam.to_camera(*v)[2]];
        }
        let area = (p[1][0] - p[0][0]) * (p[2][1] - p[0][1]) - (p[2][0] - p[0][0]) * (p[1][1] - p[0][1]);
        if area.abs() < 1e-9 {
            return;
        }
        let (w, h) = (i64::from(self.width), i64::from(self.height));
        let xmin = p.iter().map(|q| q[0]).fold(f64::MAX, f64::min).ceil().max(0.0) as i64;
        let xmax = (p.iter().map(|q| q[0]).fold(f64::MIN, f64::max).floor() as i64).min(w - 1);
        let ymin = p.iter().map(|q| q[1]).fold(f64::MAX, f64::min).ceil().max(0.0) as i64;
        let ymax = (p.iter().map(|q| q[1]).fold(f64::MIN, f64::max).floor() as i64).min(h - 1);
        for y in ymin..=ymax {
            for x in xmin..=xmax {
                let (fx, fy) = (x as f64, y as f64);
                let w0 = ((p[1][0] - fx) * (p[2][1] - fy) - (p[2][0] - fx) * (p[1][1] - fy)) / area;
                let w1 = ((p[2][0] - fx) * (p[0][1] - fy) - (p[0][0] - fx) * (p[2][1] - fy)) / area;
                let w2 = 1.0 - w0 - w1;
                if w0 < -1e-9 || w1 < -1e-9 || w2 < -1e-9 {
                    continue;
                }
                let z = w0 * p[0][2] + w1 * p[1][2] + w2 * p[2][2];
                let i = y as usize * self.width as usize + x as usize;
                if z < self.depth[i] {
                    self.depth[i] = z;
                    self.bgr[i * 3..i * 3 + 3].copy_from_slice(&colour);
                }
            }
        }
    }

    /// The picture as bytes after `gain(x, y)` and per-pixel noise from `noise()`.
    pub fn finish(&self, gain: impl Fn(u32, u32) -> f64, mut noise: impl FnMut() -> f64) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bgr.len());
        for y in 0..self.height {
            for x in 0..self.width {
                let g = gain(x, y);
                let i = (y as usize * self.width as usize + x as usize) * 3;
                let n = noise();
                for c in 0..3 {
                    out.push((self.bgr[i + c] * g + n).round().clamp(0.0, 255.0) as u8);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_box_is_drawn_in_front_of_the_background_and_hides_what_is_behind() {
        let cam = Camera::look_at(160, 120, [0.0, -100.0, 80.0], [0.0, 0.0, 0.0], 60.0);
        let mut c = Canvas::new(160, 120, &vec![100u8; 160 * 120 * 3]);
        c.block(&cam, &Block { min: [-10.0, 0.0, 0.0], max: [10.0, 20.0, 10.0], bgr: [0.0, 0.0, 250.0] });
        c.block(&cam, &Block { min: [-5.0, -5.0, 0.0], max: [5.0, -2.0, 4.0], bgr: [250.0, 0.0, 0.0] });
        let img = c.finish(|_, _| 1.0, || 0.0);
        let at = |x: u32, y: u32| {
            let i = ((y * 160 + x) * 3) as usize;
            [img[i], img[i + 1], img[i + 2]]
        };
        let centre = cam.project([0.0, -3.5, 2.0]).unwrap();
        assert!(at(centre[0] as u32, centre[1] as u32)[0] > 80, "the near blue box is in front");
        let top = cam.project([8.0, 15.0, 10.0]).unwrap();
        let red = at(top[0] as u32, top[1] as u32);
        assert!(red[2] > 150 && red[0] == 0, "{red:?}");
        assert_eq!(at(0, 0), [100, 100, 100]);
    }
}
