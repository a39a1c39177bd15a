//! Where material lands: a coarse occupancy raster per layer and per object.
//!
//! The raster covers the print's deposited area (not the bed): at most
//! 64 × 64 square cells. While reading, the frame starts with 0.25 mm cells
//! around the first extrusion and doubles its cell size whenever material
//! lands outside it, merging cells 2:1 (exact, cheap, rare: a handful of times
//! per file). At the end it is cropped to the occupied cells, so the final
//! [`Grid`] is the print's bounding box rounded out to cells. Each layer keeps
//! only its occupied cells with the filament (mm) deposited in each.

use std::fmt::Write as _;

use serde::Serialize;

/// Cells per side of the working raster.
pub const GRID_CELLS: usize = 64;
const CELLS: usize = GRID_CELLS * GRID_CELLS;
const INITIAL_CELL_MM: f64 = 0.25;
/// Coordinates beyond this (mm) are not plausible on any printer.
pub const MAX_COORD_MM: f64 = 100_000.0;
/// Objects beyond this many get no footprint (memory bound).
pub const MAX_OBJECT_FOOTPRINTS: usize = 256;

/// The raster shared by all footprints of one analysis, in printer mm.
/// Cell `(col, row)` covers `x ∈ [origin_x + col·cell_mm, +cell_mm)`,
/// `y ∈ [origin_y + row·cell_mm, +cell_mm)`; row 0 is the lowest Y.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Grid {
    pub origin_x: f32,
    pub origin_y: f32,
    pub cell_mm: f32,
    pub cols: u16,
    pub rows: u16,
}

impl Grid {
    /// The cell containing `(x, y)`, if it is on the grid.
    pub fn cell_of(&self, x: f32, y: f32) -> Option<(u16, u16)> {
        let c = ((x - self.origin_x) / self.cell_mm).floor();
        let r = ((y - self.origin_y) / self.cell_mm).floor();
        (c >= 0.0 && r >= 0.0 && c < f32::from(self.cols) && r < f32::from(self.rows)).then_some((c as u16, r as u16))
    }

    /// Center of a cell in mm.
    pub fn cell_center(&self, col: u16, row: u16) -> [f32; 2] {
        [self.origin_x + (f32::from(col) + 0.5) * self.cell_mm, self.origin_y + (f32::from(row) + 0.5) * self.cell_mm]
    }

    pub fn cell_area_mm2(&self) -> f32 {
        self.cell_mm * self.cell_mm
    }
}

/// Occupied cells of a [`Grid`] with the filament (mm) deposited in each.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Footprint {
    /// `(row * cols + col, quantised filament)`, sorted by index, no zeros:
    /// 4 bytes a cell, so a full 64 × 64 layer costs 16 KiB.
    cells: Vec<(u16, u16)>,
    /// Filament mm per quantisation step (the fullest cell is 65535 steps).
    scale: f32,
}

