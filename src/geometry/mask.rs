//! The expected print in the frame: for "everything printed up to layer N",
//! which pixels should show material, the top face of layer N (its outline),
//! and the region of interest around it.
//!
//! Built from the analysis' per-layer footprints (cells of `gcode::Grid`):
//! each occupied cell is a column of material from the bed (or from where the
//! cell's material last ended) up to the layer's Z; its projected box is
//! rasterised (convex hull of the 8 corners) into a downscaled mask. The mask
//! stores, per pixel, the first layer at which material is expected there, so
//! "up to layer N" and "added between layers M and N" are lookups, and
//! advancing one layer costs only that layer's cells (see `benches/geometry.rs`).

use super::camera::Camera;
use crate::gcode::{Analysis, Grid};

/// Pixels no layer covers.
pub const NEVER: u32 = u32::MAX;

pub use crate::domain::Roi;

/// The expected print of one file seen by one camera.
#[derive(Debug, Clone)]
pub struct ExpectedPrint {
    camera: Camera,
    /// The camera at the full frame size (outlines and regions are drawn in it).
    full: Camera,
    frame: (u32, u32),
    grid: Grid,
    layer_z: Vec<f32>,
    layer_cells: Vec<Vec<(u16, u16)>>,
    cell_top: Vec<f32>,
    first: Vec<u32>,
    top: Vec<bool>,
    top_layer: Option<u32>,
    next: u32,
}

impl ExpectedPrint {
    /// The print of `analysis` through `camera`, rasterised `mask_width` pixels
    /// wide (height in proportion); `None` when the file deposits nothing.
    pub fn new(analysis: &Analysis, camera: &Camera, mask_width: u32) -> Option<ExpectedPrint> {
        let grid = analysis.grid?;
        let mw = mask_width.clamp(8, camera.width);
        let mh = ((u64::from(camera.height) * u64::from(mw) + u64::from(camera.width) / 2) / u64::from(camera.width))
            .max(1) as u32;
        let layer_cells =
            analysis.layers.iter().map(|l| l.footprint.cells(&grid).map(|(c, r, _)| (c, r)).collect()).collect();
        Some(ExpectedPrint {
            camera: camera.resized(mw, mh),
            full: camera.clone(),
            frame: (camera.width, camera.height),
            grid,
            layer_z: analysis.layers.iter().map(|l| l.z).collect(),
            layer_cells,
            cell_top: vec![0.0; usize::from(grid.cols) * usize::from(grid.rows)],
            first: vec![NEVER; mw as usize * mh as usize],
            top: vec![false; mw as usize * mh as usize],
            top_layer: None,
            next: 0,
        })
    }

    pub fn width(&self) -> u32 {
        self.camera.width
    }

    pub fn height(&self) -> u32 {
        self.camera.height
    }

    pub fn layer_count(&self) -> u32 {
        self.layer_z.len() as u32
    }

    /// The camera scaled to the mask.
    pub fn camera(&self) -> &Camera {
        &self.camera
    }

    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// The full frame's size (pixels).
    pub fn frame_size(&self) -> (u32, u32) {
        self.frame
    }

    /// The top outline of layer `layer` (0-based) as line segments in
    /// full-frame pixels: every edge of the layer's footprint cells that no other
    /// cell of the layer shares, at the layer's Z. Exact projection (no mask),
    /// independent of how far the mask was advanced.
    pub fn layer_outline(&self, layer: u32) -> Vec<[[f64; 2]; 2]> {
        let Some(cells) = self.layer_cells.get(layer as usize) else { return vec![] };
        let z = f64::from(self.layer_z[layer as usize]);
        let g = &self.grid;
        let (cols, rows) = (usize::from(g.cols), usize::from(g.rows));
        let mut occupied = vec![false; cols * rows];
        for &(c, r) in cells {
            occupied[usize::from(r) * cols + usize::from(c)] = true;
        }
        let has = |c: i64, r: i64| {
            c >= 0 && r >= 0 && (c as usize) < cols && (r as usize) < rows && occupied[r as usize * cols + c as usize]
        };
        let corner = |c: i64, r: i64| {
            [
                f64::from(g.origin_x) + c as f64 * f64::from(g.cell_mm),
                f64::from(g.origin_y) + r as f64 * f64::from(g.cell_mm),
                z,
            ]
        };
        let mut out = Vec::new();
        for &(c, r) in cells {
            let (c, r) = (i64::from(c), i64::from(r));
            // (neighbour, edge from, edge to)
            let edges = [
                ((c, r - 1), (c, r), (c + 1, r)),
                ((c + 1, r), (c + 1, r), (c + 1, r + 1)),
                ((c, r + 1), (c, r + 1), (c + 1, r + 1)),
                ((c - 1, r), (c, r), (c, r + 1)),
            ];
            for ((nc, nr), a, b) in edges {
                if has(nc, nr) {
                    continue;
                }
                if let (Some(p), Some(q)) = (self.full.project(corner(a.0, a.1)), self.full.project(corner(b.0, b.1))) {
                    out.push([p, q]);
                }
            }
        }
        out
    }

