//! What slicers say in comments: layer changes, feature types, object labels,
//! time and filament estimates, the generator line. Owns the vocabulary of
//! PrusaSlicer/SuperSlicer/OrcaSlicer/Bambu Studio, Cura, Simplify3D,
//! ideaMaker and KISSlicer comments; turns one comment into one [`Note`].
//! Whether a note matters at that point of the file is the analyzer's call.

use super::model::{Slicer, SlicerKind};

/// Which object a label refers to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ObjectRef<'a> {
    Name(&'a str),
    Id(i64),
    /// Cura's `;MESH:NONMESH`: whatever object was active ends.
    Current,
}

/// The meaning of one comment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Note<'a> {
    /// A new layer starts here (with the slicer's number and Z when the marker carries them).
    LayerChange {
        slicer_layer: Option<i64>,
        z: Option<f32>,
        height: Option<f32>,
    },
    /// Z of the layer just announced (`;Z:`, `; Z_HEIGHT:`).
    LayerZ(f32),
    /// Height of the layer just announced, or of the extrusion that follows (`;HEIGHT:`).
    LayerHeight(f32),
    Feature(&'a str),
    ObjectStart(ObjectRef<'a>),
    ObjectStop(ObjectRef<'a>),
    /// Cura's cumulative `;TIME_ELAPSED:` (seconds) at the end of a layer.
    Elapsed(f64),
    EstimatedTime(f64),
    FilamentMm(f64),
    NominalLayerHeight(f32),
    LayerCount(u32),
    FilamentDiameter(f32),
    Nothing,
}

fn strip_prefix_ci<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)).then(|| &s[prefix.len()..])
}

fn text(s: &[u8]) -> Option<&str> {
    std::str::from_utf8(s).ok().map(str::trim)
}

fn num<T: std::str::FromStr>(s: &[u8]) -> Option<T> {
    text(s)?.parse().ok()
}

/// The leading number of `s` (after spaces), ignoring what follows (`1.23m`, `1234.5 mm (1.23 m)`).
fn lead_num(s: &[u8]) -> Option<f64> {
    let t = text(s)?;
    let end = t.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+')).unwrap_or(t.len());
    t[..end].parse().ok().filter(|v: &f64| v.is_finite())
}

/// Sum of comma-separated numbers with an optional unit suffix on each (`12.3, 4.5`, `1.2m, 0.3m`).
fn sum_list(s: &[u8], scale_m: bool) -> Option<f64> {
    let t = text(s)?;
    let mut total = 0.0;
    let mut any = false;
    for part in t.split(',') {
        let part = part.trim();
        let (value, unit_m) = match part.strip_suffix('m') {
            Some(v) if scale_m => (v.trim(), true),
            _ => (part, false),
        };
        if let Ok(v) = value.parse::<f64>()
            && v.is_finite()
        {
            total += if unit_m { v * 1000.0 } else { v };
            any = true;
        }
    }
    any.then_some(total)
}

/// Parses durations such as `1d 2h 3m 4s`, `1 hours 2 minutes`, `12.34 minutes`, `3600`.
pub(crate) fn parse_duration(s: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut any = false;
    let mut pending: Option<f64> = None;
    for tok in s.split(|c: char| c.is_whitespace() || c == ',') {
        if tok.is_empty() {
            continue;
        }
        let split = tok.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(tok.len());
        let (n, unit) = tok.split_at(split);
        let value = if n.is_empty() { pending.take() } else { n.parse::<f64>().ok() };
        let Some(value) = value else { continue };
        let mult = match unit.to_ascii_lowercase().as_str() {
            "" => {
                if let Some(p) = pending.replace(value) {
                    total += p; // two bare numbers in a row: the first was seconds
                    any = true;
                }
                continue;
            }
            "d" | "day" | "days" => 86400.0,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            _ => return None,
        };
        total += value * mult;
        any = true;
    }
    if let Some(p) = pending {
        total += p;
        any = true;
    }
    (any && total.is_finite()).then_some(total)
}