impl Footprint {
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Number of occupied cells.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// `(index, filament mm)` of every occupied cell.
    fn decoded(&self) -> impl Iterator<Item = (u16, f32)> + '_ {
        self.cells.iter().map(|&(i, q)| (i, f32::from(q) * self.scale))
    }

    /// `(col, row, filament mm)` of every occupied cell (relative precision 2⁻¹⁶ of the fullest cell).
    pub fn cells<'a>(&'a self, grid: &Grid) -> impl Iterator<Item = (u16, u16, f32)> + 'a {
        let cols = grid.cols.max(1);
        self.decoded().map(move |(i, mm)| (i % cols, i / cols, mm))
    }

    /// Filament deposited in a cell (0 when empty or off the grid).
    pub fn extruded_at(&self, grid: &Grid, col: u16, row: u16) -> f32 {
        if col >= grid.cols || row >= grid.rows {
            return 0.0;
        }
        let i = row * grid.cols + col;
        self.cells.binary_search_by_key(&i, |c| c.0).map_or(0.0, |k| f32::from(self.cells[k].1) * self.scale)
    }

    pub fn contains(&self, grid: &Grid, col: u16, row: u16) -> bool {
        self.extruded_at(grid, col, row) > 0.0
    }

    /// Adds `other` cell by cell (both on the same grid).
    pub fn merge(&mut self, other: &Footprint) {
        if other.cells.is_empty() {
            return;
        }
        let mut out: Vec<(u16, f32)> = Vec::with_capacity(self.cells.len().max(other.cells.len()));
        {
            let (mut a, mut b) = (self.decoded().peekable(), other.decoded().peekable());
            loop {
                match (a.peek().copied(), b.peek().copied()) {
                    (Some(x), Some(y)) if x.0 == y.0 => {
                        out.push((x.0, x.1 + y.1));
                        a.next();
                        b.next();
                    }
                    (Some(x), Some(y)) if x.0 < y.0 => {
                        out.push(x);
                        a.next();
                    }
                    (Some(_), Some(y)) | (None, Some(y)) => {
                        out.push(y);
                        b.next();
                    }
                    (Some(x), None) => {
                        out.push(x);
                        a.next();
                    }
                    (None, None) => break,
                }
            }
        }
        *self = Footprint::from_sorted(out);
    }

    /// Area of the occupied cells (coarse: a cell counts whole).
    pub fn occupied_area_mm2(&self, grid: &Grid) -> f32 {
        self.cells.len() as f32 * grid.cell_area_mm2()
    }

    /// One character per cell, highest Y first: `#` occupied, `.` empty.
    pub fn render(&self, grid: &Grid) -> String {
        let mut out = String::with_capacity((usize::from(grid.cols) + 1) * usize::from(grid.rows));
        for row in (0..grid.rows).rev() {
            for col in 0..grid.cols {
                out.push(if self.contains(grid, col, row) { '#' } else { '.' });
            }
            let _ = writeln!(out);
        }
        out
    }

    /// From `(index, mm)` sorted by index with distinct indices; cells at or
    /// below zero are dropped, tiny ones keep one step (they are occupied).
    pub(crate) fn from_sorted(cells: Vec<(u16, f32)>) -> Footprint {
        let max = cells.iter().map(|c| c.1).fold(0.0f32, f32::max);
        if !(max > 0.0 && max.is_finite()) {
            return Footprint::default();
        }
        let scale = max / 65535.0;
        let cells = cells
            .into_iter()
            .filter(|c| c.1 > 0.0)
            .map(|(i, mm)| (i, (mm / scale).round().clamp(1.0, 65535.0) as u16))
            .collect();
        Footprint { cells, scale }
    }

    /// Moves every cell to `map(index)` (merging cells that meet), keeping values.
    fn remap(&mut self, map: impl Fn(usize) -> usize) {
        let mut cells: Vec<(u16, f32)> = self.decoded().map(|(i, mm)| (map(usize::from(i)) as u16, mm)).collect();
        cells.sort_unstable_by_key(|c| c.0);
        cells.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 += later.1;
            }
            same
        });
        *self = Footprint::from_sorted(cells);
    }

    /// Renumbers cells in place with an order-preserving `map` (cropping).
    fn reindex(&mut self, map: impl Fn(usize) -> u16) {
        for c in &mut self.cells {
            c.0 = map(usize::from(c.0));
        }
    }
}

fn plausible(p: [f64; 2]) -> bool {
    p[0].is_finite() && p[1].is_finite() && p[0].abs() <= MAX_COORD_MM && p[1].abs() <= MAX_COORD_MM
}

const NOTHING_TOUCHED: (usize, usize, usize, usize) = (usize::MAX, 0, usize::MAX, 0);

#[derive(Debug, Clone, Copy)]
struct Frame {
    ox: f64,
    oy: f64,
    cell: f64,
}

/// Accumulates deposits while a file is read; see the module doc.
#[derive(Debug)]
pub(crate) struct Raster {
    frame: Option<Frame>,
    current: Vec<f32>,
    current_used: bool,
    /// Cells of `current` that may be non-zero: columns `.0..=.1`, rows `.2..=.3`.
    touched: (usize, usize, usize, usize),
    /// Occupied cells of all stored layers, same form (kept exact through rebins).
    occupied: (usize, usize, usize, usize),
    layers: Vec<Footprint>,
    objects: Vec<Option<Vec<f32>>>,
}

