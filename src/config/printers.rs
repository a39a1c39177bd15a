//! `[[printers]]`: several printers watched by one daemon.
//!
//! A file without `[[printers]]` is one printer, exactly as before. With it,
//! each entry names a printer (`name`, a slug) and may carry its own
//! `printer`, `camera`, `decision`, `actions`, `alerts` and `timelapse`
//! sections. The top-level sections of those names are every printer's
//! defaults, and a printer's own section is merged over them **key by key**,
//! before the typed reading (tables merge recursively; a value, a list
//! included, replaces the default). The other sections (`general`, `vision`,
//! `store`, `web`, `mqtt`) are shared: one inference pool, one web server, one
//! MQTT broker connection setting. Each printer keeps its data (database,
//! snapshots, outbox, time-lapses) under `<general.data_dir>/<name>/` and is
//! named `<name>` in logs, alerts, the dashboard and MQTT.
//!
//! A problem in a key a printer sets itself is reported under its own path
//! (`printers[1].printer.url`, with its line); a problem in a default the
//! printer inherited is reported once per printer under the top-level key,
//! naming the printer. Across printers: names are unique, and no two printers
//! share a serial port, a print host, or a camera.

use std::collections::HashMap;

use toml::{Table, Value};

use super::{Config, schema};
use crate::config_issues::{ConfigIssue, Issues};
use crate::printer::PrinterKind;

/// Sections a printer may set for itself; the top-level ones are every printer's defaults.
pub const PER_PRINTER: [&str; 6] = ["printer", "camera", "decision", "actions", "alerts", "timelapse"];

/// The longest printer name (it is a URL path segment and a folder name).
pub const MAX_NAME: usize = 32;

/// One `[[printers]]` entry as the daemon runs it.
#[derive(Debug, Clone)]
pub struct PrinterEntry {
    /// A slug, unique in the file: the printer's `general.name`, its dashboard at
    /// `/p/<name>/` and its data folder `<data_dir>/<name>/`.
    pub name: String,
    /// The effective configuration: the top-level file with this printer's sections merged
    /// over it key by key, `general.name = name` and `general.data_dir = <data_dir>/<name>`.
    pub config: Config,
    /// What the entry sets itself (to tell whose problem a problem is).
    overrides: Table,
}

/// `printers[1].printer.url` for the segments `1`, `printer`, `url` under `printers`.
fn key_of(i: usize, rest: &str) -> String {
    if rest.is_empty() { format!("printers[{i}]") } else { format!("printers[{i}].{rest}") }
}

