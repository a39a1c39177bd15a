//! Objects on the plate: which one is being printed, from any of the labelling
//! schemes in the wild. Owns Klipper `EXCLUDE_OBJECT_DEFINE/START/END`,
//! Marlin/Prusa `M486 T/S/A`, and the comment labels of PrusaSlicer
//! (`; printing object …`), OrcaSlicer (`; start printing object, unique label id: n`)
//! and Cura (`;MESH:name`). When a file carries several schemes for the same
//! objects, the firmware ones win: Klipper over M486 over comments.

use std::collections::HashMap;

use super::comments::ObjectRef;
use super::model::{BBox, include};

/// Distinct objects tracked; more are counted as a warning and ignored.
pub const MAX_OBJECTS: usize = 1024;

/// Labelling schemes, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Scheme {
    Comment,
    M486,
    Klipper,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ObjectState {
    pub name: String,
    pub center: Option<[f32; 2]>,
    pub polygon: Option<Vec<[f32; 2]>>,
    pub bbox: Option<BBox>,
    pub extruded: f64,
    /// The `M486 S<id>` number, for objects labelled by M486.
    pub m486_id: Option<i64>,
    /// Ordinals of the layer builder's layers (remapped when layers are merged).
    pub first_layer: Option<usize>,
    pub last_layer: Option<usize>,
}

#[derive(Debug, Default)]
pub(crate) struct Objects {
    pub list: Vec<ObjectState>,
    by_key: HashMap<String, usize>,
    pub current: Option<usize>,
    strongest: Option<Scheme>,
    /// Set once when the object limit is hit (the analyzer turns it into a warning).
    pub overflowed: bool,
}

impl Objects {
    /// Whether events of `scheme` count (a stronger scheme seen earlier wins).
    fn accept(&mut self, scheme: Scheme) -> bool {
        match self.strongest {
            Some(s) if s > scheme => false,
            _ => {
                self.strongest = Some(scheme);
                true
            }
        }
    }

    fn key_index(&mut self, key: String, name: impl FnOnce() -> String) -> Option<usize> {
        if let Some(&i) = self.by_key.get(&key) {
            return Some(i);
        }
        if self.list.len() >= MAX_OBJECTS {
            self.overflowed = true;
            return None;
        }
        let i = self.list.len();
        self.list.push(ObjectState { name: name(), ..ObjectState::default() });
        self.by_key.insert(key, i);
        Some(i)
    }

    /// A comment label (PrusaSlicer, OrcaSlicer, Cura).
    pub fn comment_start(&mut self, r: ObjectRef<'_>) {
        if !self.accept(Scheme::Comment) {
            return;
        }
        self.current = match r {
            ObjectRef::Name(n) => self.key_index(format!("name:{n}"), || n.to_string()),
            ObjectRef::Id(id) => self.key_index(format!("id:{id}"), || format!("object {id}")),
            ObjectRef::Current => None,
        };
    }

    pub fn comment_stop(&mut self, _r: ObjectRef<'_>) {
        if self.accept(Scheme::Comment) {
            self.current = None;
        }
    }

    /// `M486`: `T<n>` declares n objects, `S<id>` starts one (`S-1`: none), `A<name>` names it.
    pub fn m486(&mut self, s: Option<f64>, t: Option<f64>, code: &[u8]) {
        if !self.accept(Scheme::M486) {
            return;
        }
        if let Some(t) = t.filter(|t| *t >= 0.0) {
            for id in 0..(t as usize).min(MAX_OBJECTS) {
                if let Some(i) = self.key_index(format!("m486:{id}"), || format!("object {id}")) {
                    self.list[i].m486_id = Some(id as i64);
                }
            }
        }
        let Some(s) = s.filter(|s| s.is_finite()) else { return };
        if s < 0.0 {
            self.current = None;
            return;
        }
        let id = s as i64;
        let idx = self.key_index(format!("m486:{id}"), || format!("object {id}"));
        if let Some(i) = idx {
            self.list[i].m486_id = Some(id);
            if let Some(name) = m486_name(code) {
                self.list[i].name = name;
            }
        }
        self.current = idx;
    }

    /// Klipper `EXCLUDE_OBJECT_DEFINE` / `_START` / `_END`; names match case-insensitively, as in Klipper.
    pub fn klipper(&mut self, command: &[u8], code: &[u8]) {
        if !self.accept(Scheme::Klipper) {
            return;
        }
        let mut name = None;
        let mut center = None;
        let mut polygon = None;
        for (k, v) in klipper_params(code) {
            if k.eq_ignore_ascii_case("NAME") {
                name = Some(v);
            } else if k.eq_ignore_ascii_case("CENTER") {
                center = parse_point(v);
            } else if k.eq_ignore_ascii_case("POLYGON") {
                polygon = parse_polygon(v);
            }
        }
        if command.eq_ignore_ascii_case(b"EXCLUDE_OBJECT_END") {
            self.current = None;
            return;
        }
        let Some(name) = name else { return };
        let idx = self.key_index(format!("klipper:{}", name.to_ascii_uppercase()), || name.to_string());
        if command.eq_ignore_ascii_case(b"EXCLUDE_OBJECT_DEFINE") {
            if let Some(i) = idx {
                let o = &mut self.list[i];
                o.center = center.or(o.center);
                o.polygon = polygon.or(o.polygon.take());
            }
        } else if command.eq_ignore_ascii_case(b"EXCLUDE_OBJECT_START") {
            self.current = idx;
        }
    }

