//! The park move after a pause (retract, lift) and its exact inverse before
//! resuming, shared by the host links. Hosts send it as G-code lines.
//!
//! The relative block is fenced with `M400` (wait for moves): firmware that
//! applies `G90`/`G91` as soon as they arrive, while earlier moves still sit
//! in its queue (OctoPrint's VirtualPrinter does), would otherwise run the
//! lift as an absolute move. On Marlin and Klipper the fences cost nothing.

use crate::domain::PrinterStatus;

/// Below this the firmware refuses to move the extruder (cold extrusion guard).
pub(crate) const MIN_EXTRUDE_TEMP_C: f32 = 170.0;

/// What a park did, so resume can undo exactly that.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ParkMove {
    pub retract_mm: f32,
    pub lift_mm: f32,
}

impl ParkMove {
    pub(crate) fn park_gcode(&self) -> Vec<String> {
        let mut g = vec!["M400".to_string(), "G91".to_string()];
        if self.retract_mm > 0.0 {
            g.push(format!("G1 E-{:.2} F2400", self.retract_mm));
        }
        g.push(format!("G1 Z{:.2} F600", self.lift_mm));
        g.extend(["M400".to_string(), "G90".to_string()]);
        g
    }

    /// The reverse move; the retraction is primed back only if the hotend is hot enough.
    pub(crate) fn unpark_gcode(&self, hot: bool) -> Vec<String> {
        let mut g = vec!["M400".to_string(), "G91".to_string(), format!("G1 Z-{:.2} F600", self.lift_mm)];
        if self.retract_mm > 0.0 && hot {
            g.push(format!("G1 E{:.2} F2400", self.retract_mm));
        }
        g.extend(["M400".to_string(), "G90".to_string()]);
        g
    }
}

pub(crate) fn hotend_hot(s: &PrinterStatus) -> bool {
    s.temps.hotend.is_some_and(|h| h.actual >= MIN_EXTRUDE_TEMP_C)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn park_and_unpark_are_inverse_moves() {
        let p = ParkMove { retract_mm: 2.0, lift_mm: 10.0 };
        assert_eq!(p.park_gcode(), ["M400", "G91", "G1 E-2.00 F2400", "G1 Z10.00 F600", "M400", "G90"]);
        assert_eq!(p.unpark_gcode(true), ["M400", "G91", "G1 Z-10.00 F600", "G1 E2.00 F2400", "M400", "G90"]);
        assert_eq!(p.unpark_gcode(false), ["M400", "G91", "G1 Z-10.00 F600", "M400", "G90"]);
        let cold = ParkMove { retract_mm: 0.0, lift_mm: 5.0 };
        assert_eq!(cold.park_gcode(), ["M400", "G91", "G1 Z5.00 F600", "M400", "G90"]);
    }
}
