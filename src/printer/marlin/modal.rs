//! The modal state of a G-code stream as the firmware will see it: absolute or
//! relative axes and extruder, feed rate, position, fan and heater targets.
//!
//! Host mode feeds every line it streams through `Modal::apply`, so a pause can
//! restore exactly the modes the file left the machine in. Pure.

use serde::Serialize;

use super::protocol::framing::{command_word, has_param, param};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Modal {
    /// G90 (true) / G91.
    pub absolute_xyz: bool,
    /// M82 (true) / M83; G90/G91 set it too (Marlin).
    pub absolute_e: bool,
    /// Last `F` seen, mm/min.
    pub feedrate: Option<f32>,
    /// Logical position after the last move (`None` until known).
    pub x: Option<f32>,
    pub y: Option<f32>,
    pub z: Option<f32>,
    pub e: Option<f32>,
    /// Part-cooling fan, 0–255.
    pub fan: Option<f32>,
    pub hotend_target: Option<f32>,
    pub bed_target: Option<f32>,
    /// G20 inches: we stop tracking positions (rare; nothing we send depends on it).
    pub inches: bool,
}

impl Default for Modal {
    fn default() -> Self {
        Modal {
            absolute_xyz: true,
            absolute_e: true,
            feedrate: None,
            x: None,
            y: None,
            z: None,
            e: None,
            fan: None,
            hotend_target: None,
            bed_target: None,
            inches: false,
        }
    }
}

/// What kind of command a line is, for state and timeout decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// M109/M190/M191/M116: the firmware blocks until a heater is at temperature.
    HeatWait,
    /// M600: filament change, waits for the user.
    FilamentChange,
    /// M0/M1: unconditional stop, waits for the user.
    UserStop,
    Other,
}

pub fn kind(command: &str) -> Kind {
    match command_word(command).to_ascii_uppercase().as_str() {
        "M109" | "M190" | "M191" | "M116" => Kind::HeatWait,
        "M600" => Kind::FilamentChange,
        "M0" | "M1" => Kind::UserStop,
        _ => Kind::Other,
    }
}

impl Modal {
    pub fn apply(&mut self, command: &str) {
        let word = command_word(command).to_ascii_uppercase();
        match word.as_str() {
            "G0" | "G1" | "G2" | "G3" => {
                if let Some(f) = param(command, 'F') {
                    self.feedrate = Some(f);
                }
                if !self.inches {
                    let abs = self.absolute_xyz;
                    for (axis, slot) in [('X', &mut self.x), ('Y', &mut self.y), ('Z', &mut self.z)] {
                        if let Some(v) = param(command, axis) {
                            *slot = if abs { Some(v) } else { slot.map(|p| p + v) };
                        }
                    }
                    if let Some(v) = param(command, 'E') {
                        self.e = if self.absolute_e {
                            Some(v)
                        } else {
                            self.e.map(|p| p + v)
                        };
                    }
                }
            }
            "G28" => {
                let any = ['X', 'Y', 'Z'].iter().any(|a| has_param(command, *a));
                for (axis, slot) in [('X', &mut self.x), ('Y', &mut self.y), ('Z', &mut self.z)] {
                    if !any || has_param(command, axis) {
                        *slot = None; // the machine's home position is not known here
                    }
                }
            }
            "G92" => {
                let any = ['X', 'Y', 'Z', 'E'].iter().any(|a| has_param(command, *a));
                for (axis, slot) in [
                    ('X', &mut self.x),
                    ('Y', &mut self.y),
                    ('Z', &mut self.z),
                    ('E', &mut self.e),
                ] {
                    if !any {
                        *slot = Some(0.0);
                    } else if let Some(v) = param(command, axis) {
                        *slot = Some(v);
                    }
                }
            }
            "G90" => {
                self.absolute_xyz = true;
                self.absolute_e = true;
            }
            "G91" => {
                self.absolute_xyz = false;
                self.absolute_e = false;
            }
            "M82" => self.absolute_e = true,
            "M83" => self.absolute_e = false,
            "G20" => self.inches = true,
            "G21" => self.inches = false,
            "M106" => self.fan = Some(param(command, 'S').unwrap_or(255.0)),
            "M107" => self.fan = Some(0.0),
            "M104" | "M109" => {
                if !has_param(command, 'T') || param(command, 'T') == Some(0.0) {
                    if let Some(s) = param(command, 'S').or_else(|| param(command, 'R')) {
                        self.hotend_target = Some(s);
                    }
                }
            }
            "M140" | "M190" => {
                if let Some(s) = param(command, 'S').or_else(|| param(command, 'R')) {
                    self.bed_target = Some(s);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lines: &[&str]) -> Modal {
        let mut m = Modal::default();
        for l in lines {
            m.apply(l);
        }
        m
    }

    #[test]
    fn tracks_modes_positions_and_targets() {
        let m = run(&[
            "M140 S60",
            "M104 S200",
            "G28",
            "G92 E0",
            "M83",
            "G1 Z0.2 F300",
            "G1 X10 Y10 E1.5 F1800",
            "G1 X20 E0.5",
            "M106 S128",
            "M109 S210",
        ]);
        assert!(m.absolute_xyz && !m.absolute_e);
        assert_eq!((m.x, m.y, m.z, m.e), (Some(20.0), Some(10.0), Some(0.2), Some(2.0)));
        assert_eq!(m.feedrate, Some(1800.0));
        assert_eq!(
            (m.fan, m.hotend_target, m.bed_target),
            (Some(128.0), Some(210.0), Some(60.0))
        );
    }

    #[test]
    fn relative_moves_and_g90_resets_extruder_mode() {
        let m = run(&["G92 X0 Y0 Z0 E0", "G91", "G1 Z1", "G1 Z1 E2", "G90", "M107"]);
        assert_eq!((m.z, m.e), (Some(2.0), Some(2.0)));
        assert!(m.absolute_xyz && m.absolute_e);
        assert_eq!(m.fan, Some(0.0));
        let m = run(&["G1 Z5", "G28 X"]);
        assert_eq!((m.x, m.z), (None, Some(5.0)));
    }

    #[test]
    fn kinds() {
        assert_eq!(kind("M109 S200"), Kind::HeatWait);
        assert_eq!(kind("m190 S60"), Kind::HeatWait);
        assert_eq!(kind("M600"), Kind::FilamentChange);
        assert_eq!(kind("M0 Click to continue"), Kind::UserStop);
        assert_eq!(kind("M104 S200"), Kind::Other);
    }
}
