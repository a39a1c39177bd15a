//! The printer's motion state as G-code drives it: positions, modes and the
//! geometry of each move. Owns G0/G1/G2/G3, G4, G10/G11 (firmware retract),
//! G20/G21, G28, G90/G91, G92, M82/M83 semantics; knows nothing of layers.
//!
//! Relative modes follow Klipper and PrusaSlicer's own G-code viewer: E is
//! relative when either `G91` or `M83` is in force (Marlin's `G90` would also
//! reset `M83`; slicers always emit `M83` after `G90`, so both agree on slicer
//! output).

use super::footprint::MAX_COORD_MM;
use super::parser::Words;

const X: usize = 0;
const Y: usize = 1;
const Z: usize = 2;
const E: usize = 3;
/// Feed rate assumed until the file sets one (mm/min).
const DEFAULT_FEED: f64 = 1800.0;
const MAX_E_MM: f64 = 1e9;

/// The center and direction of an arc move (XY plane).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Arc {
    pub center: [f64; 2],
    pub radius: f64,
    pub start_angle: f64,
    /// Signed sweep in radians: positive counter-clockwise (G3), negative clockwise (G2).
    pub sweep: f64,
}

/// One executed move.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Move {
    pub from: [f64; 4],
    pub to: [f64; 4],
    pub arc: Option<Arc>,
    /// Length of the XY path (arc length for arcs), mm.
    pub xy_len: f64,
    /// Time at the programmed feed rate, seconds.
    pub duration_s: f64,
}

impl Move {
    pub fn de(&self) -> f64 {
        self.to[E] - self.from[E]
    }

    pub fn dz(&self) -> f64 {
        self.to[Z] - self.from[Z]
    }

    /// Points along the XY path, `from` and `to` included: straight moves give
    /// two, arcs one per ≤ 1 mm (at most 129).
    pub fn path(&self, mut f: impl FnMut([f64; 3])) {
        match self.arc {
            None => {
                f([self.from[X], self.from[Y], self.from[Z]]);
                f([self.to[X], self.to[Y], self.to[Z]]);
            }
            Some(a) => {
                let n = ((a.sweep.abs() * a.radius).ceil() as usize).clamp(2, 128);
                for k in 0..=n {
                    let t = k as f64 / n as f64;
                    let ang = a.start_angle + a.sweep * t;
                    let (x, y) = if k == n {
                        (self.to[X], self.to[Y])
                    } else {
                        (a.center[0] + a.radius * ang.cos(), a.center[1] + a.radius * ang.sin())
                    };
                    f([x, y, self.from[Z] + (self.to[Z] - self.from[Z]) * t]);
                }
            }
        }
    }
}

/// Why a move was not executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MoveError {
    OutOfRange,
}

#[derive(Debug, Clone)]
pub(crate) struct Machine {
    /// Logical X, Y, Z, E in mm.
    pub pos: [f64; 4],
    abs_xyz: bool,
    abs_e: bool,
    /// 1 for mm (G21), 25.4 for inches (G20).
    scale: f64,
    /// Seconds per mm at the current feed rate (60 / mm per minute).
    s_per_mm: f64,
    pub fw_retracted: bool,
}

impl Default for Machine {
    fn default() -> Self {
        Machine {
            pos: [0.0; 4],
            abs_xyz: true,
            abs_e: true,
            scale: 1.0,
            s_per_mm: 60.0 / DEFAULT_FEED,
            fw_retracted: false,
        }
    }
}

fn plausible(p: &[f64; 4]) -> bool {
    p.iter().all(|v| v.is_finite())
        && p[X].abs() <= MAX_COORD_MM
        && p[Y].abs() <= MAX_COORD_MM
        && p[Z].abs() <= MAX_COORD_MM
        && p[E].abs() <= MAX_E_MM
}

impl Machine {
    pub fn set_absolute(&mut self, abs: bool) {
        self.abs_xyz = abs;
    }

    pub fn set_absolute_e(&mut self, abs: bool) {
        self.abs_e = abs;
    }

    pub fn set_inches(&mut self, inches: bool) {
        self.scale = if inches { 25.4 } else { 1.0 };
    }

