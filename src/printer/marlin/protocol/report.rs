//! Parsers for the measurement lines firmwares print: temperatures (`M105`,
//! `M155` auto-report, heating progress), positions (`M114`, `M154`) and the
//! machine volume from `M115`'s `area:` line.
//!
//! Every dialect we know is accepted: `T:200.0 /200.0`, `T:200.00/ 200.00`,
//! `T:200/200`, `T0:`/`T1:` per tool, `B:`/`C:` bed and chamber, Smoothie's `@0`,
//! Klipper's `T0:`-only reports, Prusa's `P:`/`A:`, `W:?` while waiting.

use serde::Serialize;

/// One heater as reported: target is absent in some dialects and while waiting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HeaterReading {
    pub actual: f32,
    pub target: Option<f32>,
}

/// A temperature report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TempReport {
    /// `T:` (the active tool), when present.
    pub active: Option<HeaterReading>,
    /// `T0:`, `T1:`… in the order reported.
    pub tools: Vec<(u8, HeaterReading)>,
    pub bed: Option<HeaterReading>,
    pub chamber: Option<HeaterReading>,
    /// `W:` seconds left in a Marlin heating wait (`?` when unknown), which marks a progress line.
    pub waiting: bool,
}

impl TempReport {
    /// The hotend to show: the active tool, else tool 0, else the first tool.
    pub fn hotend(&self) -> Option<HeaterReading> {
        self.active
            .or_else(|| self.tools.iter().find(|(i, _)| *i == 0).map(|(_, h)| *h))
            .or_else(|| self.tools.first().map(|(_, h)| *h))
    }
}

/// Axis positions from `M114`/auto-report (logical coordinates, before `Count`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Position {
    pub x: Option<f32>,
    pub y: Option<f32>,
    pub z: Option<f32>,
    pub e: Option<f32>,
}

/// The printable volume from `M115`'s `area:{full:{min:{x:..},max:{..}},work:{..}}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Area {
    pub min: [f32; 3],
    pub max: [f32; 3],
}

enum Key {
    Active,
    Tool(u8),
    Bed,
    Chamber,
    Wait,
    Ignored,
}

fn temp_key(key: &str) -> Option<Key> {
    Some(match key {
        "T" => Key::Active,
        "B" => Key::Bed,
        "C" => Key::Chamber,
        "W" => Key::Wait,
        // Power (`@`, `B@`, `@0`), probe, ambient, redundant sensor, extruder index while waiting.
        "@" | "B@" | "C@" | "P" | "A" | "R" | "E" | "Q" | "L" | "M" => Key::Ignored,
        _ if key.starts_with('@') || key.ends_with('@') => Key::Ignored,
        _ => {
            let idx = key.strip_prefix('T')?;
            Key::Tool(idx.parse().ok()?)
        }
    })
}

fn float(s: &str) -> Option<f32> {
    let v: f32 = s.trim().parse().ok()?;
    v.is_finite().then_some(v)
}

/// Parses a temperature report; `None` if `text` does not start like one.
///
/// `text` is what follows `ok ` for replies, or the whole line for reports.
pub fn parse_temps(text: &str) -> Option<TempReport> {
    let tokens: Vec<&str> = text.split_ascii_whitespace().collect();
    let first = tokens.first()?;
    let (k, _) = first.split_once(':')?;
    if !matches!(temp_key(k)?, Key::Active | Key::Tool(_) | Key::Bed | Key::Chamber) {
        return None;
    }
    let mut report = TempReport::default();
    let mut i = 0;
    while i < tokens.len() {
        let tok = tokens[i];
        i += 1;
        let Some((key, rest)) = tok.split_once(':') else {
            continue;
        };
        let Some(key) = temp_key(key) else { continue };
        if let Key::Wait = key {
            report.waiting = true;
            continue;
        }
        if let Key::Ignored = key {
            continue;
        }
        // Forms: `200.0`, `200.0/210`, `200.0/` + `210`, `200.0` + `/210`, `200.0` + `/` + `210`.
        let (actual, mut target) = match rest.split_once('/') {
            Some((a, t)) => (a, if t.is_empty() { None } else { Some(t) }),
            None => (rest, None),
        };
        let Some(actual) = float(actual) else { continue };
        let slash_pending = rest.ends_with('/');
        if target.is_none() && i < tokens.len() {
            let next = tokens[i];
            if slash_pending && !next.contains(':') {
                target = Some(next);
                i += 1;
            } else if let Some(t) = next.strip_prefix('/') {
                i += 1;
                if t.is_empty() {
                    if i < tokens.len() && !tokens[i].contains(':') {
                        target = Some(tokens[i]);
                        i += 1;
                    }
                } else {
                    target = Some(t);
                }
            }
        }
        let reading = HeaterReading {
            actual,
            target: target.and_then(float),
        };
        match key {
            Key::Active => report.active = Some(reading),
            Key::Tool(n) => report.tools.push((n, reading)),
            Key::Bed => report.bed = Some(reading),
            Key::Chamber => report.chamber = Some(reading),
            Key::Wait | Key::Ignored => {}
        }
    }
    (report.active.is_some() || !report.tools.is_empty() || report.bed.is_some() || report.chamber.is_some())
        .then_some(report)
}