/// Whether a letters, digits, `-` and `_` name of 1 to [`MAX_NAME`] characters.
pub fn is_slug(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_NAME && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `over` merged into `base` key by key: tables recursively, anything else replaces.
fn merge(base: &mut Table, over: &Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

fn has_path(t: &Table, path: &[&str]) -> bool {
    let Some((first, rest)) = path.split_first() else { return true };
    match t.get(*first) {
        Some(Value::Table(sub)) => has_path(sub, rest),
        Some(_) => rest.is_empty() || rest.iter().all(|s| s.parse::<usize>().is_ok()),
        None => false,
    }
}

/// Reads `[[printers]]` (already taken out of `doc`, the rest of the file) into
/// entries; schema problems go to `problems` under their `printers[i]…` path.
pub(super) fn read(doc: &Table, printers: Value, problems: &mut Vec<ConfigIssue>) -> Vec<PrinterEntry> {
    let issue =
        |key: String, value: String, message: &str| ConfigIssue { line: None, key, value, message: message.into() };
    let Value::Array(list) = printers else {
        problems.push(issue("printers".into(), schema::show(&printers), "expected a list of [[printers]] tables"));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, entry) in list.into_iter().enumerate() {
        let Value::Table(mut entry) = entry else {
            problems.push(issue(key_of(i, ""), schema::show(&entry), "expected a table of settings ([[printers]])"));
            continue;
        };
        let name = match entry.remove("name") {
            Some(Value::String(s)) => s,
            Some(other) => {
                problems.push(issue(key_of(i, "name"), schema::show(&other), "expected text in quotes"));
                continue;
            }
            None => {
                problems.push(issue(key_of(i, "name"), "(missing)".into(), "every printer needs a name"));
                continue;
            }
        };
        let mut bad = false;
        for (k, v) in &entry {
            let known = PER_PRINTER.contains(&k.as_str());
            if !known {
                let why = match k.as_str() {
                    "general" | "vision" | "store" | "web" | "mqtt" => format!(
                        "`{k}` is shared by every printer: set it at the top level (a printer may set `name`, {})",
                        quoted(&PER_PRINTER)
                    ),
                    _ => format!("unknown key `{k}`; the keys here are `name`, {}", quoted(&PER_PRINTER)),
                };
                problems.push(issue(key_of(i, k), schema::show(v), &why));
                bad = true;
            } else if !v.is_table() {
                problems.push(issue(key_of(i, k), schema::show(v), "expected a table of settings"));
                bad = true;
            }
        }
        if bad {
            continue;
        }
        let mut merged = doc.clone();
        merged.remove("printers");
        merge(&mut merged, &entry);
        let (config, found) = match schema::typed(merged) {
            Ok((c, found)) => (Some(c), found),
            Err(found) => (None, found),
        };
        for mut p in found {
            // A problem in an inherited default is the top level's, reported there already.
            let segs: Vec<&str> = p.key.split('.').collect();
            if has_path(&entry, &segs) {
                p.key = key_of(i, &p.key);
                problems.push(p);
            }
        }
        let Some(mut config) = config else { continue };
        config.general.data_dir = config.general.data_dir.join(&name);
        config.general.name = name.clone();
        out.push(PrinterEntry { name, config, overrides: entry });
    }
    out
}

fn quoted(keys: &[&str]) -> String {
    keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
}

/// The serial port, print host or camera a printer holds (two printers may not share one).
fn held(c: &Config) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match c.printer.kind {
        PrinterKind::Marlin => out.push(("printer.serial.path".into(), c.printer.serial.path.display().to_string())),
        PrinterKind::Octoprint => out.push(("printer.octoprint.url".into(), c.printer.octoprint.url.clone())),
        PrinterKind::Moonraker => out.push(("printer.moonraker.url".into(), c.printer.moonraker.url.clone())),
        PrinterKind::None => {}
    }
    use crate::capture::SourceKind as S;
    let cam = match c.camera.source {
        S::V4l2 => ("camera.device", c.camera.device.clone()),
        S::Mjpeg | S::Snapshot | S::Rtsp => ("camera.url", c.camera.url.clone()),
        S::Video | S::Folder => ("camera.path", c.camera.path.display().to_string()),
    };
    out.push((cam.0.into(), cam.1));
    out.retain(|(_, v)| !v.trim().is_empty());
    out
}

impl Config {
    /// The semantic problems of each printer's effective configuration, and those across printers.
    pub(super) fn printer_issues(&self, out: &mut Issues) {
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut holders: HashMap<(String, String), usize> = HashMap::new();
        for (i, p) in self.printers.iter().enumerate() {
            if !is_slug(&p.name) {
                out.push(
                    key_of(i, "name"),
                    &p.name,
                    format!(
                        "must be 1 to {MAX_NAME} letters, digits, '-' or '_' (it names the printer's page /p/<name>/ and its data folder)"
                    ),
                );
            }
            if let Some(first) = names.insert(&p.name, i) {
                out.push(key_of(i, "name"), &p.name, format!("printers[{first}] has this name already"));
            }
            let mut own = Issues::default();
            p.config.section_issues(&mut own);
            for mut issue in own.into_vec() {
                let segs: Vec<&str> = issue.key.split('.').collect();
                if has_path(&p.overrides, &segs) {
                    issue.key = key_of(i, &issue.key);
                } else {
                    issue.message =
                        format!("{} (printers[{i}] {:?} inherits it from the top level)", issue.message, p.name);
                }
                out.push_issue(issue);
            }
            for (key, value) in held(&p.config) {
                if let Some(first) = holders.insert((key.clone(), value.clone()), i) {
                    let msg = format!("printers[{first}] uses it already: each printer needs its own");
                    match has_path(&p.overrides, &key.split('.').collect::<Vec<_>>()) {
                        true => out.push(key_of(i, &key), &value, msg),
                        false => out.push(
                            &key,
                            &value,
                            format!("{msg} (printers[{i}] {:?} inherits it from the top level)", p.name),
                        ),
                    }
                }
            }
        }
        if self.printers.len() > 1 && !self.mqtt.base_topic.is_empty() {
            out.push(
                "mqtt.base_topic",
                &self.mqtt.base_topic,
                "must be left out with several printers: each printer publishes under layerwatch/<name>",
            );
        }
        if self.printers.len() > 1 && !self.mqtt.client_id.is_empty() {
            out.push(
                "mqtt.client_id",
                &self.mqtt.client_id,
                "must be left out with several printers: each printer connects as layerwatch-<name>",
            );
        }
    }
}
