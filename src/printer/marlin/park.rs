//! The G-code sequences host mode sends for pause, park, resume and cancel.
//!
//! Pure: given what was saved when the print was held (position from `M114`,
//! the stream's modes, heater targets), it returns the lines to send. Every
//! sequence sets the modes it relies on first and leaves the machine in the
//! file's own modes when it hands back to the file.

use serde::Serialize;

use super::modal::Modal;
use super::protocol::Position;

/// Feed rates for park moves (mm/min): slow enough for any printer's Z axis.
const RETRACT_F: u32 = 2400;
const LIFT_F: u32 = 600;
const TRAVEL_F: u32 = 3000;

/// What a pause remembers to resume from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Saved {
    /// Where the nozzle was when the moves finished (`M114`), else the stream's idea of it.
    pub position: Position,
    pub modal: Modal,
    pub hotend_target: Option<f32>,
    pub bed_target: Option<f32>,
}

/// How far a park actually moved, to undo exactly that.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Parked {
    pub retract_mm: f32,
    pub lift_mm: f32,
}

fn num(v: f32) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".to_string() } else { s.to_string() }
}

/// Retract then lift (relative), ending in absolute mode.
pub fn park(retract_mm: f32, lift_mm: f32) -> Vec<String> {
    let mut out = Vec::new();
    if retract_mm > 0.0 {
        out.push("M83".to_string());
        out.push(format!("G1 E-{} F{RETRACT_F}", num(retract_mm)));
    }
    if lift_mm > 0.0 {
        out.push("G91".to_string());
        out.push(format!("G1 Z{} F{LIFT_F}", num(lift_mm)));
    }
    out.push("G90".to_string());
    out
}

/// Reheats (waiting) if targets changed during the pause, undoes the park, goes back
/// to the saved position, and restores feed rate, fan and the stream's modes.
pub fn resume(saved: &Saved, parked: Option<Parked>, hotend_now: Option<f32>, bed_now: Option<f32>) -> Vec<String> {
    let mut out = Vec::new();
    let changed = |want: Option<f32>, now: Option<f32>| match want {
        Some(w) if w > 0.0 => now.is_none_or(|n| (n - w).abs() > 0.5),
        _ => false,
    };
    let reheat_bed = changed(saved.bed_target, bed_now);
    let reheat_hotend = changed(saved.hotend_target, hotend_now);
    if let (true, Some(b)) = (reheat_bed, saved.bed_target) {
        out.push(format!("M140 S{}", num(b)));
    }
    if let (true, Some(t)) = (reheat_hotend, saved.hotend_target) {
        out.push(format!("M104 S{}", num(t)));
    }
    if let (true, Some(b)) = (reheat_bed, saved.bed_target) {
        out.push(format!("M190 S{}", num(b)));
    }
    if let (true, Some(t)) = (reheat_hotend, saved.hotend_target) {
        out.push(format!("M109 S{}", num(t)));
    }
    if let Some(p) = parked {
        if p.lift_mm > 0.0 {
            out.push("G91".to_string());
            out.push(format!("G1 Z-{} F{LIFT_F}", num(p.lift_mm)));
        }
    }
    out.push("G90".to_string());
    let pos = &saved.position;
    let xyz: Vec<String> = [('X', pos.x), ('Y', pos.y), ('Z', pos.z)]
        .iter()
        .filter_map(|(a, v)| v.map(|v| format!("{a}{}", num(v))))
        .collect();
    if !xyz.is_empty() {
        out.push(format!("G1 {} F{TRAVEL_F}", xyz.join(" ")));
    }
    if let Some(p) = parked {
        if p.retract_mm > 0.0 {
            out.push("M83".to_string());
            out.push(format!("G1 E{} F{RETRACT_F}", num(p.retract_mm)));
        }
    }
    if let Some(f) = saved.modal.fan {
        out.push(if f > 0.0 {
            format!("M106 S{}", num(f))
        } else {
            "M107".to_string()
        });
    }
    out.push(if saved.modal.absolute_xyz { "G90" } else { "G91" }.to_string());
    out.push(if saved.modal.absolute_e { "M82" } else { "M83" }.to_string());
    if let Some(f) = saved.modal.feedrate {
        out.push(format!("G1 F{}", num(f)));
    }
    out
}

/// After a cancel: heaters and fan off, retract and lift (unless already parked).
pub fn cancel(retract_mm: f32, lift_mm: f32, already_parked: bool) -> Vec<String> {
    let mut out = vec!["M104 S0".to_string(), "M140 S0".to_string(), "M107".to_string()];
    if !already_parked {
        out.extend(park(retract_mm, lift_mm));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    fn saved() -> Saved {
        let mut modal = Modal::default();
        for l in ["M82", "G1 F1800", "M106 S200", "M104 S210", "M140 S60"] {
            modal.apply(l);
        }
        Saved {
            position: Position {
                x: Some(12.5),
                y: Some(40.0),
                z: Some(3.2),
                e: Some(101.25),
            },
            hotend_target: modal.hotend_target,
            bed_target: modal.bed_target,
            modal,
        }
    }

    #[test]
    fn park_sequence() {
        expect![[r#"["M83", "G1 E-2 F2400", "G91", "G1 Z10 F600", "G90"]"#]]
            .assert_eq(&format!("{:?}", park(2.0, 10.0)));
        expect![[r#"["G90"]"#]].assert_eq(&format!("{:?}", park(0.0, 0.0)));
    }

    #[test]
    fn resume_after_cool_down_reheats_and_undoes_the_park() {
        let lines = resume(
            &saved(),
            Some(Parked {
                retract_mm: 2.0,
                lift_mm: 7.5,
            }),
            Some(0.0),
            Some(60.0),
        );
        expect![[r#"
            M104 S210
            M109 S210
            G91
            G1 Z-7.5 F600
            G90
            G1 X12.5 Y40 Z3.2 F3000
            M83
            G1 E2 F2400
            M106 S200
            G90
            M82
            G1 F1800"#]]
        .assert_eq(&lines.join("\n"));
    }

    #[test]
    fn resume_without_park_or_temperature_change() {
        let lines = resume(&saved(), None, Some(210.0), Some(60.0));
        expect![[r#"
            G90
            G1 X12.5 Y40 Z3.2 F3000
            M106 S200
            G90
            M82
            G1 F1800"#]]
        .assert_eq(&lines.join("\n"));
    }

    #[test]
    fn cancel_sequence() {
        expect![[r#"["M104 S0", "M140 S0", "M107", "M83", "G1 E-2 F2400", "G91", "G1 Z5 F600", "G90"]"#]]
            .assert_eq(&format!("{:?}", cancel(2.0, 5.0, false)));
        expect![[r#"["M104 S0", "M140 S0", "M107"]"#]].assert_eq(&format!("{:?}", cancel(2.0, 5.0, true)));
    }
}