impl Default for Raster {
    fn default() -> Self {
        Raster {
            frame: None,
            current: vec![0.0; CELLS],
            current_used: false,
            touched: NOTHING_TOUCHED,
            occupied: NOTHING_TOUCHED,
            layers: Vec::new(),
            objects: Vec::new(),
        }
    }
}

impl Raster {
    /// Deposits `e` mm of filament along the segment; returns `false` (and
    /// deposits nothing) when a coordinate is not plausible.
    pub fn deposit(&mut self, from: [f64; 2], to: [f64; 2], e: f64, object: Option<usize>) -> bool {
        if !(plausible(from) && plausible(to) && self.ensure(from) && self.ensure(to)) {
            return false;
        }
        let Some(f) = self.frame else { return false };
        let obj = object.filter(|&o| o < MAX_OBJECT_FOOTPRINTS);
        if let Some(o) = obj {
            if self.objects.len() <= o {
                self.objects.resize(o + 1, None);
            }
            self.objects[o].get_or_insert_with(|| vec![0.0; CELLS]);
        }
        let mut acc_obj = obj.and_then(|o| self.objects.get_mut(o)).and_then(Option::as_mut).map(|v| &mut v[..]);
        // In cell units: one sample per cell along the longer axis (plus one), at the
        // middle of equal steps, so every column (or row) the segment crosses gets one.
        // Fixed point (16 fractional bits): both ends are inside the frame, so every
        // sample between them is too.
        const ONE: f64 = 65536.0;
        const LIMIT: i64 = GRID_CELLS as i64 * 65536 - 1;
        let inv = ONE / f.cell;
        let fx = |v: f64, o: f64| (((v - o) * inv) as i64).clamp(0, LIMIT);
        let (x0, y0, x1, y1) = (fx(from[0], f.ox), fx(from[1], f.oy), fx(to[0], f.ox), fx(to[1], f.oy));
        let cell = |x: i64, y: i64| ((y >> 16) as usize) * GRID_CELLS + (x >> 16) as usize;
        let (first, last) = (cell(x0, y0), cell(x1, y1));
        // Both ends bound every cell the segment touches.
        for i in [first, last] {
            let (c, r) = (i % GRID_CELLS, i / GRID_CELLS);
            let t = &mut self.touched;
            *t = (t.0.min(c), t.1.max(c), t.2.min(r), t.3.max(r));
        }
        if first == last {
            self.current[first] += e as f32;
            if let Some(acc) = acc_obj.as_deref_mut() {
                acc[first] += e as f32;
            }
        } else {
            let (dx, dy) = (x1 - x0, y1 - y0);
            let n = ((dx.abs().max(dy.abs()) >> 16) + 2).min(4 * GRID_CELLS as i64);
            let share = (e / n as f64) as f32;
            let (sx, sy) = (dx / n, dy / n);
            let (mut x, mut y) = (x0 + sx / 2, y0 + sy / 2);
            let current = &mut self.current[..];
            match acc_obj {
                None => {
                    for _ in 0..n {
                        current[cell(x, y).min(CELLS - 1)] += share;
                        x += sx;
                        y += sy;
                    }
                }
                Some(acc) => {
                    for _ in 0..n {
                        let i = cell(x, y).min(CELLS - 1);
                        current[i] += share;
                        acc[i] += share;
                        x += sx;
                        y += sy;
                    }
                }
            }
        }
        self.current_used = true;
        true
    }

    /// Grows the frame until `p` (plausible) is inside it.
    fn ensure(&mut self, p: [f64; 2]) -> bool {
        let half = GRID_CELLS as f64 * INITIAL_CELL_MM / 2.0;
        let mut f = *self.frame.get_or_insert(Frame { ox: p[0] - half, oy: p[1] - half, cell: INITIAL_CELL_MM });
        for _ in 0..64 {
            let span = GRID_CELLS as f64 * f.cell;
            let (left, right) = (p[0] < f.ox, p[0] >= f.ox + span);
            let (down, up) = (p[1] < f.oy, p[1] >= f.oy + span);
            if !(left || right || down || up) {
                self.frame = Some(f);
                return true;
            }
            self.rebin(left, down);
            if left {
                f.ox -= span;
            }
            if down {
                f.oy -= span;
            }
            f.cell *= 2.0;
            self.frame = Some(f);
        }
        false
    }