/// Parses `X:10.00 Y:20.00 Z:0.30 E:1.20 Count X:800 …`; stops at `Count`/`Machine`.
pub fn parse_position(text: &str) -> Option<Position> {
    let mut tokens = text.split_ascii_whitespace().peekable();
    if !tokens.peek()?.starts_with("X:") {
        return None;
    }
    let mut pos = Position::default();
    let mut pending: Option<char> = None;
    for tok in tokens {
        if tok.starts_with("Count") || tok.starts_with("Machine") {
            break;
        }
        let (key, value) = match tok.split_once(':') {
            Some((k, v)) => (k, v),
            None => match pending.take() {
                // `X: 0.00` (space after the colon, Prusa's count block uses it)
                Some(_) => ("", tok),
                None => continue,
            },
        };
        let axis = if key.is_empty() {
            None
        } else {
            key.chars().next().filter(|_| key.len() == 1)
        };
        if value.is_empty() {
            pending = axis;
            continue;
        }
        let v = float(value);
        match axis {
            Some('X') => pos.x = v,
            Some('Y') => pos.y = v,
            Some('Z') => pos.z = v,
            Some('E') => pos.e = v,
            _ => {}
        }
    }
    pos.z.is_some().then_some(pos)
}

/// Parses `area:{full:{…},work:{min:{x:0,y:0,z:0},max:{x:220,y:220,z:250}}}`: the work volume.
pub fn parse_area(text: &str) -> Option<Area> {
    let rest = text.strip_prefix("area:")?;
    let work = rest.find("work:").map(|i| &rest[i..]).unwrap_or(rest);
    let vec3 = |label: &str| -> Option<[f32; 3]> {
        let start = work.find(label)? + label.len();
        let body = work[start..].strip_prefix('{')?;
        let body = &body[..body.find('}')?];
        let mut out = [0.0; 3];
        for part in body.split(',') {
            let (k, v) = part.split_once(':')?;
            let idx = match k.trim() {
                "x" | "X" => 0,
                "y" | "Y" => 1,
                "z" | "Z" => 2,
                _ => continue,
            };
            out[idx] = float(v)?;
        }
        Some(out)
    };
    Some(Area {
        min: vec3("min:")?,
        max: vec3("max:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{Expect, expect};

    fn check_temps(line: &str, want: Expect) {
        want.assert_eq(&format!("{:?}", parse_temps(line)));
    }

    #[test]
    fn marlin_single_extruder() {
        check_temps(
            "T:200.0 /200.0 B:60.0 /60.0 @:127 B@:0",
            expect![[
                r#"Some(TempReport { active: Some(HeaterReading { actual: 200.0, target: Some(200.0) }), tools: [], bed: Some(HeaterReading { actual: 60.0, target: Some(60.0) }), chamber: None, waiting: false })"#
            ]],
        );
    }

    #[test]
    fn marlin_two_extruders() {
        check_temps(
            "T:210.1 /210.0 B:59.8 /60.0 T0:210.1 /210.0 T1:25.0 /0.0 @:64 B@:0 @0:64 @1:0",
            expect![[
                r#"Some(TempReport { active: Some(HeaterReading { actual: 210.1, target: Some(210.0) }), tools: [(0, HeaterReading { actual: 210.1, target: Some(210.0) }), (1, HeaterReading { actual: 25.0, target: Some(0.0) })], bed: Some(HeaterReading { actual: 59.8, target: Some(60.0) }), chamber: None, waiting: false })"#
            ]],
        );
    }

    #[test]
    fn virtual_printer_slash_then_space() {
        check_temps(
            "T:21.30/ 0.00 B:21.30/ 0.00 @:64",
            expect![[
                r#"Some(TempReport { active: Some(HeaterReading { actual: 21.3, target: Some(0.0) }), tools: [], bed: Some(HeaterReading { actual: 21.3, target: Some(0.0) }), chamber: None, waiting: false })"#
            ]],
        );
    }

    #[test]
    fn klipper_tool_only_and_compact_slash() {
        check_temps(
            "B:21.2 /0.0 T0:21.4/0.0",
            expect![[
                r#"Some(TempReport { active: None, tools: [(0, HeaterReading { actual: 21.4, target: Some(0.0) })], bed: Some(HeaterReading { actual: 21.2, target: Some(0.0) }), chamber: None, waiting: false })"#
            ]],
        );
        let r = parse_temps("B:21.2 /0.0 T0:21.4/0.0").unwrap();
        assert_eq!(r.hotend().map(|h| h.actual), Some(21.4));
    }

    #[test]
    fn smoothie_power_without_colon_and_chamber() {
        check_temps(
            "T:21.7 /0.0 @0 B:21.2 / 0.0 @0 C:30.0 /35.0",
            expect![[
                r#"Some(TempReport { active: Some(HeaterReading { actual: 21.7, target: Some(0.0) }), tools: [], bed: Some(HeaterReading { actual: 21.2, target: Some(0.0) }), chamber: Some(HeaterReading { actual: 30.0, target: Some(35.0) }), waiting: false })"#
            ]],
        );
    }

    #[test]
    fn heating_progress_has_no_target() {
        check_temps(
            "T:150.23 E:0 W:?",
            expect![[
                r#"Some(TempReport { active: Some(HeaterReading { actual: 150.23, target: None }), tools: [], bed: None, chamber: None, waiting: true })"#
            ]],
        );
    }

    #[test]
    fn not_temperatures() {
        for line in ["X:1 Y:2 Z:3", "TMC connection error", "T:abc", "Tx:1", "echo:T:1", ""] {
            assert_eq!(parse_temps(line), None, "{line}");
        }
    }

    #[test]
    fn positions() {
        let cases = [
            (
                "X:10.00 Y:20.00 Z:0.30 E:1.20 Count X:800 Y:1600 Z:240",
                Some((10.0, 20.0, 0.3, Some(1.2))),
            ),
            (
                "X:0.0 Y:0.0 Z:5.5 E:0.0 Count: A:0 B:0 C:0",
                Some((0.0, 0.0, 5.5, Some(0.0))),
            ),
            (
                "X:0.000 Y:0.000 Z:1.000 E:0.000 E0:-0.0 Count 0 0 0 Machine 0 0 0",
                Some((0.0, 0.0, 1.0, Some(0.0))),
            ),
            (
                "X:1.00 Y:2.00 Z:0.15 E:0.00 Count X: 9.00 Y:9.00 Z:9.15 E:0.00",
                Some((1.0, 2.0, 0.15, Some(0.0))),
            ),
            ("X:1 Y:2", None),
            ("T:1 X:2", None),
        ];
        for (line, want) in cases {
            let got =
                parse_position(line).map(|p| (p.x.unwrap_or(-1.0), p.y.unwrap_or(-1.0), p.z.unwrap_or(-1.0), p.e));
            assert_eq!(got, want, "{line}");
        }
    }

    #[test]
    fn area() {
        let a = parse_area(
            "area:{full:{min:{x:-3,y:-3,z:0},max:{x:200,y:200,z:200}},work:{min:{x:0,y:0,z:0},max:{x:220,y:220,z:250.5}}}",
        );
        assert_eq!(
            a,
            Some(Area {
                min: [0.0, 0.0, 0.0],
                max: [220.0, 220.0, 250.5]
            })
        );
        assert_eq!(parse_area("area:{broken"), None);
    }
}