/// Classifies one comment (the bytes after `;`).
pub(crate) fn classify(comment: &[u8]) -> Note<'_> {
    let start = comment.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(comment.len());
    let c = &comment[start..];
    let Some(&first) = c.first() else { return Note::Nothing };
    match first.to_ascii_uppercase() {
        b'T' => {
            if let Some(rest) = strip_prefix_ci(c, b"TYPE:") {
                return text(rest).map_or(Note::Nothing, Note::Feature);
            }
            if let Some(rest) = strip_prefix_ci(c, b"TIME_ELAPSED:") {
                return num(rest).map_or(Note::Nothing, Note::Elapsed);
            }
            if let Some(rest) = strip_prefix_ci(c, b"TIME:") {
                return num(rest).map_or(Note::Nothing, Note::EstimatedTime);
            }
            if let Some(rest) = strip_prefix_ci(c, b"total layer number:") {
                return num(rest).map_or(Note::Nothing, Note::LayerCount);
            }
            if let Some(rest) = strip_prefix_ci(c, b"total filament length [mm]") {
                let rest = rest.iter().position(|&b| b == b':' || b == b'=').map_or(rest, |p| &rest[p + 1..]);
                return sum_list(rest, false).map_or(Note::Nothing, Note::FilamentMm);
            }
            if let Some(rest) = strip_prefix_ci(c, b"total estimated time:") {
                return duration_until_semicolon(rest);
            }
        }
        b'H' if c.starts_with(b"HEIGHT:") => return num(&c[7..]).map_or(Note::Nothing, Note::LayerHeight),
        b'L' => {
            if c.starts_with(b"LAYER_CHANGE") {
                return Note::LayerChange { slicer_layer: None, z: None, height: None };
            }
            if let Some(rest) = c.strip_prefix(b"LAYER:") {
                return match num::<i64>(rest) {
                    Some(n) => Note::LayerChange { slicer_layer: Some(n), z: None, height: None },
                    None => Note::Nothing,
                };
            }
            if let Some(rest) = c.strip_prefix(b"LAYER_COUNT:") {
                return num(rest).map_or(Note::Nothing, Note::LayerCount);
            }
            if let Some(rest) = strip_prefix_ci(c, b"LAYER_HEIGHT:") {
                return num(rest).map_or(Note::Nothing, Note::LayerHeight);
            }
            if let Some(rest) = strip_prefix_ci(c, b"layer_height =") {
                return num(rest).map_or(Note::Nothing, Note::NominalLayerHeight);
            }
            if let Some(rest) = strip_prefix_ci(c, b"Layer height:") {
                return num(rest).map_or(Note::Nothing, Note::NominalLayerHeight);
            }
            if let Some(rest) = strip_prefix_ci(c, b"layerHeight,") {
                return num(rest).map_or(Note::Nothing, Note::NominalLayerHeight);
            }
            if let Some(rest) = strip_prefix_ci(c, b"layer ") {
                return simplify3d_layer(rest);
            }
        }
        b'C' if c.starts_with(b"CHANGE_LAYER") => {
            return Note::LayerChange { slicer_layer: None, z: None, height: None };
        }
        b'Z' => {
            if let Some(rest) = c.strip_prefix(b"Z:") {
                return num(rest).map_or(Note::Nothing, Note::LayerZ);
            }
            if let Some(rest) = c.strip_prefix(b"Z_HEIGHT:") {
                return num(rest).map_or(Note::Nothing, Note::LayerZ);
            }
        }
        b'F' => {
            if let Some(rest) = strip_prefix_ci(c, b"FEATURE:") {
                return text(rest).map_or(Note::Nothing, Note::Feature);
            }
            if let Some(rest) = strip_prefix_ci(c, b"feature ") {
                return text(rest).map_or(Note::Nothing, Note::Feature);
            }
            if let Some(rest) = strip_prefix_ci(c, b"filament used [mm] =") {
                return sum_list(rest, false).map_or(Note::Nothing, Note::FilamentMm);
            }
            if let Some(rest) = strip_prefix_ci(c, b"Filament used:") {
                return sum_list(rest, true).map_or(Note::Nothing, Note::FilamentMm);
            }
            if let Some(rest) = strip_prefix_ci(c, b"Filament length:") {
                return lead_num(rest).map_or(Note::Nothing, Note::FilamentMm);
            }
            if let Some(rest) = strip_prefix_ci(c, b"filament_diameter =") {
                let first = rest.split(|&b| b == b',' || b == b';').next().unwrap_or(rest);
                return num(first).map_or(Note::Nothing, Note::FilamentDiameter);
            }
            if let Some(rest) = strip_prefix_ci(c, b"filamentDiameters,") {
                let first = rest.split(|&b| b == b',' || b == b'|').next().unwrap_or(rest);
                return num(first).map_or(Note::Nothing, Note::FilamentDiameter);
            }
        }
        b'P' => {
            if let Some(rest) = strip_prefix_ci(c, b"printing object ") {
                return text(rest).map_or(Note::Nothing, |n| Note::ObjectStart(ObjectRef::Name(n)));
            }
            if let Some(rest) = strip_prefix_ci(c, b"PRINT.TIME:") {
                return num(rest).map_or(Note::Nothing, Note::EstimatedTime);
            }
            if let Some(rest) = strip_prefix_ci(c, b"Print Time:") {
                return lead_num(rest).map_or(Note::Nothing, Note::EstimatedTime);
            }
        }
        b'S' => {
            if let Some(rest) = strip_prefix_ci(c, b"stop printing object") {
                return object_label(rest, Note::ObjectStop);
            }
            if let Some(rest) = strip_prefix_ci(c, b"start printing object") {
                return object_label(rest, Note::ObjectStart);
            }
        }
        b'M' => {
            if let Some(rest) = c.strip_prefix(b"MESH:") {
                return match text(rest) {
                    Some("NONMESH") => Note::ObjectStop(ObjectRef::Current),
                    Some(n) if !n.is_empty() => Note::ObjectStart(ObjectRef::Name(n)),
                    _ => Note::Nothing,
                };
            }
            if let Some(rest) = strip_prefix_ci(c, b"model printing time:") {
                // Bambu header: `model printing time: 22m 6s; total estimated time: 28m 29s`
                if let Some(p) = find_ci(rest, b"total estimated time:") {
                    return duration_until_semicolon(&rest[p + 21..]);
                }
            }
            if let Some(rest) = strip_prefix_ci(c, b"Material#1 Used:") {
                return lead_num(rest).map_or(Note::Nothing, Note::FilamentMm);
            }
        }
        b'E' => {
            if let Some(rest) = strip_prefix_ci(c, b"estimated printing time") {
                // `(normal mode) = 1h 2m 3s` or ` = 1h 2m 3s`; silent mode is ignored.
                if rest.starts_with(b" (silent mode)") {
                    return Note::Nothing;
                }
                if let Some(p) = rest.iter().position(|&b| b == b'=') {
                    return duration_until_semicolon(&rest[p + 1..]);
                }
            }
            if let Some(rest) = strip_prefix_ci(c, b"Estimated Build Time:") {
                return duration_until_semicolon(rest);
            }
        }
        b'B' => {
            if let Some(rest) = strip_prefix_ci(c, b"Build time:") {
                return duration_until_semicolon(rest);
            }
            if let Some(rest) = strip_prefix_ci(c, b"BEGIN_LAYER_OBJECT") {
                // KISSlicer: `BEGIN_LAYER_OBJECT z=0.300 z_thickness=0.300`
                let t = text(rest).unwrap_or("");
                let field = |key: &str| {
                    t.split_whitespace().find_map(|w| w.strip_prefix(key)).and_then(|v| v.parse::<f32>().ok())
                };
                return Note::LayerChange { slicer_layer: None, z: field("z="), height: field("z_thickness=") };
            }
        }
        b'\'' => {
            // KISSlicer: `'Perimeter Path', 0.5 [feed mm/s], …`
            if let Some(end) = c[1..].iter().position(|&b| b == b'\'') {
                return text(&c[1..1 + end]).map_or(Note::Nothing, Note::Feature);
            }
        }
        _ => {}
    }
    Note::Nothing
}

fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle))
}

fn duration_until_semicolon(s: &[u8]) -> Note<'static> {
    let s = s.split(|&b| b == b';').next().unwrap_or(s);
    text(s).and_then(parse_duration).map_or(Note::Nothing, Note::EstimatedTime)
}

/// Orca's `, unique label id: 15` or a plain name.
fn object_label<'a>(rest: &'a [u8], make: fn(ObjectRef<'a>) -> Note<'a>) -> Note<'a> {
    let Some(t) = text(rest) else { return Note::Nothing };
    if let Some(id) = t.strip_prefix(", unique label id:").or_else(|| t.strip_prefix(", unique id:")) {
        return id.trim().parse().map_or(Note::Nothing, |id| make(ObjectRef::Id(id)));
    }
    if t.is_empty() { Note::Nothing } else { make(ObjectRef::Name(t)) }
}

/// Simplify3D: `layer 3, Z = 0.900` (and `layer end`, which is not a change).
fn simplify3d_layer(rest: &[u8]) -> Note<'_> {
    let Some(t) = text(rest) else { return Note::Nothing };
    let mut parts = t.splitn(2, ',');
    let Some(n) = parts.next().and_then(|n| n.trim().parse::<i64>().ok()) else { return Note::Nothing };
    let z = parts
        .next()
        .and_then(|z| z.trim().strip_prefix("Z"))
        .and_then(|z| z.trim().strip_prefix('='))
        .and_then(|z| z.trim().parse::<f32>().ok());
    Note::LayerChange { slicer_layer: Some(n), z, height: None }
}

