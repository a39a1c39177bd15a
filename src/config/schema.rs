//! Reading the file against the typed schema with every problem found at once:
//! each schema error (unknown key, wrong type, unknown choice) is recorded with
//! its key path and value, the offending key is set aside, and reading goes
//! on, so the semantic checks still run on what could be read. Problems are
//! then placed on their line and sorted in file order; messages use words a
//! user knows (`a whole number`, not `u64`; `a table`, not `struct CameraConfig`).

use serde_path_to_error::Segment;
use toml::{Table, Value};

use super::Config;
use crate::config_issues::{ConfigError, ConfigIssue};

/// More problems than this in one file and reading stops (the rest would be noise).
const MAX_PROBLEMS: usize = 100;

/// The config with bad keys set aside, and the schema problems found on the way.
pub(super) fn read(text: &str) -> Result<(Config, Vec<ConfigIssue>), ConfigError> {
    let mut doc: Table = toml::from_str(text).map_err(|e| ConfigError::from_toml(text, e, None))?;
    let printers = doc.remove("printers");
    let (mut cfg, mut problems) = typed(doc.clone()).map_err(|issues| ConfigError::Invalid { file: None, issues })?;
    if let Some(list) = printers {
        cfg.printers = super::printers::read(&doc, list, &mut problems);
    }
    Ok((cfg, problems))
}

/// `doc` read as a `Config`, every schema problem recorded and its key set aside; `Err` when
/// reading cannot go on (a problem that cannot be set aside, or too many).
pub(super) fn typed(mut doc: Table) -> Result<(Config, Vec<ConfigIssue>), Vec<ConfigIssue>> {
    let mut problems = Vec::new();
    loop {
        match serde_path_to_error::deserialize::<_, Config>(Value::Table(doc.clone())) {
            Ok(cfg) => return Ok((cfg, problems)),
            Err(e) => {
                let path: Vec<String> = e
                    .path()
                    .iter()
                    .filter_map(|s| match s {
                        Segment::Map { key } => Some(key.clone()),
                        Segment::Seq { index } => Some(index.to_string()),
                        _ => None,
                    })
                    .collect();
                // A value under a secret key (even a misplaced or misspelt one) is never shown; others lose any
                // URL password or token they carry.
                let value = match path.last() {
                    Some(k) if crate::secret::is_secret_key(k) => Some(format!("{:?}", crate::secret::MASK)),
                    _ => lookup(&doc, &path).map(|v| crate::secret::redact_text(&show(v))),
                }
                .unwrap_or_else(|| "(missing)".into());
                let key = path.join(".");
                problems.push(ConfigIssue {
                    line: None,
                    key: if key.is_empty() { "(file)".into() } else { key },
                    value,
                    message: plain_words(e.inner().message()),
                });
                if path.is_empty() || !remove(&mut doc, &path) || problems.len() >= MAX_PROBLEMS {
                    return Err(problems);
                }
            }
        }
    }
}