    fn target(&self, w: &Words) -> [f64; 4] {
        let mut to = self.pos;
        for (i, letter) in [b'X', b'Y', b'Z'].into_iter().enumerate() {
            if let Some(v) = w.get(letter) {
                to[i] = if self.abs_xyz { v * self.scale } else { self.pos[i] + v * self.scale };
            }
        }
        if let Some(v) = w.get(b'E') {
            let relative = !self.abs_xyz || !self.abs_e;
            to[E] = if relative { self.pos[E] + v * self.scale } else { v * self.scale };
        }
        to
    }

    fn take_feed(&mut self, w: &Words) {
        if let Some(f) = w.get(b'F').filter(|f| *f > 0.0 && f.is_finite()) {
            self.s_per_mm = 60.0 / (f * self.scale).max(1.0);
        }
    }

    fn finish(&mut self, to: [f64; 4], arc: Option<Arc>, xy_len: f64) -> Result<Move, MoveError> {
        if !plausible(&to) {
            return Err(MoveError::OutOfRange);
        }
        let from = self.pos;
        let dz = to[Z] - from[Z];
        let mut dist = (xy_len * xy_len + dz * dz).sqrt();
        if dist == 0.0 {
            dist = (to[E] - from[E]).abs();
        }
        let duration_s = dist * self.s_per_mm;
        self.pos = to;
        Ok(Move { from, to, arc, xy_len, duration_s })
    }

    /// G0 / G1.
    pub fn linear(&mut self, w: &Words) -> Result<Move, MoveError> {
        self.take_feed(w);
        let to = self.target(w);
        let (dx, dy) = (to[X] - self.pos[X], to[Y] - self.pos[Y]);
        let xy_len = (dx * dx + dy * dy).sqrt();
        self.finish(to, None, xy_len)
    }

    /// G2 (clockwise) / G3 (counter-clockwise) with I/J offsets or an R radius.
    /// Without either it moves in a straight line, as the end point is all that is known.
    pub fn arc(&mut self, w: &Words, ccw: bool) -> Result<Move, MoveError> {
        self.take_feed(w);
        let to = self.target(w);
        let (p1, q1, p2, q2) = (self.pos[X], self.pos[Y], to[X], to[Y]);
        let center = match (w.get(b'I'), w.get(b'J'), w.get(b'R')) {
            (i, j, _) if i.is_some() || j.is_some() => {
                Some([p1 + i.unwrap_or(0.0) * self.scale, q1 + j.unwrap_or(0.0) * self.scale])
            }
            (_, _, Some(r)) if r != 0.0 && (p1 != p2 || q1 != q2) => {
                let r = r * self.scale;
                let e = if (!ccw) ^ (r < 0.0) { -1.0 } else { 1.0 };
                let (dx, dy) = (p2 - p1, q2 - q1);
                let d = dx.hypot(dy);
                let h = (r * r - d * d * 0.25).max(0.0).sqrt();
                let (mx, my) = ((p1 + p2) * 0.5, (q1 + q2) * 0.5);
                let (sx, sy) = (-dy / d, dx / d);
                Some([mx + e * h * sx, my + e * h * sy])
            }
            _ => None,
        };
        let Some(c) = center.filter(|c| c.iter().all(|v| v.is_finite())) else {
            let xy_len = (p2 - p1).hypot(q2 - q1);
            return self.finish(to, None, xy_len);
        };
        let radius = (p1 - c[0]).hypot(q1 - c[1]);
        let a0 = (q1 - c[1]).atan2(p1 - c[0]);
        let a1 = (q2 - c[1]).atan2(p2 - c[0]);
        let tau = std::f64::consts::TAU;
        let mut sweep = a1 - a0;
        if ccw {
            if sweep <= 1e-9 {
                sweep += tau;
            }
        } else if sweep >= -1e-9 {
            sweep -= tau;
        }
        let arc = Arc { center: c, radius, start_angle: a0, sweep };
        self.finish(to, Some(arc), sweep.abs() * radius)
    }

    /// G92: sets the logical position of the given axes (all to 0 without words).
    pub fn set_position(&mut self, w: &Words) {
        if w.is_empty() {
            self.pos = [0.0; 4];
            return;
        }
        for (i, letter) in [b'X', b'Y', b'Z', b'E'].into_iter().enumerate() {
            if let Some(v) = w.get(letter).filter(|v| v.is_finite() && v.abs() <= MAX_COORD_MM) {
                self.pos[i] = v * self.scale;
            }
        }
    }