/// Recognises the generator line in a header comment.
pub(crate) fn detect_slicer(comment: &[u8]) -> Option<Slicer> {
    let t = std::str::from_utf8(comment).ok()?.trim();
    let after = |marker: &str| -> Option<Option<String>> {
        let p = t.find(marker)?;
        let v = t[p + marker.len()..].split_whitespace().next().map(|v| v.trim_end_matches(',').to_string());
        Some(v.filter(|v| v.starts_with(|c: char| c.is_ascii_digit() || c == 'v' || c == 'V')))
    };
    let kinds: [(&str, SlicerKind); 10] = [
        ("PrusaSlicer", SlicerKind::PrusaSlicer),
        ("SuperSlicer", SlicerKind::SuperSlicer),
        ("OrcaSlicer", SlicerKind::OrcaSlicer),
        ("BambuStudio", SlicerKind::BambuStudio),
        ("Slic3r", SlicerKind::Slic3r),
        ("Cura_SteamEngine", SlicerKind::Cura),
        ("Simplify3D(R) Version", SlicerKind::Simplify3D),
        ("ideaMaker", SlicerKind::IdeaMaker),
        ("KISSlicer", SlicerKind::KISSlicer),
        ("Cura", SlicerKind::Cura),
    ];
    let lower = t.to_ascii_lowercase();
    let generatorish = lower.contains("generated")
        || lower.contains("sliced by")
        || lower.starts_with("bambustudio")
        || lower.starts_with("kisslicer");
    if !generatorish {
        return None;
    }
    for (marker, kind) in kinds {
        if let Some(version) = after(marker) {
            return Some(Slicer { kind, version });
        }
    }
    None
}

#[cfg(test)]
#[path = "comments_tests.rs"]
mod tests;