    /// Doubles the cell size: old cell (c, r) goes to ((c + N·shift_x) / 2, (r + N·shift_y) / 2).
    fn rebin(&mut self, shift_x: bool, shift_y: bool) {
        let map = |i: usize| -> usize {
            let (c, r) = (i % GRID_CELLS, i / GRID_CELLS);
            let c2 = (c + if shift_x { GRID_CELLS } else { 0 }) / 2;
            let r2 = (r + if shift_y { GRID_CELLS } else { 0 }) / 2;
            r2 * GRID_CELLS + c2
        };
        let rebin_dense = |v: &mut Vec<f32>| {
            let mut out = vec![0.0f32; CELLS];
            for (i, &mm) in v.iter().enumerate() {
                if mm != 0.0 {
                    out[map(i)] += mm;
                }
            }
            *v = out;
        };
        if self.current_used {
            rebin_dense(&mut self.current);
            self.touched = (0, GRID_CELLS - 1, 0, GRID_CELLS - 1);
        }
        for acc in self.objects.iter_mut().flatten() {
            rebin_dense(acc);
        }
        if self.occupied.0 <= self.occupied.1 {
            let (c0, c1, r0, r1) = self.occupied;
            let (a, b) = (map(r0 * GRID_CELLS + c0), map(r1 * GRID_CELLS + c1));
            self.occupied = (a % GRID_CELLS, b % GRID_CELLS, a / GRID_CELLS, b / GRID_CELLS);
        }
        for layer in &mut self.layers {
            layer.remap(map);
        }
    }

    /// Stores the current layer's cells; returns its index among stored layers.
    pub fn close_layer(&mut self) -> usize {
        let mut cells = Vec::new();
        if self.current_used {
            let (c0, c1, r0, r1) = self.touched;
            for r in r0..=r1.min(GRID_CELLS - 1) {
                let row = &mut self.current[r * GRID_CELLS..(r + 1) * GRID_CELLS];
                for (c, v) in row.iter_mut().enumerate().take(c1.min(GRID_CELLS - 1) + 1).skip(c0) {
                    if *v > 0.0 {
                        cells.push(((r * GRID_CELLS + c) as u16, *v));
                        let o = &mut self.occupied;
                        *o = (o.0.min(c), o.1.max(c), o.2.min(r), o.3.max(r));
                    }
                    *v = 0.0;
                }
            }
            self.current_used = false;
            self.touched = NOTHING_TOUCHED;
        }
        self.layers.push(Footprint::from_sorted(cells));
        self.layers.len() - 1
    }

    /// Starts over: no layers, no object deposits, no frame (switching from
    /// geometry to comment layers, so that start-up purge lines do not widen the frame).
    pub fn reset(&mut self) {
        *self = Raster::default();
    }