    /// The full-frame box around everything printed up to layer `layer` (each
    /// cell's column from the bed to its highest Z so far), grown by `margin` (a
    /// share of its size, at least 4 pixels), clipped to the frame. Exact
    /// projection, independent of the mask.
    pub fn column_roi(&self, layer: u32, margin: f64) -> Option<Roi> {
        let g = &self.grid;
        let cols = usize::from(g.cols);
        let mut top = vec![f32::NAN; cols * usize::from(g.rows)];
        for l in 0..=(layer as usize).min(self.layer_cells.len().checked_sub(1)?) {
            for &(c, r) in &self.layer_cells[l] {
                top[usize::from(r) * cols + usize::from(c)] = self.layer_z[l];
            }
        }
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for (i, z) in top.iter().enumerate() {
            if z.is_nan() {
                continue;
            }
            let (c, r) = ((i % cols) as f64, (i / cols) as f64);
            let (bx, by, cm) = (f64::from(g.origin_x), f64::from(g.origin_y), f64::from(g.cell_mm));
            for (dx, dy) in [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)] {
                for zz in [0.0, f64::from(*z)] {
                    if let Some(p) = self.full.project([bx + (c + dx) * cm, by + (r + dy) * cm, zz]) {
                        x0 = x0.min(p[0]);
                        y0 = y0.min(p[1]);
                        x1 = x1.max(p[0]);
                        y1 = y1.max(p[1]);
                    }
                }
            }
        }
        if x0 > x1 {
            return None;
        }
        let (mx, my) = (((x1 - x0) * margin).max(4.0), ((y1 - y0) * margin).max(4.0));
        let (fw, fh) = (f64::from(self.frame.0), f64::from(self.frame.1));
        let fx0 = (x0 - mx).clamp(0.0, fw).floor();
        let fy0 = (y0 - my).clamp(0.0, fh).floor();
        let fx1 = (x1 + mx).clamp(0.0, fw).ceil();
        let fy1 = (y1 + my).clamp(0.0, fh).ceil();
        if fx1 <= fx0 || fy1 <= fy0 {
            return None;
        }
        Some(Roi { x: fx0 as u32, y: fy0 as u32, width: (fx1 - fx0) as u32, height: (fy1 - fy0) as u32 })
    }

    /// Adds layers up to `layer` (past the last: the last) and makes its top face current.
    pub fn advance_to(&mut self, layer: u32) {
        let last = self.layer_count().saturating_sub(1);
        let layer = layer.min(last);
        if self.layer_z.is_empty() {
            return;
        }
        while self.next <= layer {
            let l = self.next as usize;
            let z1 = self.layer_z[l];
            for i in 0..self.layer_cells[l].len() {
                let (c, r) = self.layer_cells[l][i];
                let k = usize::from(r) * usize::from(self.grid.cols) + usize::from(c);
                let z0 = self.cell_top[k].min(z1);
                self.fill_cell(c, r, f64::from(z0), f64::from(z1.max(z0 + 1e-3)), Target::First(self.next));
                self.cell_top[k] = z1;
            }
            self.next += 1;
        }
        if self.top_layer != Some(layer) {
            self.top.iter_mut().for_each(|t| *t = false);
            let z = f64::from(self.layer_z[layer as usize]);
            for i in 0..self.layer_cells[layer as usize].len() {
                let (c, r) = self.layer_cells[layer as usize][i];
                self.fill_cell(c, r, z, z, Target::Top);
            }
            self.top_layer = Some(layer);
        }
    }

    /// The first layer at which pixel `i` (row-major in the mask) shows material; [`NEVER`] if none so far.
    pub fn first_layer(&self) -> &[u32] {
        &self.first
    }

    /// Pixels expected to show material once layer `layer` is printed.
    pub fn expected(&self, layer: u32) -> impl Iterator<Item = usize> + '_ {
        self.first.iter().enumerate().filter(move |(_, f)| **f <= layer).map(|(i, _)| i)
    }

    /// The top face of the current layer (see [`advance_to`](Self::advance_to)).
    pub fn top(&self) -> &[bool] {
        &self.top
    }

    /// Top-face pixels with a neighbour outside it: the outline to draw.
    pub fn top_outline(&self) -> Vec<(u32, u32)> {
        let (w, h) = (self.width() as usize, self.height() as usize);
        let mut out = vec![];
        for y in 0..h {
            for x in 0..w {
                if !self.top[y * w + x] {
                    continue;
                }
                let edge = x == 0
                    || y == 0
                    || x + 1 == w
                    || y + 1 == h
                    || !self.top[y * w + x - 1]
                    || !self.top[y * w + x + 1]
                    || !self.top[(y - 1) * w + x]
                    || !self.top[(y + 1) * w + x];
                if edge {
                    out.push((x as u32, y as u32));
                }
            }
        }
        out
    }

    /// The bounding box of what is expected up to `layer`, grown by `margin`
    /// (a share of its size, at least 2 mask pixels), in full-frame pixels:
    /// the crop the classifier should see.
    pub fn roi(&self, layer: u32, margin: f64) -> Option<Roi> {
        self.region(self.expected(layer), margin)
    }

    /// The full-frame box around some mask pixels (row-major indices), no margin.
    pub fn frame_region(&self, pixels: impl Iterator<Item = usize>) -> Option<Roi> {
        self.region(pixels, 0.0)
    }

    fn region(&self, pixels: impl Iterator<Item = usize>, margin: f64) -> Option<Roi> {
        let w = self.width() as usize;
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
        for i in pixels {
            let (x, y) = (i % w, i / w);
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
        if x0 > x1 {
            return None;
        }
        let (mx, my) = if margin > 0.0 {
            (((x1 - x0 + 1) as f64 * margin).max(2.0), ((y1 - y0 + 1) as f64 * margin).max(2.0))
        } else {
            (0.0, 0.0)
        };
        let sx = f64::from(self.frame.0) / f64::from(self.width());
        let sy = f64::from(self.frame.1) / f64::from(self.height());
        let fx0 = ((x0 as f64 - mx) * sx).max(0.0).floor() as u32;
        let fy0 = ((y0 as f64 - my) * sy).max(0.0).floor() as u32;
        let fx1 = (((x1 + 1) as f64 + mx) * sx).min(f64::from(self.frame.0)).ceil() as u32;
        let fy1 = (((y1 + 1) as f64 + my) * sy).min(f64::from(self.frame.1)).ceil() as u32;
        Some(Roi { x: fx0, y: fy0, width: fx1 - fx0, height: fy1 - fy0 })
    }

    /// The mean cell centre of layers `from..=to` (mm), at the top layer's Z.
    pub fn centroid_mm(&self, from: u32, to: u32) -> Option<[f64; 3]> {
        let (mut sx, mut sy, mut n) = (0.0, 0.0, 0usize);
        let to = to.min(self.layer_count().checked_sub(1)?);
        for l in from..=to {
            for &(c, r) in &self.layer_cells[l as usize] {
                let p = self.grid.cell_center(c, r);
                sx += f64::from(p[0]);
                sy += f64::from(p[1]);
                n += 1;
            }
        }
        (n > 0).then(|| [sx / n as f64, sy / n as f64, f64::from(self.layer_z[to as usize])])
    }

    /// The cell's box from `z0` to `z1` (mm), projected and filled.
    fn fill_cell(&mut self, col: u16, row: u16, z0: f64, z1: f64, target: Target) {
        let g = &self.grid;
        let x0 = f64::from(g.origin_x) + f64::from(col) * f64::from(g.cell_mm);
        let y0 = f64::from(g.origin_y) + f64::from(row) * f64::from(g.cell_mm);
        let (x1, y1) = (x0 + f64::from(g.cell_mm), y0 + f64::from(g.cell_mm));
        let mut pts: Vec<[f64; 2]> = Vec::with_capacity(8);
        for z in if z1 > z0 { vec![z0, z1] } else { vec![z0] } {
            for (x, y) in [(x0, y0), (x1, y0), (x1, y1), (x0, y1)] {
                match self.camera.project([x, y, z]) {
                    Some(p) => pts.push(p),
                    None => return,
                }
            }
        }
        let hull = convex_hull(pts);
        let w = self.width() as usize;
        let (first, top) = (&mut self.first, &mut self.top);
        fill_convex(&hull, self.camera.width, self.camera.height, |x, y| {
            let i = y as usize * w + x as usize;
            match target {
                Target::First(l) => first[i] = first[i].min(l),
                Target::Top => top[i] = true,
            }
        });
    }
}