fn lookup<'a>(doc: &'a Table, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut v = doc.get(first)?;
    for seg in rest {
        v = match v {
            Value::Table(t) => t.get(seg)?,
            Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

/// Removes the value at `path`; false if there is none.
fn remove(doc: &mut Table, path: &[String]) -> bool {
    let mut v = Value::Table(std::mem::take(doc));
    let removed = remove_in(&mut v, path);
    if let Value::Table(t) = v {
        *doc = t;
    }
    removed
}

fn remove_in(v: &mut Value, path: &[String]) -> bool {
    let Some((first, rest)) = path.split_first() else { return false };
    match v {
        Value::Table(t) if rest.is_empty() => t.remove(first).is_some(),
        Value::Table(t) => t.get_mut(first).is_some_and(|c| remove_in(c, rest)),
        Value::Array(a) => match first.parse::<usize>() {
            Ok(i) if i < a.len() && rest.is_empty() => {
                a.remove(i);
                true
            }
            Ok(i) => a.get_mut(i).is_some_and(|c| remove_in(c, rest)),
            Err(_) => false,
        },
        _ => false,
    }
}

pub(super) fn show(v: &Value) -> String {
    let s = match v {
        Value::Table(_) => "{…}".to_string(),
        Value::Array(a) if a.len() > 4 => format!("[… {} items]", a.len()),
        other => other.to_string(),
    };
    if s.len() > 80 { format!("{}…", &s[..s.floor_char_boundary(77)]) } else { s }
}

/// serde's words (`invalid type: string "x", expected u32`) in a user's words.
fn plain_words(msg: &str) -> String {
    let msg = msg.trim_end_matches('\n');
    if let Some(rest) = msg.strip_prefix("unknown field ") {
        return match rest.split_once(", expected one of ") {
            Some((field, keys)) => format!("unknown key {field}; the keys here are {keys}"),
            None => format!("unknown key {}", rest.split_once(", there are no fields").map_or(rest, |p| p.0)),
        };
    }
    if let Some(rest) = msg.strip_prefix("unknown variant ") {
        // serde says "expected one of `a`, `b`, `c`" for three or more, "expected `a` or `b`" for two.
        return match rest.split_once(", expected one of ").or_else(|| rest.split_once(", expected ")) {
            Some((v, choices)) => format!("{v} is not one of the choices {choices}"),
            None => format!("{rest} is not a valid choice"),
        };
    }
    if let Some(rest) = msg.strip_prefix("invalid type: ").or_else(|| msg.strip_prefix("invalid value: ")) {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            return format!("expected {}, found {}", type_words(expected), found_words(found));
        }
    }
    if let Some(field) = msg.strip_prefix("missing field ") {
        return format!("the key {field} is required here");
    }
    type_words(msg)
}

/// `u32` → `a whole number (0 or more)`, `struct CameraConfig` → `a table of settings`…
fn type_words(t: &str) -> String {
    let t = t.trim();
    match t {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number (0 or more)".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a boolean" | "bool" => "true or false".into(),
        "a string" | "a borrowed string" | "path string" => "text in quotes".into(),
        "a sequence" => "a list [ … ]".into(),
        "a map" => "a table of settings".into(),
        _ if t.starts_with("struct ") => "a table of settings".into(),
        _ if t.starts_with("enum ") || t.starts_with("variant identifier") => "one of the listed choices".into(),
        _ => t.to_string(),
    }
}

fn found_words(f: &str) -> String {
    match f.split_once(' ') {
        Some(("string", v)) => format!("the text {v}"),
        Some(("integer", v)) => format!("the number {}", v.trim_matches('`')),
        Some(("floating", v)) => format!("the number {}", v.trim_start_matches("point ").trim_matches('`')),
        Some(("boolean", v)) => format!("{}", v.trim_matches('`')),
        _ if f == "sequence" => "a list".into(),
        _ if f == "map" => "a table".into(),
        _ => f.to_string(),
    }
}

/// The 1-based line where `key` (a dotted path) is written: the `key = …` line
/// under its table header, or the header `[key]` itself.
/// An array of tables (`[[printers]]`) counts its entries: `printers[1].name` is the `name`
/// line under the second `[[printers]]` header (or under its `[printers.camera]` sub-table).
pub(super) fn locate(text: &str, key: &str) -> Option<usize> {
    let normal = key.replace('[', ".").replace(']', "");
    let key = normal.as_str();
    let mut table = String::new();
    let mut header_line = None;
    let mut arrays: Vec<(String, usize)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('[') {
            let name = line.trim_start_matches('[').split(']').next().unwrap_or("").trim();
            table = name.split('.').map(|p| p.trim().trim_matches('"')).collect::<Vec<_>>().join(".");
            if line.starts_with("[[") {
                match arrays.iter_mut().find(|(n, _)| *n == table) {
                    Some((_, count)) => *count += 1,
                    None => arrays.push((table.clone(), 0)),
                }
            }
            // The innermost array this table belongs to gets its entry's index.
            if let Some((n, idx)) = arrays
                .iter()
                .filter(|(n, _)| table == *n || table.starts_with(&format!("{n}.")))
                .max_by_key(|(n, _)| n.len())
            {
                table = format!("{n}.{idx}{}", &table[n.len()..]);
            }
            if table == key && header_line.is_none() {
                header_line = Some(i + 1);
            }
            continue;
        }
        let Some((k, _)) = line.split_once('=') else { continue };
        if line.starts_with('#') {
            continue;
        }
        let k: String = k.split('.').map(|p| p.trim().trim_matches('"')).collect::<Vec<_>>().join(".");
        let full = if table.is_empty() { k } else { format!("{table}.{k}") };
        if full == key || key.starts_with(&format!("{full}.")) {
            return Some(i + 1);
        }
    }
    header_line.or_else(|| key.rsplit_once('.').and_then(|(parent, _)| locate(text, parent)))
}