    /// Crops to the occupied cells and returns the grid, the stored layers'
    /// footprints and each object's footprint (indexed like the objects).
    pub fn finish(self) -> (Option<Grid>, Vec<Footprint>, Vec<Footprint>) {
        let Some(f) = self.frame else {
            return (None, self.layers.iter().map(|_| Footprint::default()).collect(), Vec::new());
        };
        let (mut c0, mut c1, mut r0, mut r1) = self.occupied;
        let mut see = |i: usize| {
            let (c, r) = (i % GRID_CELLS, i / GRID_CELLS);
            c0 = c0.min(c);
            c1 = c1.max(c);
            r0 = r0.min(r);
            r1 = r1.max(r);
        };
        for acc in self.objects.iter().flatten() {
            for (i, &v) in acc.iter().enumerate() {
                if v > 0.0 {
                    see(i);
                }
            }
        }
        if c0 > c1 || r0 > r1 {
            let empty = self.layers.iter().map(|_| Footprint::default()).collect();
            return (None, empty, self.objects.iter().map(|_| Footprint::default()).collect());
        }
        let cols = c1 - c0 + 1;
        let grid = Grid {
            origin_x: (f.ox + c0 as f64 * f.cell) as f32,
            origin_y: (f.oy + r0 as f64 * f.cell) as f32,
            cell_mm: f.cell as f32,
            cols: cols as u16,
            rows: (r1 - r0 + 1) as u16,
        };
        let reindex = |i: usize| -> u16 { ((i / GRID_CELLS - r0) * cols + (i % GRID_CELLS - c0)) as u16 };
        let layers = self
            .layers
            .into_iter()
            .map(|mut l| {
                l.reindex(reindex);
                l
            })
            .collect();
        let objects = self
            .objects
            .iter()
            .map(|acc| match acc {
                Some(acc) => Footprint::from_sorted(
                    acc.iter().enumerate().filter(|(_, v)| **v > 0.0).map(|(i, &mm)| (reindex(i), mm)).collect(),
                ),
                None => Footprint::default(),
            })
            .collect();
        (Some(grid), layers, objects)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    #[test]
    fn a_square_outline_grows_the_frame_and_crops_to_itself() {
        let mut r = Raster::default();
        let pts = [[100.0, 100.0], [120.0, 100.0], [120.0, 120.0], [100.0, 120.0], [100.0, 100.0]];
        for w in pts.windows(2) {
            assert!(r.deposit(w[0], w[1], 1.0, Some(0)));
        }
        assert_eq!(r.close_layer(), 0);
        assert!(r.deposit([110.0, 110.0], [111.0, 110.0], 0.5, None));
        r.close_layer();
        let (grid, layers, objects) = r.finish();
        let grid = grid.unwrap();
        // 20 mm needs 0.5 mm cells (the 0.25 mm frame spans only 16 mm).
        assert_eq!((grid.cell_mm, grid.cols, grid.rows), (0.5, 41, 41));
        assert!(grid.origin_x <= 100.0 && grid.origin_x + 0.5 > 100.0, "{grid:?}");
        let total: f32 = layers[0].cells(&grid).map(|c| c.2).sum();
        assert!((total - 4.0).abs() < 1e-4, "{total}");
        // The corner cell (120, 120) is never sampled: 4 sides × 40 cells − 1 shared corner.
        assert_eq!(layers[0].len(), 159);
        assert_eq!(objects[0], layers[0]);
        let mut both = layers[0].clone();
        both.merge(&layers[1]);
        // Quantised to 2^-16 of the fullest cell: the sum over ~160 cells stays within 1e-3.
        assert!((both.cells(&grid).map(|c| c.2).sum::<f32>() - 4.5).abs() < 1e-3);
    }

    #[test]
    fn render_shows_an_l_shape() {
        let mut r = Raster::default();
        r.deposit([10.0, 10.0], [12.0, 10.0], 1.0, None);
        r.deposit([10.0, 10.0], [10.0, 11.0], 1.0, None);
        r.close_layer();
        let (grid, layers, _) = r.finish();
        let grid = grid.unwrap();
        assert_eq!(grid.cell_of(10.1, 10.1), Some((0, 0)));
        assert_eq!(grid.cell_of(9.0, 10.1), None);
        expect![[r#"
            #.......
            #.......
            #.......
            ########
        "#]]
        .assert_eq(&layers[0].render(&grid));
    }

    #[test]
    fn implausible_coordinates_are_refused() {
        let mut r = Raster::default();
        assert!(!r.deposit([0.0, 0.0], [f64::NAN, 1.0], 1.0, None));
        assert!(!r.deposit([0.0, 0.0], [2e5, 1.0], 1.0, None));
        assert!(r.deposit([-50.0, -50.0], [250.0, 250.0], 1.0, None));
        r.close_layer();
        let (grid, layers, _) = r.finish();
        let grid = grid.unwrap();
        assert!(grid.cell_mm * f32::from(grid.cols) >= 300.0, "{grid:?}");
        assert!(grid.cols <= 64 && grid.rows <= 64);
        assert!(layers[0].len() >= 37, "{}", layers[0].len());
    }

    #[test]
    fn nothing_deposited_means_no_grid() {
        let mut r = Raster::default();
        r.close_layer();
        let (grid, layers, objects) = r.finish();
        assert!(grid.is_none());
        assert_eq!(layers.len(), 1);
        assert!(objects.is_empty());
    }
}