    /// Records deposition on the current object.
    /// `layer_ordinal` is `None` for deposits outside any layer (purge lines).
    pub fn deposit(&mut self, e: f64, layer_ordinal: Option<usize>, from: [f32; 3], to: [f32; 3]) {
        let Some(o) = self.current.and_then(|i| self.list.get_mut(i)) else { return };
        o.extruded += e;
        include(&mut o.bbox, from);
        include(&mut o.bbox, to);
        if let Some(l) = layer_ordinal {
            o.first_layer.get_or_insert(l);
            o.last_layer = Some(l);
        }
    }

    /// Forgets layer references (the layer builder restarted its numbering).
    pub fn reset_layers(&mut self) {
        for o in &mut self.list {
            o.first_layer = None;
            o.last_layer = None;
        }
    }
}

/// `M486 S0 A"cube id:0"` or `M486 S0 Acube` → the name.
fn m486_name(code: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(code).ok()?;
    let mut prev_space = false;
    for (i, c) in text.char_indices() {
        if (c == 'A' || c == 'a') && prev_space {
            let rest = text[i + 1..].trim();
            let name = rest.strip_prefix('"').map(|r| r.split('"').next().unwrap_or(r)).unwrap_or(rest);
            return (!name.is_empty()).then(|| name.to_string());
        }
        prev_space = c.is_whitespace();
    }
    None
}

/// `KEY=VALUE` pairs of a Klipper command line; values may be `[...]` with spaces inside.
pub(crate) fn klipper_params(code: &[u8]) -> Vec<(&str, &str)> {
    let Ok(text) = std::str::from_utf8(code) else { return Vec::new() };
    let mut out = Vec::new();
    // Skip the command name.
    let mut rest = text.trim_start();
    rest = rest.find(char::is_whitespace).map_or("", |p| &rest[p..]);
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim();
        let after = &rest[eq + 1..];
        let end = if after.starts_with('[') {
            let mut depth = 0i32;
            let mut end = after.len();
            for (i, c) in after.char_indices() {
                match c {
                    '[' => depth += 1,
                    ']' => {
                        depth -= 1;
                        if depth == 0 {
                            end = i + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            end
        } else if let Some(q) = after.strip_prefix('"') {
            q.find('"').map_or(after.len(), |p| p + 2)
        } else {
            after.find(char::is_whitespace).unwrap_or(after.len())
        };
        let value = after[..end].trim_matches('"');
        if !key.is_empty() && !key.contains(char::is_whitespace) {
            out.push((key, value));
        }
        rest = &after[end..];
    }
    out
}

fn parse_point(v: &str) -> Option<[f32; 2]> {
    let mut it = v.trim_matches(|c| c == '[' || c == ']').split(',').map(|s| s.trim().parse::<f32>());
    match (it.next(), it.next()) {
        (Some(Ok(x)), Some(Ok(y))) if x.is_finite() && y.is_finite() => Some([x, y]),
        _ => None,
    }
}

fn parse_polygon(v: &str) -> Option<Vec<[f32; 2]>> {
    let inner = v.trim().strip_prefix('[')?.strip_suffix(']')?;
    let pts: Vec<[f32; 2]> =
        inner.split(']').filter_map(|p| parse_point(p.trim_start_matches([',', ' ']))).take(4096).collect();
    (!pts.is_empty()).then_some(pts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn klipper_parameters_with_brackets_and_quotes() {
        let p = klipper_params(
            b"EXCLUDE_OBJECT_DEFINE NAME=cube_id_0 CENTER=100,100 POLYGON=[[90,90],[110, 90],[110,110]]",
        );
        assert_eq!(p, vec![("NAME", "cube_id_0"), ("CENTER", "100,100"), ("POLYGON", "[[90,90],[110, 90],[110,110]]")]);
        assert_eq!(parse_polygon(p[2].1), Some(vec![[90.0, 90.0], [110.0, 90.0], [110.0, 110.0]]));
        assert_eq!(klipper_params(b"M117 NAME=\"a b\" X="), vec![("NAME", "a b"), ("X", "")]);
        assert_eq!(klipper_params(b"PRINT_START =5 K=[[1"), vec![("K", "[[1")]);
    }

    #[test]
    fn schemes_rank_and_names_stick() {
        let mut o = Objects::default();
        o.comment_start(ObjectRef::Name("cube.stl id:0 copy 0"));
        assert_eq!(o.current, Some(0));
        o.m486(Some(3.0), None, b"M486 S3 A\"tower one\"");
        assert_eq!(o.current, Some(1));
        assert_eq!(o.list[1].name, "tower one");
        // Comment labels are ignored once a firmware scheme was seen.
        o.comment_start(ObjectRef::Name("other"));
        assert_eq!(o.current, Some(1));
        o.m486(Some(-1.0), None, b"M486 S-1");
        assert_eq!(o.current, None);
        o.klipper(b"EXCLUDE_OBJECT_DEFINE", b"EXCLUDE_OBJECT_DEFINE NAME=a CENTER=1,2");
        o.klipper(b"EXCLUDE_OBJECT_START", b"EXCLUDE_OBJECT_START NAME=A");
        assert_eq!(o.current, Some(2));
        assert_eq!(o.list[2].center, Some([1.0, 2.0]));
        o.m486(Some(3.0), None, b"M486 S3");
        assert_eq!(o.current, Some(2), "M486 is weaker than Klipper's labels");
        o.klipper(b"EXCLUDE_OBJECT_END", b"EXCLUDE_OBJECT_END NAME=A");
        assert_eq!(o.current, None);
    }

    #[test]
    fn object_limit_is_enforced() {
        let mut o = Objects::default();
        o.m486(None, Some(1e12), b"M486 T1000000000000");
        assert_eq!(o.list.len(), MAX_OBJECTS);
        o.m486(Some(5000.0), None, b"M486 S5000");
        assert!(o.overflowed);
        assert_eq!(o.current, None);
    }
}