    /// G28: the named axes (all without X/Y/Z words) go to 0.
    pub fn home(&mut self, w: &Words) {
        let any = w.has(b'X') || w.has(b'Y') || w.has(b'Z');
        for (i, letter) in [b'X', b'Y', b'Z'].into_iter().enumerate() {
            if !any || w.has(letter) {
                self.pos[i] = 0.0;
            }
        }
    }

    /// G4 dwell time in seconds (`P` milliseconds or `S` seconds).
    pub fn dwell_s(w: &Words) -> f64 {
        let s =
            w.get(b'S').map(|s| s.max(0.0)).unwrap_or(0.0) + w.get(b'P').map(|p| p.max(0.0) / 1000.0).unwrap_or(0.0);
        if s.is_finite() { s.min(86400.0) } else { 0.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gcode::parser::lines;

    fn words(s: &str) -> Words {
        lines(s.as_bytes()).next().unwrap().words
    }

    #[test]
    fn absolute_relative_and_resets() {
        let mut m = Machine::default();
        m.linear(&words("G1 X10 Y10 Z0.2 E1")).unwrap();
        m.set_absolute_e(false);
        let mv = m.linear(&words("G1 X20 E0.5")).unwrap();
        assert_eq!(mv.de(), 0.5);
        assert_eq!(m.pos, [20.0, 10.0, 0.2, 1.5]);
        m.set_absolute(false);
        m.linear(&words("G1 X-5 Z1")).unwrap();
        assert_eq!(m.pos[0], 15.0);
        assert!((m.pos[2] - 1.2).abs() < 1e-12);
        m.set_absolute(true);
        m.set_absolute_e(true);
        m.set_position(&words("G92 E0"));
        let mv = m.linear(&words("G1 E2")).unwrap();
        assert_eq!(mv.de(), 2.0);
        m.set_inches(true);
        m.linear(&words("G1 X1")).unwrap();
        assert_eq!(m.pos[0], 25.4);
        m.home(&words("G28 X"));
        assert_eq!(m.pos[0], 0.0);
        assert!(m.linear(&words("G1 X1e9")).is_err());
        assert_eq!(m.pos[0], 0.0, "an implausible move leaves the position alone");
    }

    #[test]
    fn arcs_by_offset_and_radius() {
        let mut m = Machine::default();
        m.linear(&words("G1 X10 Y0")).unwrap();
        // Quarter circle counter-clockwise around the origin.
        let mv = m.arc(&words("G3 X0 Y10 I-10 J0 E1"), true).unwrap();
        let a = mv.arc.unwrap();
        assert!((a.sweep - std::f64::consts::FRAC_PI_2).abs() < 1e-9);
        assert!((mv.xy_len - 10.0 * std::f64::consts::FRAC_PI_2).abs() < 1e-9);
        let mut max_x = f64::MIN;
        let mut max_y = f64::MIN;
        mv.path(|p| {
            max_x = max_x.max(p[0]);
            max_y = max_y.max(p[1]);
        });
        assert!((max_x - 10.0).abs() < 1e-9 && (max_y - 10.0).abs() < 1e-9);
        // Same end point clockwise with R: three quarters of a circle the other way round.
        let mut m2 = Machine::default();
        m2.linear(&words("G1 X10 Y0")).unwrap();
        let mv = m2.arc(&words("G2 X0 Y10 R-10"), false).unwrap();
        let a = mv.arc.unwrap();
        assert!((a.center[0]).abs() < 1e-9 && a.center[1].abs() < 1e-9, "{a:?}");
        assert!((a.sweep + 1.5 * std::f64::consts::PI).abs() < 1e-9, "{a:?}");
        // Full circle: same start and end.
        let mv = m2.arc(&words("G2 X0 Y10 I0 J-5"), false).unwrap();
        assert!((mv.arc.unwrap().sweep + std::f64::consts::TAU).abs() < 1e-9);
        // No centre at all: a straight line.
        let mv = m2.arc(&words("G2 X5 Y10"), false).unwrap();
        assert!(mv.arc.is_none());
    }
}
