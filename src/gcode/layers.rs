//! Where layers begin and end. Owns the two detection strategies:
//!
//! * **Comments**: a slicer marker (`;LAYER_CHANGE`, `; CHANGE_LAYER`,
//!   `;LAYER:n`, Simplify3D `; layer n, Z = …`, KISSlicer
//!   `; BEGIN_LAYER_OBJECT`) starts a layer at the marker's line. Two markers
//!   with no extrusion between them are one layer (Orca writes two schemes).
//!   Extrusion before the first marker (purge lines) belongs to no layer.
//! * **Geometry**, for files without markers: a layer starts when material is
//!   deposited at a Z other than the current layer's. Its first line is the
//!   first Z move after the previous layer's last deposit (so a Z-hop that
//!   returns to the same height starts nothing). Moves that deposit while Z
//!   rises (vase mode) are bucketed by the nominal layer height.
//!
//! The first marker seen switches to comments for good: layers found by
//! geometry before it (start-up code) are dropped.

use super::model::{BBox, include};

/// Z values closer than this are the same height (slicers print 3 decimals).
const Z_EPS: f64 = 1e-3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Geometry,
    Comments,
}

/// A layer being read or already closed, before the final clean-up.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawLayer {
    pub start_offset: u64,
    pub start_line: u64,
    pub end_offset: u64,
    pub end_line: u64,
    pub slicer_layer: Option<i64>,
    pub marker_height: Option<f32>,
    pub marker_z: Option<f32>,
    pub deposited: bool,
    /// Highest Z with deposition.
    pub max_z: f64,
    /// Geometry mode: Z of the layer's first deposit, or the base of a vase bucket.
    pub z_ref: f64,
    /// Some deposit on this layer raised Z while extruding (vase spiral).
    pub rising: bool,
    pub extruded: f64,
    pub bbox: Option<BBox>,
    /// (feature id, filament mm) in order of first appearance.
    pub features: Vec<(u16, f64)>,
    pub objects: Vec<u32>,
    /// Captured at the first deposit.
    pub m73_percent: Option<f32>,
    pub m73_remaining_s: Option<f64>,
    pub kinematic_at_start: f64,
    pub elapsed_at_start: Option<f64>,
    /// End (offset, next line number) of the line of the last deposit.
    pub last_deposit_end: (u64, u64),
}

/// What the analyzer knows at the moment of a deposit, to stamp a layer's start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    pub m73_percent: Option<f32>,
    pub m73_remaining_s: Option<f64>,
    pub kinematic_s: f64,
    pub elapsed_s: Option<f64>,
}

/// Side effects the analyzer must apply to the raster and objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    Nothing,
    /// A layer was closed (the raster must close its current layer too).
    Closed,
    /// Switched from geometry to comments: stored layers and current deposits are void.
    Restarted,
    /// The first comment layer opened: deposits so far are prelude (void).
    PreludeEnded,
}

#[derive(Debug)]
pub(crate) struct LayerBuilder {
    mode: Mode,
    pub open: Option<RawLayer>,
    pub closed: Vec<RawLayer>,
    /// Geometry mode: where the next layer would start (first Z move since the last deposit).
    pending_start: Option<(u64, u64)>,
    any_deposit: bool,
    /// Nominal layer height from the header (vase buckets).
    pub nominal_height: Option<f64>,
}

impl Default for LayerBuilder {
    fn default() -> Self {
        LayerBuilder {
            mode: Mode::Geometry,
            open: None,
            closed: Vec::new(),
            pending_start: None,
            any_deposit: false,
            nominal_height: None,
        }
    }
}

fn new_layer(offset: u64, line: u64) -> RawLayer {
    RawLayer { start_offset: offset, start_line: line, max_z: f64::NEG_INFINITY, ..RawLayer::default() }
}

impl LayerBuilder {
    pub fn uses_comments(&self) -> bool {
        self.mode == Mode::Comments
    }

    /// Index the next closed layer will get (the open layer's ordinal).
    pub fn ordinal(&self) -> usize {
        self.closed.len()
    }

    fn close(&mut self, end_offset: u64, end_line: u64) {
        if let Some(mut l) = self.open.take() {
            l.end_offset = end_offset;
            l.end_line = end_line;
            self.closed.push(l);
        }
    }

    /// A layer-change comment at `offset`/`line`.
    pub fn marker(
        &mut self,
        offset: u64,
        line: u64,
        slicer_layer: Option<i64>,
        z: Option<f32>,
        height: Option<f32>,
    ) -> Event {
        let mut event = Event::Nothing;
        if self.mode == Mode::Geometry {
            self.mode = Mode::Comments;
            self.closed.clear();
            self.open = None;
            event = Event::Restarted;
        }
        match &mut self.open {
            Some(l) if !l.deposited => {
                // A second marker for the same layer (or an empty layer): keep one.
                l.slicer_layer = slicer_layer.or(l.slicer_layer);
                l.marker_z = z.or(l.marker_z);
                l.marker_height = height.or(l.marker_height);
                return event;
            }
            Some(_) => {
                self.close(offset, line);
                event = if event == Event::Restarted { Event::Restarted } else { Event::Closed };
            }
            None => {
                if event == Event::Nothing {
                    event = Event::PreludeEnded;
                }
            }
        }
        let mut l = new_layer(offset, line);
        l.slicer_layer = slicer_layer;
        l.marker_z = z;
        l.marker_height = height;
        self.open = Some(l);
        event
    }