#[derive(Debug, Clone, Copy)]
enum Target {
    First(u32),
    Top,
}

/// Andrew's monotone chain; counter-clockwise, no repeated last point.
pub fn convex_hull(mut pts: Vec<[f64; 2]>) -> Vec<[f64; 2]> {
    pts.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    let cross = |o: [f64; 2], a: [f64; 2], b: [f64; 2]| (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
    let mut hull: Vec<[f64; 2]> = Vec::with_capacity(pts.len() * 2);
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &[f64; 2]>> =
            if pass == 0 { Box::new(pts.iter()) } else { Box::new(pts.iter().rev()) };
        for &p in iter {
            while hull.len() >= start + 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0 {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull
}

/// Calls `set(x, y)` for every pixel whose centre lies inside the convex
/// polygon (clipped to `w`×`h`); a polygon smaller than a pixel sets the pixel
/// under its centroid, so thin far-away cells never vanish.
pub fn fill_convex(poly: &[[f64; 2]], w: u32, h: u32, mut set: impl FnMut(u32, u32)) {
    if poly.is_empty() {
        return;
    }
    let (ymin, ymax) = poly.iter().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p[1]), b.max(p[1])));
    let mut any = false;
    let y_start = ymin.ceil().max(0.0) as i64;
    let y_end = ymax.floor().min(f64::from(h) - 1.0) as i64;
    for y in y_start..=y_end {
        let yc = y as f64;
        let (mut lo, mut hi) = (f64::MAX, f64::MIN);
        for i in 0..poly.len() {
            let (a, b) = (poly[i], poly[(i + 1) % poly.len()]);
            if (a[1] <= yc && b[1] >= yc) || (b[1] <= yc && a[1] >= yc) {
                let x = if (b[1] - a[1]).abs() < 1e-12 {
                    lo = lo.min(a[0].min(b[0]));
                    hi = hi.max(a[0].max(b[0]));
                    continue;
                } else {
                    a[0] + (yc - a[1]) * (b[0] - a[0]) / (b[1] - a[1])
                };
                lo = lo.min(x);
                hi = hi.max(x);
            }
        }
        if lo > hi {
            continue;
        }
        let x0 = lo.ceil().max(0.0) as i64;
        let x1 = hi.floor().min(f64::from(w) - 1.0) as i64;
        for x in x0..=x1 {
            set(x as u32, y as u32);
            any = true;
        }
    }
    if !any {
        let n = poly.len() as f64;
        let (cx, cy) = poly.iter().fold((0.0, 0.0), |(a, b), p| (a + p[0] / n, b + p[1] / n));
        let (x, y) = (cx.round(), cy.round());
        if x >= 0.0 && y >= 0.0 && x < f64::from(w) && y < f64::from(h) {
            set(x as u32, y as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 20 × 20 mm hollow square, `layers` layers of 0.5 mm, centred at (110, 110).
    pub(crate) fn tower(layers: u32) -> Analysis {
        let mut g = String::from("M83\n");
        for i in 0..layers {
            let z = 0.5 * (i + 1) as f32;
            g.push_str(&format!(";LAYER_CHANGE\n;Z:{z}\nG1 Z{z} F600\nG1 X100 Y100\n"));
            for (x, y) in [(120, 100), (120, 120), (100, 120), (100, 100)] {
                g.push_str(&format!("G1 X{x} Y{y} E1 F1200\n"));
            }
        }
        crate::gcode::analyze(g.as_bytes())
    }

    fn cam() -> Camera {
        Camera::look_at(640, 480, [110.0, -60.0, 120.0], [110.0, 110.0, 5.0], 50.0)
    }

    #[test]
    fn the_mask_grows_upwards_with_layers() {
        let a = tower(40);
        let mut e = ExpectedPrint::new(&a, &cam(), 160).unwrap();
        assert_eq!((e.width(), e.height()), (160, 120));
        e.advance_to(0);
        let low = e.expected(0).count();
        let top_low = e.top().iter().filter(|t| **t).count();
        e.advance_to(39);
        let high = e.expected(39).count();
        assert!(low > 20 && high > low * 2, "{low} -> {high}");
        assert_eq!(e.expected(0).count(), low, "earlier layers stay a lookup");
        // The topmost expected row rises (smaller y) as the tower grows.
        let top_row = |layer: u32| e.expected(layer).map(|i| i / 160).min().unwrap();
        assert!(top_row(39) + 5 < top_row(0), "{} vs {}", top_row(39), top_row(0));
        // The top face of a hollow square is a ring: its outline is most of it.
        let top_high = e.top().iter().filter(|t| **t).count();
        assert!(top_low > 10 && top_high > 10, "{top_low} {top_high}");
        assert!(!e.top_outline().is_empty());
        let roi = e.roi(39, 0.1).unwrap();
        let c = cam().project([110.0, 110.0, 10.0]).unwrap();
        assert!(f64::from(roi.x) < c[0] && f64::from(roi.x + roi.width) > c[0], "{roi:?} {c:?}");
        assert!(roi.x + roi.width <= 640 && roi.y + roi.height <= 480);
    }

    #[test]
    fn the_layer_outline_is_the_projected_footprint_edge() {
        let a = tower(10);
        let e = ExpectedPrint::new(&a, &cam(), 160).unwrap();
        let segs = e.layer_outline(9);
        assert!(segs.len() >= 8, "{}", segs.len());
        // Every end point lies in the projection of the square (a cell of slack) at Z = 5 mm.
        let corners: Vec<[f64; 2]> = [[98.0, 98.0], [122.0, 98.0], [122.0, 122.0], [98.0, 122.0]]
            .iter()
            .map(|c| cam().project([c[0], c[1], 5.0]).unwrap())
            .collect();
        let (x0, x1) = (
            corners.iter().map(|c| c[0]).fold(f64::MAX, f64::min),
            corners.iter().map(|c| c[0]).fold(f64::MIN, f64::max),
        );
        let (y0, y1) = (
            corners.iter().map(|c| c[1]).fold(f64::MAX, f64::min),
            corners.iter().map(|c| c[1]).fold(f64::MIN, f64::max),
        );
        for [p, q] in &segs {
            for pt in [p, q] {
                assert!(pt[0] >= x0 && pt[0] <= x1 && pt[1] >= y0 && pt[1] <= y1, "{pt:?} not in {x0} {x1} {y0} {y1}");
            }
        }
        // …and spans most of it: the outline is the ring's edge, not a corner of it.
        let xs: Vec<f64> = segs.iter().flat_map(|s| [s[0][0], s[1][0]]).collect();
        let span = xs.iter().cloned().fold(f64::MIN, f64::max) - xs.iter().cloned().fold(f64::MAX, f64::min);
        assert!(span > 0.7 * (x1 - x0), "{span} of {}", x1 - x0);
        let roi = e.column_roi(9, 0.0).unwrap();
        let base = cam().project([110.0, 100.0, 0.0]).unwrap();
        assert!(f64::from(roi.y + roi.height) >= base[1], "{roi:?} {base:?}");
        assert!(e.layer_outline(99).is_empty());
    }

    #[test]
    fn hull_and_fill() {
        let hull = convex_hull(vec![[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0], [2.0, 2.0]]);
        assert_eq!(hull.len(), 4);
        let mut n = 0;
        fill_convex(&hull, 100, 100, |_, _| n += 1);
        assert_eq!(n, 25);
        let mut tiny = vec![];
        fill_convex(&[[3.2, 3.2], [3.3, 3.2], [3.3, 3.3]], 10, 10, |x, y| tiny.push((x, y)));
        assert_eq!(tiny, vec![(3, 3)]);
    }
}