    /// `;Z:` / `;HEIGHT:` style notes: they describe the layer just announced,
    /// so they only count before its first deposit.
    pub fn marker_z(&mut self, z: f32) {
        if let Some(l) = self.open.as_mut().filter(|l| !l.deposited) {
            l.marker_z = Some(z);
        }
    }

    pub fn marker_height(&mut self, h: f32) {
        if let Some(l) = self.open.as_mut().filter(|l| !l.deposited) {
            l.marker_height = Some(h);
        }
    }

    /// A move that changed Z without depositing.
    pub fn z_move(&mut self, offset: u64, line: u64) {
        if self.pending_start.is_none() || !self.any_deposit {
            self.pending_start = Some((offset, line));
        }
    }

    /// A deposit from height `z_from` to `z_to` on the line at `offset`/`line`
    /// (ending at `end`). Returns `Event::Closed` when a geometry layer was
    /// closed first, and whether this was the open layer's first deposit.
    /// After the call the open layer (if any) is the one the deposit belongs to.
    pub fn deposit(&mut self, at: (u64, u64, u64), z_from: f64, z_to: f64, clock: Clock) -> (Event, bool) {
        let (offset, line, end) = at;
        self.any_deposit = true;
        let rising = z_to > z_from + 1e-6;
        let mut event = Event::Nothing;
        if self.mode == Mode::Geometry {
            let pending = self.pending_start.unwrap_or((offset, line));
            let bucket = self.bucket();
            // (start, base Z) of a new layer, if this deposit begins one.
            let new: Option<((u64, u64), f64)> = match &self.open {
                None => Some((pending, if rising { z_from } else { z_to })),
                Some(l) if l.rising => {
                    // Inside a vase spiral: a new bucket once a rising move starts at the next
                    // boundary, or a flat one runs above it.
                    let top = l.z_ref + bucket;
                    if (rising && z_from >= top - Z_EPS) || (!rising && z_to > top + Z_EPS) {
                        let k = ((z_from - l.z_ref + Z_EPS) / bucket).floor().max(1.0);
                        Some(((offset, line), l.z_ref + k * bucket))
                    } else if z_to < l.z_ref - Z_EPS {
                        Some((pending, z_to))
                    } else {
                        None
                    }
                }
                // A planar layer followed by a rising deposit: the spiral starts a layer of its own,
                // based on the planar layer's height (slicers fade extrusion in, so the first
                // extruding move may already be a little higher).
                Some(l) if rising => {
                    let near = z_from >= l.max_z - Z_EPS && z_from - l.max_z < bucket * 0.5;
                    Some(((offset, line), if near { l.max_z } else { z_from }))
                }
                Some(l) if (z_to - l.z_ref).abs() > Z_EPS => Some((pending, z_to)),
                Some(_) => None,
            };
            if let Some((start, base)) = new {
                if self.open.is_some() {
                    self.close(start.0, start.1);
                    event = Event::Closed;
                }
                let mut l = new_layer(start.0, start.1);
                l.z_ref = base;
                self.open = Some(l);
            }
        }
        self.pending_start = None;
        let Some(l) = self.open.as_mut() else { return (event, false) };
        let first = !l.deposited;
        if first {
            l.deposited = true;
            if self.mode == Mode::Comments {
                l.z_ref = z_to;
            }
            l.m73_percent = clock.m73_percent;
            l.m73_remaining_s = clock.m73_remaining_s;
            l.kinematic_at_start = clock.kinematic_s;
            l.elapsed_at_start = clock.elapsed_s;
        }
        l.rising |= rising;
        l.max_z = l.max_z.max(z_to);
        l.last_deposit_end = (end, line + 1);
        (event, first)
    }

    /// Vase-mode bucket height: the header's layer height, else the last layer's.
    fn bucket(&self) -> f64 {
        if let Some(h) = self.nominal_height.filter(|h| *h > 0.0) {
            return h;
        }
        match self.closed.as_slice() {
            [.., a, b] if b.max_z > a.max_z + Z_EPS => b.max_z - a.max_z,
            _ => 0.2,
        }
    }

    /// Adds deposit details to the open layer.
    pub fn account(&mut self, e: f64, feature: Option<u16>, object: Option<u32>, a: [f32; 3], b: [f32; 3]) {
        let Some(l) = self.open.as_mut() else { return };
        l.extruded += e;
        include(&mut l.bbox, a);
        include(&mut l.bbox, b);
        if let Some(f) = feature {
            match l.features.iter_mut().find(|(id, _)| *id == f) {
                Some(slot) => slot.1 += e,
                None => l.features.push((f, e)),
            }
        }
        if let Some(o) = object
            && !l.objects.contains(&o)
        {
            l.objects.push(o);
        }
    }

    /// Closes the last layer at its last deposit and returns all layers.
    pub fn finish(mut self) -> Vec<RawLayer> {
        if let Some(l) = &self.open {
            let (end, line) = if l.deposited { l.last_deposit_end } else { (l.start_offset, l.start_line) };
            self.close(end, line);
        }
        self.closed
    }
}
